"""The benchmark's own pieces: derived rows, probe output, node's memory, the server URL, the options."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from collections.abc import Callable
from pathlib import Path

from bench import __main__ as bench_main
from bench.__main__ import compare, missing_packages, parse
from bench.measure import Row, kill_tree, paired, run_python, samples_of, values
from bench.node_profile import classify
from bench.processes import descendants
from bench.server import libpq_parameters
from bench.suite_runner import NodeMemory, node_processes
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


class SamplesOfTests(unittest.TestCase):
    def test_a_hung_or_failed_run_gives_a_note_instead_of_a_sample(self) -> None:
        outcomes: list[Callable[[], float]] = [
            lambda: 1.5,
            lambda: run_python(["-c", "import time; time.sleep(30)"], Path.cwd(), timeout=0.5)[0],
            lambda: run_python(["-c", "raise ValueError('slot taken')"], Path.cwd())[0],
            lambda: run_python(["-c", "raise ValueError('slot taken')"], Path.cwd())[0],
        ]
        samples, note = samples_of(lambda: outcomes.pop(0)(), 4)
        self.assertEqual(samples, [1.5])
        self.assertEqual(note, "1 of 4 runs killed after 0 s; 2 of 4 runs failed: ValueError: slot taken")

    def test_a_killed_run_leaves_no_process_behind(self) -> None:
        with tempfile.TemporaryDirectory() as directory:
            pid_file = Path(directory) / "grandchild"
            script = (
                "import pathlib, subprocess, time; "
                "sleeper = subprocess.Popen(['sleep', '60'], start_new_session=True, "
                "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
                f"pathlib.Path({str(pid_file)!r}).write_text(str(sleeper.pid)); time.sleep(60)"
            )
            with self.assertRaises(subprocess.TimeoutExpired):
                run_python(["-c", script], Path(directory), timeout=5)
            grandchild = int(pid_file.read_text())
        self.addCleanup(kill_if_alive, grandchild)
        deadline = time.monotonic() + 5
        while alive(grandchild) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(alive(grandchild), "the killed run's grandchild (in a session of its own) still runs")


def kill_if_alive(pid: int) -> None:
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class NodeMemoryTests(unittest.TestCase):
    @unittest.skipIf(shutil.which("node") is None, "no node on PATH")
    def test_finds_node_started_through_another_process_and_its_memory(self) -> None:
        script = "const a = Buffer.alloc(64 * 1024 * 1024, 1); setTimeout(() => {}, 30000)"
        shell = subprocess.Popen(["sh", "-c", f"node -e '{script}'; exit 0"])
        try:
            deadline = time.monotonic() + 10
            while not node_processes(shell.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            (node,) = node_processes(shell.pid)
            self.assertIn(node, node_processes())  # a descendant of this process too, through the shell
            memory = NodeMemory(shell.pid)
            while memory.sample() < 64 and time.monotonic() < deadline:
                time.sleep(0.05)
            rss = memory.sample()
            self.assertGreater(rss, 64)
            self.assertGreaterEqual(memory.peak_mb, rss)
        finally:
            kill_tree(shell.pid)
            shell.wait()
        self.assertNotIn(node, node_processes())

    def test_a_process_that_is_not_node_is_not_counted(self) -> None:
        shell = subprocess.Popen(["sh", "-c", "sleep 30; exit 0"])
        try:
            deadline = time.monotonic() + 10
            while not descendants(shell.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(list(descendants(shell.pid).values()), ["sleep"])
            self.assertEqual(node_processes(shell.pid), [])
        finally:
            kill_tree(shell.pid)
            shell.wait()


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

    def test_a_missing_package_of_the_bench_extra_is_named_before_anything_runs(self) -> None:
        needs = bench_main.NEEDS
        self.addCleanup(setattr, bench_main, "NEEDS", needs)
        bench_main.NEEDS = (*needs, ("no_such_module_here", "no-such-package", "scale"))
        self.assertEqual(missing_packages(["suite"]), [])
        self.assertEqual(missing_packages(["suite", "scale"]), ["no-such-package"])


def _frame(node_id: int, name: str, url: str = "", children: tuple[int, ...] = ()) -> dict[str, object]:
    return {"id": node_id, "callFrame": {"functionName": name, "url": url}, "children": list(children)}


class NodeProfileTests(unittest.TestCase):
    """``bench.node_profile`` sorts node's samples by the first part their stack reaches."""

    def test_each_sample_goes_to_the_part_its_stack_reaches(self) -> None:
        ours = "file:///x/pglite_testcase/node/lib/host.js"
        pglite = "file:///x/node_modules/@electric-sql/pglite/dist/index.cjs"
        profile = {
            "nodes": [
                _frame(1, "(root)", children=(2, 3, 4, 7, 9, 10)),
                _frame(2, "(idle)"),
                _frame(3, "(garbage collector)"),
                _frame(4, "run", ours, children=(5,)),
                _frame(5, "execProtocol", pglite, children=(6,)),
                _frame(6, "wasm-function[178]"),
                _frame(7, "answer", "file:///x/pglite_testcase/node/lib/scheduler.js", children=(8,)),
                _frame(8, "writeBuffer"),
                _frame(9, "compileForInternalLoader", "node:internal/bootstrap/realm"),
                _frame(10, "receive", "file:///x/pglite_testcase/node/lib/connection.js"),
            ],
            "samples": [2, 3, 6, 5, 8, 9, 10, 6],
            "timeDeltas": [1000, 2000, 3000, 1000, 4000, 5000, 6000, 1000],
        }
        self.assertEqual(
            dict(classify(profile)),
            {"idle": 1.0, "garbage collection": 2.0, "PGlite": 5.0, "socket writes": 4.0, "node": 5.0, "server": 6.0},
        )


if __name__ == "__main__":
    unittest.main()
