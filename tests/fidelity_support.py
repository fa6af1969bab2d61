"""One PostgreSQL for a class of fidelity tests: this package's PGlite server, or, in the
server pass (``PGLITE_TESTCASE_DATABASE_URL``), a database of its own on the real server (in the
postgres backend's pass, on the package's own server), so the same assertions say what
PostgreSQL does and that PGlite does the same."""

from __future__ import annotations

import os
import threading
import unittest
from typing import Any, Callable, TypeVar

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from pglite_testcase.runtime.node_packages import NodePackages, find_node
from pglite_testcase.runtime.postgres_cluster import ManagedServer, attach
from pglite_testcase.runtime.process import PGliteProcess

from .support import ON_PACKAGE_POSTGRES

T = TypeVar("T")


class FidelityTarget:
    def __init__(self) -> None:
        self.process: PGliteProcess | None = None
        self.server: dict[str, Any] | None = None
        self.database = ""
        self.managed: ManagedServer | None = None

    def start(self, **process_options: Any) -> None:
        server_url = os.environ.get("PGLITE_TESTCASE_DATABASE_URL")
        if not server_url and ON_PACKAGE_POSTGRES:  # the backend's server, held until stop()
            self.managed = attach("the fidelity tests")
            server_url = self.managed.url_text()
        if server_url:
            url = make_url(server_url)
            self.server = {
                "host": url.query.get("host") or url.host,
                "port": url.port,
                "user": url.username,
                "password": url.password,
            }
            self.database = f"fidelity_{os.getpid()}_{id(self)}"
            with psycopg.connect(dbname=url.database or "postgres", autocommit=True, **self.server) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
            return
        runtime = find_node()
        self.process = PGliteProcess(runtime, NodePackages().ensure_installed(runtime), **process_options)
        self.process.start()
        self.database = "postgres"

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        if self.server is not None:
            with psycopg.connect(dbname="postgres", autocommit=True, **self.server) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.database)))
        if self.managed is not None:
            self.managed.release()

    @property
    def on_pglite(self) -> bool:
        return self.process is not None

    def conninfo(self, **extra: Any) -> dict[str, Any]:
        if self.process is not None:
            config = self.process.config
            if config.use_tcp:
                base: dict[str, Any] = {"host": "127.0.0.1", "port": config.tcp_port, "password": self.process.password}
            else:
                base = {"host": str(self.process.private_dir)}
            base.update(user="postgres", dbname=self.database)
        else:
            assert self.server is not None
            base = {**{k: v for k, v in self.server.items() if v is not None}, "dbname": self.database}
        base.update(extra)
        return base

    def connect(self, **extra: Any) -> psycopg.Connection[Any]:
        autocommit = extra.pop("autocommit", True)
        return psycopg.connect(autocommit=autocommit, **self.conninfo(**extra))

    def kill(self) -> None:
        """End the server of a hung test (PGlite's node), so the client's wait ends too."""
        if self.process is not None and self.process.process is not None:
            self.process.process.kill()


class FidelityTestCase(unittest.TestCase):
    """A class of its own server (or server database); ``within`` runs a step under a deadline."""

    target: FidelityTarget
    process_options: dict[str, Any] = {}

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.target = FidelityTarget()
        cls.target.start(**cls.process_options)
        cls.addClassCleanup(cls.target.stop)

    def connect(self, **extra: Any) -> psycopg.Connection[Any]:
        connection = self.target.connect(**extra)
        self.addCleanup(connection.close)
        return connection

    def within(self, seconds: float, step: Callable[[], T]) -> T:
        """``step()``'s result; a step still waiting after ``seconds`` fails the test (a hang),
        and the server is ended so that the waiting client returns."""
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["value"] = step()
            except BaseException as exc:  # handed to the test's thread
                outcome["error"] = exc

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(seconds)
        if worker.is_alive():
            self.target.kill()
            worker.join(30)
            self.fail(f"no answer within {seconds} s: the server stopped answering (a hang)")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]  # type: ignore[no-any-return]
