"""What a server per test process would cost: the design the postgres backend did not take.

``python -m bench.own_server_probe DATA_DIR [USER]`` does what a test process with a server of its
own would: import SQLAlchemy and the package (as every test process does), copy the stopped
cluster ``DATA_DIR`` (initdb'd once, with the schema's template database in it), start a
``postgres`` of its own on the copy, and run the first query on the template's database. It
prints ``first_query`` (seconds since this process started), ``copy_seconds`` and ``server_pss_mb``
(the server's memory with one connection), then stops its server and removes the copy.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import sqlalchemy  # noqa: F401  (what every test process imports: the start-up rows count it too)

import pglite_testcase  # noqa: F401
from bench.postgres_backend import server_pss_mb
from bench.process_clock import process_started_at
from pglite_testcase.runtime.postgres_install import find_install


def main(source: Path, user: str | None) -> None:
    install = find_install("bench")
    directory = Path(tempfile.mkdtemp(prefix="pgtc-bench-own-server-"))
    switch: dict[str, object] = {}
    try:
        started = time.perf_counter()
        data = directory / "data"
        shutil.copytree(source, data, ignore=shutil.ignore_patterns("postmaster.pid", "postmaster.opts"))
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chmod(directory, 0o711)
            for path in [data, *data.rglob("*")]:
                os.lchown(path, entry.pw_uid, entry.pw_gid)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
            switch = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        copy_seconds = time.perf_counter() - started
        command = [str(install.binary("postgres")), "-D", str(data), "-k", str(directory)]
        for setting in ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "listen_addresses="):
            command += ["-c", setting]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **switch)  # type: ignore[call-overload]
        try:
            while True:
                try:
                    status = (data / "postmaster.pid").read_text().splitlines()
                    if len(status) >= 8 and status[7].strip() == "ready":
                        break
                except OSError:
                    pass
                if server.poll() is not None:
                    raise SystemExit(f"the server exited with {server.returncode}")
                time.sleep(0.002)
            with psycopg.connect(host=str(directory), user="postgres", dbname="postgres") as admin:
                template = admin.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'pglite\\_testcase\\_tpl\\_%' LIMIT 1"
                ).fetchone()
            assert template is not None, "no template in the copied cluster"
            with psycopg.connect(host=str(directory), user="postgres", dbname=template[0]) as connection:
                connection.execute("SELECT 1")
                print("first_query", time.time() - process_started_at())
                print("copy_seconds", copy_seconds)
                print("server_pss_mb", server_pss_mb(server.pid))
        finally:
            server.send_signal(signal.SIGINT)  # fast shutdown
            server.wait(60)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
