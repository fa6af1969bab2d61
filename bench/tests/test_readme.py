"""docs/performance.md's benchmark sections are generated from a results file, and only from it."""

from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
import unittest
from pathlib import Path
from typing import Any

from bench import readme
from bench.measure import ROOT, Row
from bench.targets import TARGETS

README = """# x

**Migrations**

<!-- bench:migration-cost:begin -->
old paragraph
<!-- bench:migration-cost:end -->

## Performance

<!-- bench:performance:begin -->
old table, 0.92 s
<!-- bench:performance:end -->

## Next
"""


def results(rows: list[Row]) -> dict[str, Any]:
    for row in rows:
        row.target = TARGETS.get(row.key)
    return {
        "date": "2030-01-02",
        "command": "python -m bench",
        "server": True,
        "machine": {"cpus": 2, "cpu_model": "Some CPU", "python": "3.11.7", "node": "v20.1.0"},
        "seconds": 600,
        "rows": [row.as_dict() for row in rows],
    }


def startup_rows(after_class: list[float]) -> list[Row]:
    return [
        Row("startup.empty", "2 start-up to first query", "pglite_testcase, empty database", "s", [0.9, 0.95]),
        Row("startup.after_class", "2 start-up to first query", "class to first query", "s", after_class),
    ]


def section(text: str, name: str) -> str:
    match = re.search(rf"<!-- bench:{name}:begin[^>]*-->\n(.*?)<!-- bench:{name}:end -->", text, re.DOTALL)
    assert match is not None
    return match.group(1)


