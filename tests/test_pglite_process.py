"""Running PGlite: one instance per process, a private socket, one session shared safely."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import unittest
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from pglite_testcase import PGliteTestCase
from pglite_testcase.database.pglite import PGliteDatabase
from pglite_testcase.database.provision import shared_database

from .models import Author, Base
from .support import pglite_only

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pglite_only
class OwnConnectionDuringATest(PGliteTestCase):
    metadata = Base

    def _raw_connection(self) -> psycopg.Connection[object]:
        # A connection made outside SQLAlchemy: no engine, so nothing routes it (see reach).
        return psycopg.connect(
            host=self.db_host, port=self.db_port, user=self.db_user, password=self.db_password, dbname=self.db_name
        )

    def test_own_engine_is_routed_into_the_tests_transaction(self) -> None:
        self.session.add(Author(name="in the test transaction"))
        self.session.flush()
        own_engine = create_engine(self.database_url, connect_args=self.connect_args, poolclass=NullPool)
        with own_engine.connect() as connection:
            self.assertEqual(connection.execute(text("SELECT count(*) FROM authors")).scalar(), 1)
        own_engine.dispose()

    def test_a_raw_connection_fails_fast_with_advice(self) -> None:
        self.session.add(Author(name="in the test transaction"))
        self.session.flush()
        started = time.monotonic()
        with self.assertRaises(psycopg.OperationalError) as caught:
            with self._raw_connection() as connection:
                connection.execute("SELECT 1")
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, 60.0, "the refusal must come, never a hang")  # a bound, not a timing
        message = str(caught.exception)
        self.assertIn("pglite_testcase", message)
        self.assertIn("self.engine", message)
        self.assertIn("self.sessionmaker", message)

    def test_the_test_connection_still_works_after_a_refusal(self) -> None:
        self.session.add(Author(name="a"))
        self.session.flush()
        with self.assertRaises(psycopg.OperationalError):
            with self._raw_connection() as connection:
                connection.execute("SELECT 1")
        self.session.add(Author(name="b"))
        self.session.commit()
        self.assertEqual(len(self.session.scalars(text("SELECT name FROM authors")).all()), 2)


@pglite_only
class SharedSession(unittest.TestCase):
    """PGlite's one backend session is shared by every connection: state must not leak between them."""

    def setUp(self) -> None:
        self.database = shared_database()
        self.kwargs = {
            "host": str(self.database.process.private_dir),
            "user": "postgres",
            "password": "postgres",
            "dbname": "postgres",
            "autocommit": True,
        }

    def test_prepared_statements_of_default_psycopg_connections_do_not_collide(self) -> None:
        # psycopg prepares a statement after 5 executions, as _pg3_0 on every connection.
        for _ in range(2):
            with psycopg.connect(**self.kwargs) as connection:
                for _ in range(8):
                    connection.execute("SELECT 1 + %s", (1,))
        with psycopg.connect(**self.kwargs) as first, psycopg.connect(**self.kwargs) as second:
            for _ in range(8):
                first.execute("SELECT 2 + %s", (1,))
            for _ in range(8):
                second.execute("SELECT 2 + %s", (1,))

    def test_session_state_is_reset_when_the_last_client_leaves(self) -> None:
        with psycopg.connect(**self.kwargs) as connection:
            connection.execute("SET statement_timeout = '12s'")
            connection.execute("CREATE TEMP TABLE scratch (x int)")
        with psycopg.connect(**self.kwargs) as connection:
            self.assertEqual(connection.execute("SHOW statement_timeout").fetchone(), ("0",))
            self.assertIsNone(connection.execute("SELECT to_regclass('scratch')").fetchone()[0])
            # PostgreSQL's default, not PGlite's reset value (pg_catalog).
            self.assertEqual(connection.execute("SHOW search_path").fetchone(), ('"$user", public',))

    def test_a_transaction_left_open_by_a_closed_client_is_rolled_back(self) -> None:
        kwargs = {**self.kwargs, "autocommit": False}
        connection = psycopg.connect(**kwargs)
        connection.execute("CREATE TABLE left_open (x int)")
        connection.close()
        with psycopg.connect(**self.kwargs) as other:
            self.assertIsNone(other.execute("SELECT to_regclass('left_open')").fetchone()[0])

    def test_a_failed_transaction_left_by_a_closed_client_is_rolled_back(self) -> None:
        connection = psycopg.connect(**{**self.kwargs, "autocommit": False})
        with self.assertRaises(psycopg.errors.UndefinedTable):
            connection.execute("SELECT * FROM no_such_table")
        self.assertEqual(connection.info.transaction_status, psycopg.pq.TransactionStatus.INERROR)
        connection.close()
        with psycopg.connect(**self.kwargs) as other:
            self.assertEqual(other.execute("SELECT 1").fetchone(), (1,))
            self.assertEqual(other.info.transaction_status, psycopg.pq.TransactionStatus.IDLE)


@pglite_only
class TcpMode(unittest.TestCase):
    def test_tcp_on_loopback_answers_libpq_ssl_negotiation(self) -> None:
        database = PGliteDatabase.start(use_tcp=True)
        try:
            url = database.url
            self.assertEqual(url.host, "127.0.0.1")
            with psycopg.connect(
                host="127.0.0.1",
                port=url.port,
                user="postgres",
                password=database.process.password,
                dbname="postgres",
                sslmode="prefer",
                connect_timeout=30,  # an unanswered SSLRequest would fail it (no timing: a loaded machine)
            ) as connection:
                self.assertEqual(connection.execute("SELECT 1").fetchone(), (1,))
            engine = database.create_engine(poolclass=NullPool)
            with engine.connect() as connection:
                self.assertEqual(connection.scalar(text("SELECT 2")), 2)
            engine.dispose()
        finally:
            database.stop()
        self.assertFalse(database.process.private_dir.exists())


