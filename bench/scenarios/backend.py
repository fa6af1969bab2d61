"""9 the postgres backend's server: its first start, one server shared or one per process, its
memory, and how long it outlives a test process killed with SIGKILL.

- ``backend.initdb``: an empty cache to the first query of a 20-table class (initdb included);
- ``backend.shared.attach``: a test process's start to its first query while the server already
  runs (another process holds it): what each further concurrent process pays with the shared
  server (its own database copied from the template);
- ``backend.own_server``: the same with a server of the process's own (the design not taken): the
  stopped cluster copied, a ``postgres`` started on the copy (``bench.own_server_probe``);
- ``memory.postgres.shared`` / ``memory.postgres.own``: each server's PSS with one connection
  (with servers per process, every concurrent process adds one);
- ``backend.stale_after_sigkill``: from SIGKILL of the only process holding the server to the
  end of the server's last process.
"""

from __future__ import annotations

import signal
import time

import psycopg

from .. import workloads
from ..context import Context, scratch
from ..measure import Row, run_python, value
from ..postgres_backend import backend_env, control_dir, held, server_pss_mb, state, wait_stopped

SCENARIO = "11 the postgres backend's server"
CLASS = "a 20-table create_all class"


def run(context: Context) -> list[Row]:
    directory = scratch("backend")
    workloads.write_schema(directory, 20)
    workloads.write_startup_probe(directory)
    probe = ["startup_probe.py", "metadata"]

    initdb = []
    for _ in range(context.repeat):  # each in an empty cache of its own
        fresh = backend_env()
        initdb.append(value(run_python(probe, directory, fresh)[1], "first_query"))
        wait_stopped(fresh)

    env = backend_env()
    run_python(probe, directory, env)  # warm: the cluster and the template exist
    wait_stopped(env)
    [data] = [path / "data" for path in control_dir(env).iterdir() if path.is_dir()]
    user = env.get("PGLITE_TESTCASE_POSTGRES_RUN_AS")
    attach, own, shared_mb, own_mb, stale = [], [], [], [], []
    for _ in range(context.repeat):
        with held(env):
            attach.append(value(run_python(probe, directory, env)[1], "first_query"))
            shared_mb.append(shared_pss(env))
        out = run_python(["-m", "bench.own_server_probe", str(data), *([user] if user else [])], directory)[1]
        own.append(value(out, "first_query"))
        own_mb.append(value(out, "server_pss_mb"))
        stale.append(stale_seconds(env))
    return [
        Row("backend.initdb", SCENARIO, f"empty cache (initdb) to the first query, {CLASS}", "s", initdb),
        Row(
            "backend.shared.attach",
            SCENARIO,
            f"start to first query, the shared server already running, {CLASS}",
            "s",
            attach,
        ),
        Row(
            "backend.own_server",
            SCENARIO,
            f"start to first query, a server per process (cluster copied, own postgres), {CLASS}",
            "s",
            own,
            compare_to="backend.shared.attach",
        ),
        Row("memory.postgres.shared", SCENARIO, "shared server's PSS, one connection", "MB", shared_mb),
        Row(
            "memory.postgres.own",
            SCENARIO,
            "a per-process server's PSS, one connection",
            "MB",
            own_mb,
            compare_to="memory.postgres.shared",
        ),
        Row(
            "backend.stale_after_sigkill",
            SCENARIO,
            "SIGKILL of the only process using the server to the end of the server's last process",
            "s",
            stale,
        ),
    ]


def shared_pss(env: dict[str, str]) -> float:
    """The running server's PSS with one connection open, as a test class's would be."""
    running = state(env)
    assert running is not None, "no server runs"
    with psycopg.connect(host=str(running["socket_dir"]), user="postgres", dbname="postgres") as connection:
        connection.execute("SELECT 1")
        return server_pss_mb(running["postmaster"])


def stale_seconds(env: dict[str, str]) -> float:
    """Start a process that holds the server, kill it with SIGKILL, time the server's end."""
    with held(env) as holder:
        holder.send_signal(signal.SIGKILL)
        killed = time.perf_counter()
        wait_stopped(env)
        return time.perf_counter() - killed
