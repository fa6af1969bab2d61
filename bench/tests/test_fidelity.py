"""bench.fidelity's own logic: which test a server died in, causes, the comparison, file selection."""

from __future__ import annotations

import json
import tempfile
import unittest
from pathlib import Path

from bench.fidelity import Events, Outcome, cause, compare, death_cause, libpq_dsn, select_files

LOST = 'psycopg.OperationalError: connection to server on socket "/tmp/x/.s.PGSQL.5432" failed: No such file'


def events(*records: dict[str, object]) -> Events:
    directory = Path(tempfile.mkdtemp())
    path = directory / "events.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    reader = Events(path)
    reader.read()
    return reader


def test(name: str, started: float, outcome: str | None, message: str = "") -> list[dict[str, object]]:
    records: list[dict[str, object]] = [{"e": "start", "id": name, "t": started}]
    if outcome is not None:
        records.append({"e": "result", "id": name, "outcome": outcome, "message": message})
    return records


class DeathTests(unittest.TestCase):
    def test_the_first_of_the_last_lost_connections_is_the_one_the_server_died_in(self) -> None:
        reader = events(
            *test("a", 1.0, "failed", "server closed the connection unexpectedly"),  # an earlier, unrelated loss
            *test("b", 2.0, "failed", "AssertionError: 1 != 2"),
            *test("c", 3.0, "failed", "consuming input failed: server closed the connection unexpectedly"),
            *test("d", 3.1, "passed"),  # needs no server
            *test("e", 3.2, "error", LOST),
            *test("f", 3.3, "skipped", "Skipped: the connection is lost"),
            *test("g", 9.0, "error", LOST),  # began after the exit was noticed
        )
        self.assertEqual(reader.death_test(5.0), "c")
        self.assertEqual(reader.started_after("c", 5.0), {"d", "e", "f", "g"})

    def test_without_a_lost_connection_the_test_running_then(self) -> None:
        reader = events(*test("a", 1.0, "passed"), *test("b", 2.0, None))
        self.assertEqual(reader.death_test(5.0), "b")
        self.assertEqual(reader.running(), "b")

    def test_the_server_says_why(self) -> None:
        words = (
            "pglite_testcase: PostgreSQL 17.5 (PGlite 0.3.15) serving at /tmp/x; Ctrl-C or SIGTERM stops it\n"
            "error: the PGlite server stopped: its node process exited (code 70). Its last output:\n"
            "pglite_testcase: PGlite failed internally: TypeError: r is not a function\n"
            "    at execProtocolRaw (pglite.js:1:1)\n"
        )
        self.assertEqual(
            death_cause(words), "pglite_testcase: PGlite failed internally: TypeError: r is not a function"
        )


class ComparisonTests(unittest.TestCase):
    def test_only_tests_the_real_server_passes_count(self) -> None:
        results = {
            "t1": {"real": Outcome("passed"), "pglite": Outcome("passed")},
            "t2": {"real": Outcome("passed"), "pglite": Outcome("failed", "psycopg.errors.X: boom 12345\nLINE 1")},
            "t3": {
                "real": Outcome("passed"),
                "pglite": Outcome("failed", "Failed: Timeout (>20.0s) from pytest-timeout."),
            },
            "t4": {"real": Outcome("passed"), "pglite": Outcome("server death", "TypeError: r is not a function")},
            "t5": {"real": Outcome("failed", "x"), "pglite": Outcome("passed")},
            "t6": {"real": Outcome("skipped"), "pglite": Outcome("skipped")},
        }
        summary = compare(results)
        self.assertEqual((summary["pglite_passed"], summary["real_passed"], summary["fidelity_percent"]), (1, 4, 25.0))
        self.assertEqual(summary["groups"]["failures"], {"psycopg.errors.X: boom N": ["t2"]})
        self.assertEqual(summary["groups"]["hangs"], {"per-test timeout": ["t3"]})
        self.assertEqual(summary["groups"]["deaths"], {"TypeError: r is not a function": ["t4"]})
        self.assertEqual(summary["passed_on_pglite_only"], ["t5"])

    def test_cause_blurs_paths_and_numbers(self) -> None:
        self.assertEqual(
            cause(Outcome("failed", LOST)),
            'psycopg.OperationalError: connection to server on socket "/tmp/…" failed: No such file',
        )

    def test_a_sqlalchemy_url_becomes_a_libpq_one(self) -> None:
        self.assertEqual(libpq_dsn("postgresql+psycopg://u@/db?host=/tmp/x"), "postgresql://u@/db?host=/tmp/x")


class FileSelectionTests(unittest.TestCase):
    def test_files_that_never_connect_are_left_out(self) -> None:
        source = Path(tempfile.mkdtemp())
        (source / "tests").mkdir()
        (source / "tests" / "test_client.py").write_text("def test_parse(): pass\n")
        (source / "tests" / "test_server.py").write_text("def test_query(\n    conn,\n): pass\n")
        (source / "tests" / "helper.py").write_text("def test_x(conn): pass\n")
        self.assertEqual(select_files(source, ["tests/*.py"]), (["tests/test_server.py"], ["tests/test_client.py"]))
