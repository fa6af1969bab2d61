"""A server URL that leads nowhere (issue 20, item 7): a host that accepts and never answers, a closed
port, a missing socket directory. setUpClass fails naming where the URL came from, the URL (password
masked) and what went wrong, instead of waiting for ever; a plain class after it passes."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import unittest
from typing import Any
from unittest import mock

from pglite_testcase import PGliteTestCase
from pglite_testcase.compat import SQLALCHEMY_2
from pglite_testcase.environment import CONNECT_TIMEOUT as CONNECT_TIMEOUT_ENV
from pglite_testcase.environment import DATABASE_URL as SERVER_URL_ENV

from .models import Base
from .support import problems, run_case
from .test_reach import PlainAfterwards

DRIVER = "psycopg" if SQLALCHEMY_2 else "psycopg2"  # psycopg 3 has no SQLAlchemy 1.4 dialect


def silent_listener(test: unittest.TestCase) -> int:
    """A port of 127.0.0.1 that accepts connections (the kernel does) and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    test.addCleanup(listener.close)  # a connection still waiting (without the fix) is then reset
    return int(listener.getsockname()[1])


def stalling_server(test: unittest.TestCase) -> int:
    """A port of 127.0.0.1 that answers PostgreSQL's SSLRequest ("no SSL") and then never answers the
    startup packet: a pooler whose backend is gone."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            held.append(connection)
            connection.settimeout(5)
            try:
                while True:
                    request = connection.recv(8)
                    if len(request) == 8 and int.from_bytes(request[4:], "big") in (80877103, 80877104):
                        connection.sendall(b"N")  # SSL or GSS encryption: no
                        continue
                    break  # the startup packet (or the probe's close): never answered
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def close() -> None:
        stop.set()
        thread.join(5)
        for connection in held:
            connection.close()
        listener.close()

    test.addCleanup(close)
    return int(listener.getsockname()[1])


def closed_port() -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return port


def run_bounded(
    test: unittest.TestCase, case: type[unittest.TestCase], environ: dict[str, str] | None = None
) -> unittest.TestResult:
    """Run ``case`` (in ``environ``), failing (not hanging) if its setUpClass never returns; then a
    plain class, which must pass."""
    outcome: dict[str, Any] = {}
    with mock.patch.dict(os.environ, environ or {}):
        thread = threading.Thread(target=lambda: outcome.setdefault("result", run_case(case)), daemon=True)
        thread.start()
        thread.join(120)
    if thread.is_alive():
        test.fail(f"{case.__qualname__} still waits for the server after 120 s")
    plain = run_case(PlainAfterwards)
    test.assertEqual(problems(plain), "")
    result: unittest.TestResult = outcome["result"]
    return result


class ServerThatNeverAnswers(unittest.TestCase):
    def test_a_host_that_accepts_and_never_answers_fails_setupclass_naming_the_attribute(self) -> None:
        port = silent_listener(self)

        class SilentServer(PGliteTestCase):
            metadata = Base
            server_url = f"postgresql+{DRIVER}://app:s3cret@127.0.0.1:{port}/postgres"
            connect_timeout = 0.5

            def test_never_runs(self) -> None:
                pass

        message = problems(run_bounded(self, SilentServer))
        self.assertIn("ServerUnreachableError", message)
        self.assertIn("SilentServer.server_url", message)
        self.assertIn(f"postgresql+{DRIVER}://app:***@127.0.0.1:{port}/postgres", message)
        self.assertNotIn("s3cret", message)
        self.assertIn("no answer within 0.5 s", message)
        self.assertIn(CONNECT_TIMEOUT_ENV, message)

    def test_the_environment_variable_is_named_and_its_timeout_read(self) -> None:
        port = silent_listener(self)
        url = f"postgresql+{DRIVER}://app:s3cret@127.0.0.1:{port}/postgres"

        class FromEnvironment(PGliteTestCase):
            metadata = Base

            def test_never_runs(self) -> None:
                pass

        message = problems(run_bounded(self, FromEnvironment, {SERVER_URL_ENV: url, CONNECT_TIMEOUT_ENV: "0.5"}))
        self.assertIn(f"the environment variable {SERVER_URL_ENV} = postgresql+{DRIVER}://app:***@", message)
        self.assertIn("no answer within 0.5 s", message)

    def test_a_server_that_answers_the_ssl_request_and_then_stalls_fails_within_libpqs_timeout(self) -> None:
        port = stalling_server(self)

        class StallingServer(PGliteTestCase):
            metadata = Base
            server_url = f"postgresql+{DRIVER}://app:s3cret@127.0.0.1:{port}/postgres"

            def test_never_runs(self) -> None:
                pass

        message = problems(run_bounded(self, StallingServer, {CONNECT_TIMEOUT_ENV: "0.5"}))  # libpq: 2 s
        self.assertIn("ServerUnreachableError", message)
        self.assertIn(f"StallingServer.server_url = postgresql+{DRIVER}://app:***@127.0.0.1:{port}/postgres", message)
        self.assertIn("cannot connect", message)
        self.assertNotIn("s3cret", message)

    def test_a_bad_timeout_is_refused(self) -> None:
        class BadTimeout(PGliteTestCase):
            metadata = Base
            server_url = f"postgresql+{DRIVER}://app@127.0.0.1:1/postgres"
            connect_timeout = "soon"  # type: ignore[assignment]

            def test_never_runs(self) -> None:
                pass

        message = problems(run_bounded(self, BadTimeout))
        self.assertIn("BadTimeout.connect_timeout = 'soon' is not accepted", message)


class ServerThatIsNotThere(unittest.TestCase):
    def test_a_closed_port_names_the_attribute(self) -> None:
        port = closed_port()

        class ClosedPort(PGliteTestCase):
            metadata = Base
            server_url = f"postgresql+{DRIVER}://app:s3cret@127.0.0.1:{port}/postgres"

            def test_never_runs(self) -> None:
                pass

        message = problems(run_bounded(self, ClosedPort))
        self.assertIn("ClosedPort.server_url", message)
        self.assertIn("connection was refused", message)
        self.assertNotIn("s3cret", message)

    def test_a_missing_socket_directory_names_the_environment_variable(self) -> None:
        missing = os.path.join(tempfile.gettempdir(), "pgtc-no-such-socket-dir")
        url = f"postgresql+{DRIVER}://postgres@/postgres?host={missing}"

        class MissingSocketDirectory(PGliteTestCase):
            metadata = Base

            def test_never_runs(self) -> None:
                pass

        message = problems(run_bounded(self, MissingSocketDirectory, {SERVER_URL_ENV: url}))
        self.assertIn(f"the environment variable {SERVER_URL_ENV}", message)
        self.assertIn(f"its socket directory {missing} does not exist", message)

    def test_a_socket_directory_without_a_server_names_it(self) -> None:
        directory = tempfile.mkdtemp(prefix="pgtc-empty-sockets-")
        self.addCleanup(os.rmdir, directory)

        class EmptySocketDirectory(PGliteTestCase):
            metadata = Base
            server_url = f"postgresql+{DRIVER}://postgres@/postgres?host={directory}"

            def test_never_runs(self) -> None:
                pass

        message = problems(run_bounded(self, EmptySocketDirectory))
        self.assertIn("EmptySocketDirectory.server_url", message)
        self.assertIn(f"no server listens in {directory}", message)
