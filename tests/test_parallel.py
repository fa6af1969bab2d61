"""Several test processes at once, and the parallel runners: each process gets its own database."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import unittest
from pathlib import Path

from pglite_testcase.compat import SQLALCHEMY_2

from .support import pglite_only, run_node_processes

ROOT = Path(__file__).resolve().parents[1]
# The inventory example is written for SQLAlchemy 2; the legacy one runs on both lines.
EXAMPLE_DIR = "examples/inventory" if SQLALCHEMY_2 else "examples/legacy_globals"
EXAMPLE = ["-s", EXAMPLE_DIR, "-t", "."]


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 300) -> str:
    output, _ = process.communicate(timeout=timeout)
    return output


class ParallelProcesses(unittest.TestCase):
    def setUp(self) -> None:
        self.before = run_node_processes()

    def assert_no_node_left(self) -> None:
        # A node process exits once its test process is gone (its stdin ends): give it a moment.
        deadline = time.monotonic() + 10
        while run_node_processes() - self.before and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(run_node_processes() - self.before, set(), "node processes outlived their test processes")

    def test_four_processes_at_once(self) -> None:
        processes = [start(["-m", "unittest", "discover", *EXAMPLE]) for _ in range(4)]
        outputs = [finish(process) for process in processes]
        for process, output in zip(processes, outputs):
            self.assertEqual(process.returncode, 0, output[-3000:])
            self.assertIn("OK", output)
        self.assert_no_node_left()

    @unittest.skipUnless(importlib.util.find_spec("unittest_parallel"), "unittest-parallel is not installed")
    def test_unittest_parallel_by_class(self) -> None:
        output = finish(start(["-m", "unittest_parallel", *EXAMPLE, "--level", "class", "-j", "2"]))
        self.assertIn("OK", output, output[-3000:])
        self.assert_no_node_left()

    @unittest.skipUnless(importlib.util.find_spec("xdist"), "pytest-xdist is not installed")
    def test_pytest_xdist_collects_the_unittest_classes(self) -> None:
        process = start(["-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider", EXAMPLE_DIR])
        output = finish(process)
        self.assertEqual(process.returncode, 0, output[-3000:])
        self.assertIn("passed", output)
        self.assert_no_node_left()


@pglite_only
class TcpTransport(unittest.TestCase):
    def test_tcp_on_a_free_loopback_port(self) -> None:
        code = """
import unittest, psutil
from pglite_testcase import PGliteTestCase
from pglite_testcase.database.provision import shared_database

class OverTcp(PGliteTestCase):
    def test(self):
        self.assertEqual(self.db_host, "127.0.0.1")
        node = psutil.Process(shared_database().process.process.pid)
        listening = [c.laddr for c in node.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        print("LISTEN", listening, self.db_port, flush=True)
        self.assertEqual([address.ip for address in listening], ["127.0.0.1"])
        self.assertEqual(listening[0].port, self.db_port)
        self.assertNotEqual(self.db_port, 5432)

result = unittest.main(argv=["t"], exit=False).result
raise SystemExit(0 if result.wasSuccessful() else 1)
"""
        process = start(["-c", code], env={"PGLITE_TESTCASE_TCP": "1"})
        output = finish(process, timeout=120)
        self.assertEqual(process.returncode, 0, output)