@pglite_only
class ProcessLifetime(unittest.TestCase):
    def test_one_instance_serves_every_class_and_nothing_outlives_the_run(self) -> None:
        result = run_python(
            """
            import json, unittest
            from pglite_testcase import PGliteTestCase
            from tests.models import Base, other_metadata
            seen = []
            class A(PGliteTestCase):
                metadata = Base
                def test(self):
                    seen.append((type(self).database.process.process.pid, str(type(self).database.process.private_dir)))
            class B(PGliteTestCase):
                metadata = other_metadata
                def test(self):
                    seen.append((type(self).database.process.process.pid, str(type(self).database.process.private_dir)))
            suite = unittest.TestSuite([unittest.defaultTestLoader.loadTestsFromTestCase(c) for c in (A, B)])
            assert unittest.TextTestRunner().run(suite).wasSuccessful()
            print(json.dumps(seen))
            """
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        seen = json.loads(result.stdout.strip().splitlines()[-1])
        self.assertEqual(len({pid for pid, _ in seen}), 1, "both classes should share one PGlite")
        pid, private_dir = seen[0]
        self.assertFalse(
            pid_alive(pid) and Path(f"/proc/{pid}").exists() and "node" in Path(f"/proc/{pid}/comm").read_text()
        )
        self.assertFalse(Path(private_dir).exists())

    def test_node_stops_when_the_python_process_is_killed(self) -> None:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(
                    """
                import sys, time
                from pglite_testcase.database.provision import shared_database
                database = shared_database()
                print(database.process.process.pid, database.process.private_dir, flush=True)
                time.sleep(60)
                """
                ),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        node_pid = int(process.stdout.readline().split()[0])
        self.assertTrue(pid_alive(node_pid))
        process.kill()
        process.wait()
        process.stdout.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{node_pid}").exists():
            status = Path(f"/proc/{node_pid}/status").read_text() if Path(f"/proc/{node_pid}/status").exists() else ""
            if "zombie" in status:
                break
            time.sleep(0.05)
        status = Path(f"/proc/{node_pid}/status")
        self.assertTrue(not status.exists() or "zombie" in status.read_text(), "node outlived its test process")

    def test_importing_and_running_a_suite_never_imports_pytest(self) -> None:
        result = run_python(
            """
            import sys, unittest
            import pglite_testcase
            assert "pytest" not in sys.modules, "import pglite_testcase imported pytest"
            suite = unittest.defaultTestLoader.loadTestsFromName("tests.test_isolation")
            assert unittest.TextTestRunner().run(suite).wasSuccessful()
            assert "pytest" not in sys.modules, "running a suite imported pytest"
            print("no pytest")
            """
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("no pytest", result.stdout)


@pglite_only
class Prestart(unittest.TestCase):
    CODE = """
        from pglite_testcase import PGliteTestCase
        from pglite_testcase.database.provision import REGISTRY
        class Defined(PGliteTestCase):
            pass
        shared = next(iter(REGISTRY._shared.values()), None)  # one per PostgreSQL major
        print("started" if shared is not None and shared.process.process is not None else "not started")
        """

    def test_defining_a_test_class_starts_pglite_in_the_background(self) -> None:
        result = run_python(self.CODE)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "started")

    def test_prestart_can_be_turned_off(self) -> None:
        result = run_python(self.CODE, env={"PGLITE_TESTCASE_PRESTART": "0"})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "not started")


class PyPGliteApi(unittest.TestCase):
    """The package uses py-pglite's public ``PGliteConfig`` only: this fails, naming the field, when a
    py-pglite release changes what the package passes or reads (docs/architecture.md)."""

    PASSED = {
        "timeout": int,
        "log_level": str,
        "socket_path": str,
        "work_dir": Path,
        "auto_install_deps": bool,
        "use_tcp": bool,
    }
    READ = ("socket_path", "use_tcp", "tcp_port", "timeout")

    def test_the_fields_the_package_passes_and_reads(self) -> None:
        import dataclasses

        from py_pglite import PGliteConfig

        fields = {field.name: field for field in dataclasses.fields(PGliteConfig)}
        for name in {*self.PASSED, *self.READ}:
            self.assertIn(name, fields, f"py-pglite's PGliteConfig has no field {name!r} any more")
        config = PGliteConfig(
            timeout=60,
            log_level="WARNING",
            socket_path="/tmp/x/.s.PGSQL.5432",
            work_dir=Path("/tmp/x"),
            auto_install_deps=False,
            use_tcp=True,
        )
        config.tcp_port = 54321  # set by the package once node says which port it listens on
        self.assertEqual(
            (config.socket_path, config.use_tcp, config.tcp_port, config.timeout),
            ("/tmp/x/.s.PGSQL.5432", True, 54321, 60),
        )

    def test_the_version_is_in_the_tested_range(self) -> None:
        from importlib.metadata import version

        major, minor = (int(part) for part in version("py-pglite").split(".")[:2])
        self.assertEqual(
            (major, minor),
            (0, 5),
            "setup.cfg allows py-pglite>=0.5,<0.6: a newer one needs this package checked against it",
        )

    def test_no_py_pglite_manager(self) -> None:
        from pglite_testcase.runtime.process import PGliteProcess

        self.assertEqual(PGliteProcess.__mro__, (PGliteProcess, object))