class RenderTests(unittest.TestCase):
    def test_sections_are_replaced_and_the_rest_kept(self) -> None:
        text = readme.render(README, results(startup_rows([0.3, 0.5])), "bench/results/x.json")
        self.assertNotIn("old table", text)
        self.assertNotIn("old paragraph", text)
        self.assertTrue(text.startswith("# x\n\n**Migrations**\n"))
        self.assertTrue(text.endswith("<!-- bench:performance:end -->\n\n## Next\n"))
        self.assertIn("python -m bench.readme bench/results/x.json", text)

    def test_rendering_twice_changes_nothing(self) -> None:
        data = results(startup_rows([0.3, 0.5]))
        once = readme.render(README, data, "r.json")
        self.assertEqual(readme.render(once, data, "r.json"), once)

    def test_figures_and_verdicts_come_from_the_results(self) -> None:
        met = section(readme.render(README, results(startup_rows([0.1, 0.12])), "r.json"), "performance")
        missed = section(readme.render(README, results(startup_rows([0.5, 0.7])), "r.json"), "performance")
        goal = TARGETS["startup.after_class"].goal
        self.assertIn(f"| {goal} | class to first query | 0.110 s | <= 0.15 s | met |", met)
        self.assertIn("| class to first query | 0.600 s | <= 0.15 s | **missed** |", missed)
        self.assertIn("2 CPUs (Some CPU)", met)
        self.assertIn("Node.js v20.1.0", met)
        self.assertIn("on 2030-01-02 (UTC)", met)

    def test_targets_without_a_row_are_listed_as_not_measured(self) -> None:
        text = section(readme.render(README, results(startup_rows([0.3])), "r.json"), "performance")
        self.assertIn(f"| {TARGETS['memory.suite.peak'].goal} | not in this results file |", text)

    def test_migration_rows_give_the_cost_paragraph(self) -> None:
        rows = [
            Row("migrations.chain.pglite", "7 migration checks", "chain, PGlite", "s", [3.0, 3.2]),
            Row("migrations.chain.server", "7 migration checks", "chain, server", "s", [1.0, 1.0]),
            Row("migrations.chain.ratio", "7 migration checks", "chain: PGlite / server", "x", [3.0, 3.2]),
        ]
        text = section(readme.render(README, results(rows), "r.json"), "migration-cost")
        self.assertIn("| 7 migration checks | chain: PGlite / server | 3.10 x |", text)
        self.assertIn("<= 2 x: missed", text)

    def test_a_row_whose_runs_failed_shows_why_and_meets_no_target(self) -> None:
        failed = Row("first_run.first_query", "8 first run", "empty cache", "s", [], "1 of 1 runs killed after 300 s")
        text = section(readme.render(README, results([failed]), "r.json"), "performance")
        self.assertIn("| 8 first run | empty cache | not measured | - | 0 | 1 of 1 runs killed after 300 s |", text)
        self.assertIn("| empty cache | - s |  | not measured (its runs failed) |", text)

    def test_conclusions_take_their_figures_from_the_rows_and_skip_what_is_missing(self) -> None:
        suite = [
            Row("suite.pglite", "4 suite wall time", "ours", "s", [4.0, 4.2]),
            Row("suite.server", "4 suite wall time", "server", "s", [2.0]),
            Row("suite.postgres", "4 suite wall time", "backend", "s", [3.0]),
        ]
        said = "\n".join(readme.conclusions([row.as_dict() for row in suite]))
        self.assertIn("takes 4.1 s on PGlite and 2.0 s on the server (2.0 x)", said)
        self.assertIn('3.0 s with `backend = "postgres"` (0.7 x PGlite\'s time', said)
        self.assertNotIn("Bulk loading", said)  # no bulk rows in this run: no sentence about them
        self.assertEqual(readme.conclusions([suite[1].as_dict()]), [])

    def test_scenarios_are_listed_in_their_numbers_order(self) -> None:
        rows = [
            Row("bulk.pglite.copy", "10 bulk loading", "copy", "s", [0.5]),
            Row("startup.empty", "2 start-up to first query", "empty", "s", [0.9]),
        ]
        text = section(readme.render(README, results(rows), "r.json"), "performance")
        self.assertLess(text.index("| 2 start-up"), text.index("| 10 bulk loading"))
        self.assertLess(text.index("2. **Start-up**"), text.index("10. **Bulk loading**"))

    def test_without_markers_the_error_names_them(self) -> None:
        with self.assertRaisesRegex(SystemExit, "bench:performance:begin"):
            readme.render("# no markers\n", results([]), "r.json")

    def test_check_reports_a_readme_that_differs(self) -> None:
        with tempfile.TemporaryDirectory() as directory:
            path, data = Path(directory) / "README.md", Path(directory) / "r.json"
            path.write_text(README)
            data.write_text(json.dumps(results(startup_rows([0.3]))))
            with contextlib.redirect_stdout(io.StringIO()) as out:
                self.assertEqual(readme.main([str(data), "--page", str(path), "--check"]), 1)
            self.assertIn("python -m bench.readme", out.getvalue())
            self.assertEqual(path.read_text(), README)
            self.assertEqual(readme.main([str(data), "--page", str(path)]), 0)
            self.assertEqual(readme.main([str(data), "--page", str(path), "--check"]), 0)

    def test_a_quick_run_is_refused(self) -> None:
        with tempfile.TemporaryDirectory() as directory:
            path, data = Path(directory) / "README.md", Path(directory) / "r.json"
            path.write_text(README)
            data.write_text(json.dumps({**results([]), "quick": True}))
            with contextlib.redirect_stderr(io.StringIO()) as err, self.assertRaises(SystemExit):
                readme.main([str(data), "--readme", str(path)])
            self.assertIn("--quick run", err.getvalue())
            self.assertEqual(path.read_text(), README)


class ProjectPageTests(unittest.TestCase):
    def test_performance_page_is_what_its_results_file_gives(self) -> None:
        text = (ROOT / "docs" / "performance.md").read_text()
        match = re.search(r"<!-- bench:performance:begin: generated by `python -m bench.readme (\S+)`", text)
        self.assertIsNotNone(match, "docs/performance.md names no results file in its performance marker")
        assert match is not None
        data = json.loads((ROOT / match.group(1)).read_text())
        self.assertEqual(
            readme.render(text, data, match.group(1)),
            text,
            f"docs/performance.md was edited by hand: run python -m bench.readme {match.group(1)}",
        )

    def test_the_readme_has_no_benchmark_section_left(self) -> None:
        self.assertNotIn("<!-- bench:", (ROOT / "README.md").read_text())

    def test_the_default_page_is_docs_performance(self) -> None:
        self.assertEqual(readme.PAGE, ROOT / "docs" / "performance.md")


if __name__ == "__main__":
    unittest.main()
