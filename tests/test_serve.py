"""``python -m pglite_testcase serve``: a real PGlite in a subprocess, reached with psycopg."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import unittest
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psutil
import psycopg

from .support import pglite_only, process_running

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Serve:
    """A ``serve`` subprocess: its first stdout line, its node child, its stop."""

    def __init__(self, test: unittest.TestCase, *options: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pglite_testcase", "serve", *options],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        test.addCleanup(self.kill)
        self.url = self._first_line()
        self.nodes = [child.pid for child in psutil.Process(self.process.pid).children() if "node" in child.name()]

    def _first_line(self) -> str:
        # A generous bound (a first start may install PGlite's npm packages), only so a broken
        # server fails the test instead of hanging it.
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(300):
                raise AssertionError("serve printed nothing")
        return self.process.stdout.readline().decode().rstrip("\n")

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(signum)
        _, stderr = self.process.communicate(timeout=300)
        return self.process.returncode, stderr.decode()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()


@pglite_only
class ServeOnAUnixSocket(unittest.TestCase):
    def test_prints_a_url_serves_and_leaves_nothing_behind_on_sigterm(self) -> None:
        serve = Serve(self)
        parts = urlsplit(serve.url)
        self.assertEqual(parts.scheme, "postgresql")
        socket_dir = parse_qs(parts.query)["host"][0]
        self.assertTrue(os.path.isdir(socket_dir))
        self.assertEqual(len(serve.nodes), 1)

        with psycopg.connect(serve.url) as connection:
            database, answer = connection.execute("SELECT current_database(), 6 * 7").fetchone()  # type: ignore[misc]
        self.assertEqual(answer, 42)
        self.assertEqual(parts.path, f"/{database}")  # the URL names the database really served

        code, stderr = serve.stop(signal.SIGTERM)
        self.assertEqual(code, 0, stderr)
        self.assertFalse(process_running(serve.nodes[0]))
        self.assertFalse(os.path.exists(socket_dir))


@pglite_only
class ServeOnTCP(unittest.TestCase):
    def test_password_port_extension_and_ctrl_c(self) -> None:
        port = free_port()
        serve = Serve(self, "--tcp", "--port", str(port), "--extension", "hstore", "--statement-timeout", "60")
        parts = urlsplit(serve.url)
        self.assertEqual((parts.hostname, parts.port, parts.username), ("127.0.0.1", port, "postgres"))
        self.assertTrue(parts.password)

        with psycopg.connect(serve.url) as connection:
            value = connection.execute("SELECT ('a=>1'::hstore) -> 'a'").fetchone()
        self.assertEqual(value, ("1",))
        wrong = serve.url.replace(f":{parts.password}@", ":not-the-password@")
        with self.assertRaisesRegex(psycopg.OperationalError, "password authentication failed"):
            psycopg.connect(wrong, connect_timeout=30).close()

        code, stderr = serve.stop(signal.SIGINT)
        self.assertEqual(code, 0, stderr)
        self.assertFalse(process_running(serve.nodes[0]))


class ServeRefusesBadOptions(unittest.TestCase):
    def run_serve(self, *options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pglite_testcase", "serve", *options],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,  # bounded, not timed (a loaded machine)
        )

    def test_bad_options_are_named_and_nothing_starts(self) -> None:
        cases = {
            ("--postgres-version", "16"): "PostgreSQL 16 is not available; this version serves 17, 18",
            ("--extension", "no_such_thing"): "PGlite has no extension 'no_such_thing'",
            ("--port", "5433"): "--port needs --tcp",
            ("--tcp", "--port", "70000"): "'70000' is not a port number",
            ("--statement-timeout", "0"): "'0' is not a number of seconds greater than 0",
        }
        for options, message in cases.items():
            with self.subTest(options=options):
                result = self.run_serve(*options)
                self.assertEqual(result.returncode, 2)
                self.assertEqual(result.stdout, "")
                self.assertIn(message, result.stderr)

    def test_a_port_in_use_is_named_before_anything_starts(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = self.run_serve("--tcp", "--port", str(port))
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, "")
        self.assertIn(f"cannot listen on 127.0.0.1:{port}", result.stderr)
