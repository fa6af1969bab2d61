"""The postgres backend's environment for benchmark children, and its server's processes.

The rows of the postgres backend run on a cache of the benchmark's own (so a server of its own,
and, as root, a cache its server's user may enter: the default one under /root is not), with
``PGLITE_TESTCASE_BACKEND=postgres``; as root the server runs as ``PGLITE_TESTCASE_POSTGRES_RUN_AS``,
else as ``postgres``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .context import scratch
from .measure import ROOT


def backend_env() -> dict[str, str]:
    """What a child needs to run on the postgres backend, on this benchmark's own server."""
    directory = scratch("postgres")
    os.chmod(directory, 0o711)  # the benchmark's own directory: as root, the server's user passes through it
    env = {"PGLITE_TESTCASE_CACHE_DIR": str(directory / "cache"), "PGLITE_TESTCASE_BACKEND": "postgres"}
    if os.geteuid() == 0:
        env["PGLITE_TESTCASE_POSTGRES_RUN_AS"] = os.environ.get("PGLITE_TESTCASE_POSTGRES_RUN_AS") or "postgres"
    return env


def control_dir(env: dict[str, str]) -> Path:
    return Path(env["PGLITE_TESTCASE_CACHE_DIR"]) / "postgres"


def state(env: dict[str, str]) -> dict[str, Any] | None:
    """The running server's state (watchdog and postmaster pids, socket directory), if one runs."""
    for path in control_dir(env).glob("*.state"):
        try:
            found: dict[str, Any] = json.loads(path.read_text())
            return found
        except (OSError, ValueError):
            return None
    return None


def server_processes(env: dict[str, str]) -> list[int]:
    """The live processes whose command line names this cache: the watchdog and the postmaster."""
    marker = env["PGLITE_TESTCASE_CACHE_DIR"].encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                continue
    return found


def pss_mb(pid: int) -> float:
    """A process's proportional set size (MB), from /proc/<pid>/smaps_rollup."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def server_pss_mb(postmaster: int) -> float:
    """The server's PSS: its postmaster and every process it started (backends, workers)."""
    from .processes import descendants

    return pss_mb(postmaster) + sum(pss_mb(pid) for pid in descendants(postmaster))


def wait_stopped(env: dict[str, str], bound: float = 60.0) -> float:
    """Seconds until no process of this cache's server runs (at most ``bound``)."""
    started = time.perf_counter()
    while server_processes(env) and time.perf_counter() - started < bound:
        time.sleep(0.002)
    if server_processes(env):
        raise RuntimeError(f"the postgres backend's server still runs {bound:g} s later")
    return time.perf_counter() - started


@contextmanager
def held(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """The server kept running by a process of the benchmark's (a lease, as a test process holds)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pglite_testcase.runtime.postgres_cluster import attach; attach('bench'); "
            "print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        if holder.stdout.readline().strip() != "held":
            raise RuntimeError("the holder of the postgres backend's server did not start")
        yield holder
    finally:
        holder.stdin.close()
        holder.wait(60)
        wait_stopped(env)
