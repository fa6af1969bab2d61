"""The benchmark's own pieces: derived rows, probe output, node's memory, the server URL, the options."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import time
import unittest

from bench.__main__ import compare, parse
from bench.measure import Row, paired, values
from bench.server import libpq_parameters
from bench.suite_runner import NodeMemory, node_children
from bench.targets import TARGETS, attach


class RowTests(unittest.TestCase):
    def test_paired_combines_run_by_run(self) -> None:
        whole = Row("a", "2 x", "whole", "s", [1.0, 2.0, 3.0])
        part = Row("b", "2 x", "part", "s", [0.5, 0.5, 1.0])
        derived = paired("c", "2 x", "whole minus part", "s", whole, part, lambda x, y: x - y)
        self.assertEqual(derived.samples, [0.5, 1.5, 2.0])
        self.assertEqual(derived.median, 1.5)

    def test_vs_divides_by_the_named_row(self) -> None:
        ours = Row("suite.pglite", "4 s", "ours", "s", [2.0])
        other = Row("suite.naive", "4 s", "naive", "s", [10.0], compare_to="suite.pglite")
        compare([ours, other])
        self.assertEqual((ours.vs, other.vs), ("", "5.0x ours"))

    def test_targets_attach_by_key(self) -> None:
        rows = [Row("memory.suite.peak", "5 memory", "peak", "MB", [300.0]), Row("other", "5 memory", "x", "MB")]
        attach(rows)
        self.assertIs(rows[0].target, TARGETS["memory.suite.peak"])
        self.assertIsNone(rows[1].target)
        self.assertEqual(rows[0].as_dict()["target"], {"goal": TARGETS["memory.suite.peak"].goal, "limit": 200})

    def test_values_reads_a_probe_line_and_names_a_missing_one(self) -> None:
        out = "noise\nclass_seconds chain 3.5 3.25\n"
        self.assertEqual(values(out, "class_seconds chain"), [3.5, 3.25])
        with self.assertRaisesRegex(RuntimeError, "class_seconds inventory not found"):
            values(out, "class_seconds inventory")


class NodeMemoryTests(unittest.TestCase):
    @unittest.skipIf(shutil.which("node") is None, "no node on PATH")
    def test_finds_this_process_node_children_and_their_memory(self) -> None:
        node = subprocess.Popen(
            ["node", "-e", "const a = Buffer.alloc(64 * 1024 * 1024, 1); setTimeout(() => {}, 30000)"]
        )
        try:
            deadline = time.monotonic() + 10
            while node.pid not in node_children() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(node_children(), [node.pid])
            memory = NodeMemory()
            while memory.sample() < 64 and time.monotonic() < deadline:
                time.sleep(0.05)
            rss = memory.sample()
            self.assertGreater(rss, 64)
            self.assertGreaterEqual(memory.peak_mb, rss)
        finally:
            node.kill()
            node.wait()
        self.assertEqual(node_children(), [])

    def test_a_child_that_is_not_node_is_not_counted(self) -> None:
        sleeper = subprocess.Popen(["sleep", "30"])
        try:
            self.assertNotIn(sleeper.pid, node_children())
        finally:
            sleeper.kill()
            sleeper.wait()


class ServerTests(unittest.TestCase):
    def test_unix_socket_url(self) -> None:
        self.assertEqual(
            libpq_parameters("postgresql+psycopg://postgres@/postgres?host=/tmp/pgdev"),
            {"host": "/tmp/pgdev", "port": "5432", "user": "postgres", "dbname": "postgres"},
        )

    def test_tcp_url_with_password(self) -> None:
        self.assertEqual(
            libpq_parameters("postgresql+psycopg://me:secret@db.example:5433/admin"),
            {"host": "db.example", "port": "5433", "user": "me", "dbname": "admin", "password": "secret"},
        )


class OptionTests(unittest.TestCase):
    def test_only_takes_a_comma_separated_list(self) -> None:
        self.assertEqual(parse(["--only", "startup, scale"]).scenarios, ["startup", "scale"])

    def test_an_unknown_scenario_is_refused_naming_the_known_ones(self) -> None:
        with contextlib.redirect_stderr(io.StringIO()) as err, self.assertRaises(SystemExit):
            parse(["--only", "startup,speed"])
        self.assertIn("unknown scenario 'speed'", err.getvalue())
        self.assertIn("first-run", err.getvalue())


if __name__ == "__main__":
    unittest.main()
