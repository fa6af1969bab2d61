"""The watchdog of the package's PostgreSQL server (``backend = "postgres"``): it runs the server,
and stops it once no test process uses it, including after every one was killed with SIGKILL.

Never imported by the package: ``postgres_cluster`` runs this file by its path, with the standard
library only (``python -I -S postgres_watchdog.py CONFIG``), in a session of its own (a Ctrl-C in
the terminal does not reach it). It forks once so that it is nobody's child, starts ``postgres``
as its own child, waits until the server is ready (``postmaster.pid`` says so), writes the state
file and prints ``ready`` on its standard output (``error: ...`` and the log's last lines if the
server does not start).

The lease: every test process using the server holds a shared ``flock`` on the lease file for its
whole life; the kernel drops it when the process ends, however it ends. The watchdog waits for an
exclusive ``flock`` on the same file, which is granted when no test process holds one. It then
takes the start lock (no process attaches meanwhile), checks again without waiting, and stops the
server: SIGINT (PostgreSQL's fast shutdown), SIGQUIT after ``STOP_SECONDS``, SIGKILL after as many
again. If the watchdog itself dies, the kernel sends the server SIGINT (``PR_SET_PDEATHSIG``, on
Linux): no server outlives both its watchdog and its test processes.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STOP_SECONDS = 10.0
READY_SECONDS = 60.0
_PR_SET_PDEATHSIG = 1


class Stop(Exception):
    """A signal asked the watchdog to stop the server now."""


class ServerExited(Exception):
    """The server stopped by itself."""


def _die_with(watchdog: int) -> None:
    """In the server's process, after its user was switched (a switch clears the setting): SIGINT when
    the watchdog dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the watchdog's own stop is the only one
    if os.getppid() != watchdog:  # it died already
        os._exit(1)


def _postmaster_status(data: Path) -> str:
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
    except OSError:
        return ""
    return lines[7].strip() if len(lines) >= 8 else ""


def _log_tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(its log {log} could not be read: {exc})"


def _start_server(config: dict[str, Any], log: Any) -> subprocess.Popen[bytes]:
    switch: dict[str, Any] = {}
    watchdog = os.getpid()
    if config["uid"] is not None:
        switch = {"user": config["uid"], "group": config["gid"], "extra_groups": []}
    return subprocess.Popen(
        config["command"],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        cwd=config["data"],
        env=config["env"],
        preexec_fn=lambda: _die_with(watchdog),  # (this process has a single thread)
        **switch,
    )


def _wait_until_ready(server: subprocess.Popen[bytes], data: Path) -> str | None:
    """None once the server accepts connections, else why not."""
    deadline = time.monotonic() + READY_SECONDS
    while _postmaster_status(data) != "ready":
        if server.poll() is not None:
            return f"the server exited with status {server.returncode} while starting"
        if time.monotonic() > deadline:
            return f"the server was not ready after {READY_SECONDS:g} s"
        time.sleep(0.005)
    return None


def _stop_server(server: subprocess.Popen[bytes]) -> None:
    for stop_signal in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
        if server.poll() is not None:
            return
        server.send_signal(stop_signal)
        try:
            server.wait(STOP_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue


def _write_state(path: Path, state: dict[str, Any]) -> None:
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(json.dumps(state))
    os.replace(partial, path)


def _open_lock(path: str) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def _wait_for_last_lease(lease: int, start: int) -> None:
    """Return holding the start lock, once no test process holds the lease."""
    while True:
        fcntl.flock(lease, fcntl.LOCK_EX)  # granted once no test process holds it
        fcntl.flock(lease, fcntl.LOCK_UN)  # (a process attaching takes the start lock, then the lease)
        fcntl.flock(start, fcntl.LOCK_EX)
        try:
            fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:  # one attached meanwhile
            fcntl.flock(start, fcntl.LOCK_UN)


def serve(config: dict[str, Any]) -> int:
    data, state_path, log_path = Path(config["data"]), Path(config["state"]), Path(config["log"])
    lease, start = _open_lock(config["lease"]), _open_lock(config["start_lock"])

    def stop(signum: int, frame: object) -> None:
        raise Stop()

    def exited(signum: int, frame: object) -> None:
        if server.poll() is not None:
            raise ServerExited()

    for stop_signal in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(stop_signal, stop)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as log:
        server = _start_server(config, log)
    try:
        problem = _wait_until_ready(server, data)
    except Stop:
        problem = "the watchdog was asked to stop while the server started"
    if problem is not None:  # the test process that started it holds the start lock, waiting for this line
        _stop_server(server)
        print(f"error: {problem}. The server's log ({log_path}) ends with:\n{_log_tail(log_path)}", flush=True)
        return 1
    try:
        state = {"watchdog": os.getpid(), "postmaster": server.pid, "socket_dir": config["socket_dir"]}
        _write_state(state_path, {**state, "port": config["port"], "started": time.time()})
        print("ready", flush=True)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)  # the test process that started it reads up to here
        os.close(devnull)
        signal.signal(signal.SIGCHLD, exited)
        exited(signal.SIGCHLD, None)  # (if it died before the handler was set)
        _wait_for_last_lease(lease, start)
    except (Stop, ServerExited):
        fcntl.flock(start, fcntl.LOCK_EX)
    for stop_signal in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(stop_signal, signal.SIG_IGN if stop_signal != signal.SIGCHLD else signal.SIG_DFL)
    _stop_server(server)
    try:
        if json.loads(state_path.read_text()).get("watchdog") == os.getpid():  # never a later server's
            os.unlink(state_path)
    except (OSError, ValueError):
        pass
    return 0  # the locks go with the process


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    if os.fork() != 0:  # the test process waits for this one only; the server's watchdog is nobody's child
        os._exit(0)
    return serve(config)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
