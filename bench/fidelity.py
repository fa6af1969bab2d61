"""How faithful PGlite (``python -m pglite_testcase serve``) is, as a driver's own test suite sees it.

``python -m bench.fidelity --psycopg-src DIR [--url REAL_SERVER_URL] [--files ...]``

Runs psycopg's test files with pytest (from the virtual environment given by
``--python``, which holds psycopg, pytest and pytest-timeout) twice each: on
the real PostgreSQL server at ``--url`` (a scratch database: the tests create
and drop objects in it) and on a fresh ``serve`` process per file. Outcomes
are recorded test by test as they happen (``bench/fidelity_recorder.py``), so
that a hang or a dead server costs only the test it happened in:

- a test that runs past ``--test-timeout`` fails (pytest-timeout); on PGlite
  the run then stops, the server is replaced and the file's remaining tests go
  on on the new one;
- if the ``serve`` process exits during a test, that test is a server death,
  and the rest of the file goes on on a new server the same way;
- ``--file-timeout`` bounds a file's whole time: the test running then is a
  hang, those not reached are "not run".

Prints the failures on PGlite of tests the real server passes, grouped by
cause (the error's type and the first line of its message), the server
deaths and the hangs, and last ``fidelity: N/M of the tests the real server
passes (X %)``. ``--output FILE`` saves every outcome as JSON.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

REPO = Path(__file__).resolve().parents[1]
RECORDER = Path(__file__).with_name("fidelity_recorder.py")
DEFAULT_PYTHON = "/work/fidelity-venv/bin/python"
DEFAULT_FILES = ("tests/test_*.py", "tests/types/test_*.py")
# Test parameters (fixtures) through which a psycopg test reaches the server.
CONNECTING_FIXTURES = frozenset(
    {"conn", "aconn", "dsn", "pgconn", "svcconn", "conn_cls", "aconn_cls", "session_dsn", "dsn_env", "conn_cnt"}
)
# What a test sees when the server is gone (or goes while it waits for an answer).
CONNECTION_LOST = re.compile(
    r"server closed the connection unexpectedly|connection to server (on socket|at) .* failed"
    r"|consuming input failed|connection is lost|connection is bad|Connection refused|SSL SYSCALL error"
)
TIMEOUT_MESSAGE = re.compile(r"Timeout \(?>[\d.]+s")
PASSED = "passed"
SERVER_DEATH = "server death"
HANG = "hang"
FILE_TIMEOUT = "file timeout"
HANG_GRACE = 15.0  # seconds past the per-test timeout after which the runner stops a test itself
NOT_RUN = "not run"


@dataclass
class Outcome:
    """One test on one target."""

    outcome: str  # passed failed error skipped xfailed xpassed, or: timeout, server death, hang, not run
    message: str = ""
    attempt: int = 1  # which server of the file's run (PGlite: a new one after each death or timeout)


@dataclass
class FileRun:
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    attempts: int = 0
    seconds: float = 0.0
    deaths: list[str] = field(default_factory=list)  # what each dead server said last


class Target(Protocol):
    name: str
    restart_after_timeout: bool

    def start(self) -> str: ...

    def died(self) -> bool: ...

    def died_at(self) -> float | None:
        """When the server exited (unix time), if it did."""

    def confirm_alive(self, dsn: str) -> bool:
        """Whether the server still answers (asked once pytest ended, so a death at the end is not missed)."""

    def last_words(self) -> str: ...

    def stop(self) -> None: ...


class RealServer:
    """The real PostgreSQL server: always there, nothing to start."""

    name = "real"
    restart_after_timeout = False

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def start(self) -> str:
        return self.dsn

    def died(self) -> bool:
        return False

    def died_at(self) -> float | None:
        return None

    def confirm_alive(self, dsn: str) -> bool:
        return True

    def last_words(self) -> str:
        return ""

    def stop(self) -> None:
        return None


class Serve:
    """A ``python -m pglite_testcase serve`` process of this checkout, one per attempt."""

    name = "pglite"
    restart_after_timeout = True

    def __init__(self, options: Sequence[str], log_dir: Path) -> None:
        self.options = list(options)
        self.log_dir = log_dir
        self.process: subprocess.Popen[str] | None = None
        self.stderr_path = log_dir / "serve.stderr"
        self.starts = 0
        self.exited_at: float | None = None
        self.stopping = False

    def start(self) -> str:
        self.starts += 1
        self.stderr_path = self.log_dir / f"serve-{self.starts}.stderr"
        with open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pglite_testcase", "serve", *self.options],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self.exited_at = None
        self.stopping = False
        threading.Thread(target=self._watch, args=(self.process,), daemon=True).start()
        assert self.process.stdout is not None
        url = self.process.stdout.readline().strip()
        if not url.startswith("postgresql://"):
            self.stop()
            raise RuntimeError(f"serve did not print a URL: {url!r}; its stderr:\n{self.last_words()}")
        return url

    def _watch(self, process: subprocess.Popen[str]) -> None:
        # Tests fail fast once the server is gone: its exact time tells which test it died in.
        process.wait()
        if process is self.process and not self.stopping:
            self.exited_at = time.time()

    def died(self) -> bool:
        return self.exited_at is not None

    def died_at(self) -> float | None:
        return self.exited_at

    def confirm_alive(self, dsn: str) -> bool:
        import psycopg

        try:
            psycopg.connect(dsn, connect_timeout=30).close()
            return True
        except psycopg.Error:
            pass
        if self.process is not None:
            try:
                self.process.wait(timeout=30)  # a server that no longer answers is on its way out
            except subprocess.TimeoutExpired:
                pass
        if self.exited_at is None:
            self.exited_at = time.time()
        return False

    def last_words(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace").strip()
        except OSError:
            return ""

    def stop(self) -> None:
        self.stopping = True
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def connecting(path: Path) -> bool:
    """Whether a test file has a test (or a fixture of its own) that takes a connecting fixture."""
    try:
        tree = ast.parse(path.read_text(), str(path))
    except (OSError, SyntaxError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            if any(argument.arg in CONNECTING_FIXTURES for argument in arguments):
                return True
    return False


def select_files(source: Path, patterns: Iterable[str]) -> tuple[list[str], list[str]]:
    """The test files to run (relative to ``source``), and those left out as never connecting."""
    chosen: list[str] = []
    client_only: list[str] = []
    for pattern in patterns:
        for path in sorted(source.glob(pattern)):
            relative = str(path.relative_to(source))
            if relative in chosen or relative in client_only or not path.name.startswith("test_"):
                continue
            (chosen if connecting(path) else client_only).append(relative)
    return chosen, client_only


class Events:
    """The recorder's JSON lines, read as they are written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.collected: list[str] = []
        self.started: list[tuple[str, float]] = []
        self.results: dict[str, tuple[str, str]] = {}

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, encoding="utf-8") as file:
                file.seek(self.offset)
                text = file.read()
        except FileNotFoundError:
            return []
        complete, _, _ = text.rpartition("\n")
        if not complete:
            return []
        self.offset += len(complete.encode()) + 1
        events = [json.loads(line) for line in complete.split("\n") if line]
        for event in events:
            if event["e"] == "collected":
                self.collected = list(event["ids"])
            elif event["e"] == "start":
                self.started.append((event["id"], float(event["t"])))
            elif event["e"] == "result":
                self.results[event["id"]] = (event["outcome"], event["message"])
        return events

    def running(self, at: float | None = None) -> str | None:
        """The test that was running at unix time ``at`` (default: the one started and not ended, if any)."""
        if at is not None:
            before = [test_id for test_id, started in self.started if started <= at]
            return before[-1] if before else None
        if self.started and self.started[-1][0] not in self.results:
            return self.started[-1][0]
        return None

    def death_test(self, died_at: float) -> str | None:
        """The test the server died in.

        The server's exit is noticed a little after its death, and tests that find no server fail
        (or skip) fast: of the tests begun before the exit was noticed, the last run of lost
        connections, with only passes between them (tests that need no server), began with the
        one it died in. Without such a run, the test running then."""
        before = [test_id for test_id, started in self.started if started <= died_at]
        first_lost: str | None = None
        for test_id in reversed(before):
            outcome, message = self.results.get(test_id, ("", ""))
            if outcome in ("failed", "error", "skipped") and CONNECTION_LOST.search(message):
                first_lost = test_id
            elif outcome in ("failed", "error"):
                break
        return first_lost or self.running(died_at)

    def running_for(self) -> float:
        """Seconds since the test now running began (0 if none runs)."""
        if not self.started or self.started[-1][0] in self.results:
            return 0.0
        return time.time() - self.started[-1][1]

    def started_after(self, test_id: str | None, at: float) -> set[str]:
        """The tests started after ``test_id`` (or, without one, after unix time ``at``)."""
        ids = [started_id for started_id, _ in self.started]
        if test_id is not None and test_id in ids:
            return set(ids[ids.index(test_id) + 1 :])
        return {started_id for started_id, started in self.started if started > at}


def is_timeout(outcome: str, message: str) -> bool:
    return outcome in ("failed", "error") and bool(TIMEOUT_MESSAGE.search(message))


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # pytest and whatever it started
        except OSError:
            process.kill()
    process.wait()


def run_file(
    target: Target,
    test_file: str,
    *,
    python: str,
    source: Path,
    work: Path,
    plugin_dir: Path,
    test_timeout: float,
    file_timeout: float,
    log: Any,
) -> FileRun:
    """One test file on one target; on PGlite a new server after each death or timeout."""
    run = FileRun()
    started = time.monotonic()
    deadline = started + file_timeout
    remaining: list[str] | None = None  # None: the whole file
    collected: list[str] = []
    while True:
        run.attempts += 1
        attempt_dir = work / f"attempt-{run.attempts}"
        attempt_dir.mkdir(parents=True)
        events = Events(attempt_dir / "events.jsonl")
        dsn = target.start()
        command = [
            python,
            "-m",
            "pytest",
            "-p",
            "fidelity_recorder",
            "-p",
            "no:randomly",
            "-o",
            f"cache_dir={attempt_dir / 'cache'}",
            "-q",
            "--no-header",
            f"--timeout={test_timeout:g}",
            "--test-dsn",
            dsn,
            *(remaining if remaining is not None else [test_file]),
        ]
        env = {**os.environ, "PYTHONPATH": str(plugin_dir), "FIDELITY_EVENTS": str(events.path)}
        env.pop("PSYCOPG_TEST_DSN", None)
        env.pop("PGLITE_TESTCASE_DATABASE_URL", None)
        with open(attempt_dir / "pytest.log", "wb") as output:
            process = subprocess.Popen(
                command, cwd=source, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        reason: str | None = None
        while reason is None:
            try:
                process.wait(timeout=0.25)
            except subprocess.TimeoutExpired:
                pass
            for event in events.read():
                if event["e"] == "result" and target.restart_after_timeout:
                    if is_timeout(event["outcome"], event["message"]):
                        reason = "timeout"
            if reason is None and process.poll() is not None:
                events.read()
                reason = "finished"
            elif reason is None and target.died():
                reason = SERVER_DEATH
            elif reason is None and time.monotonic() > deadline:
                reason = FILE_TIMEOUT
            elif reason is None and events.running_for() > test_timeout + HANG_GRACE:
                reason = HANG  # pytest-timeout did not stop it (a wait its signal does not end)
        stop_process(process)
        events.read()
        if reason == "finished" and not target.confirm_alive(dsn):
            reason = SERVER_DEATH  # died near the end, before it was noticed
        died_at = target.died_at() if reason == SERVER_DEATH else None
        running = events.running(died_at) if died_at is None else events.death_test(died_at)
        # What ran after the death ran on no server: it runs again on the next one.
        ignored = events.started_after(running, died_at) if died_at is not None else set()
        words = target.last_words() if reason == SERVER_DEATH else ""
        target.stop()
        if events.collected and not collected:
            collected = events.collected
        for test_id, (outcome, message) in events.results.items():
            if test_id not in ignored:
                run.outcomes[test_id] = Outcome(outcome, message, run.attempts)
        if reason == SERVER_DEATH:
            run.deaths.append(death_cause(words))
        if running is not None:
            if reason == SERVER_DEATH:
                run.outcomes[running] = Outcome(SERVER_DEATH, death_cause(words), run.attempts)
            elif reason == FILE_TIMEOUT:
                message = f"still running when the file's {file_timeout:g} s ran out"
                run.outcomes[running] = Outcome(HANG, message, run.attempts)
            elif reason == HANG:
                message = (
                    f"still running {test_timeout + HANG_GRACE:g} s after it began (pytest-timeout did not end it)"
                )
                run.outcomes[running] = Outcome(HANG, message, run.attempts)
            elif reason == "finished":
                run.outcomes[running] = Outcome("crash", "pytest exited during this test", run.attempts)
            # After a timeout the runner stopped pytest itself: the test it was in runs again.
        print(
            f"  {target.name} attempt {run.attempts}: {len(events.results) - len(ignored)} results, ended by {reason}"
            + (f" in {running}" if reason in (SERVER_DEATH, HANG) and running else ""),
            file=log,
            flush=True,
        )
        left = [test_id for test_id in collected if test_id not in run.outcomes]
        if not left or reason in ("finished", FILE_TIMEOUT) or left == remaining:
            break
        remaining = left
    for test_id in collected:
        run.outcomes.setdefault(test_id, Outcome(NOT_RUN, "", run.attempts))
    run.seconds = time.monotonic() - started
    return run


def death_cause(last_words: str) -> str:
    """The line of a dead server's output that says what happened."""
    lines = [line.strip() for line in last_words.splitlines() if line.strip()]
    output = (
        lines[lines.index(next(x for x in lines if x.startswith("error:"))) + 1 :]
        if any(line.startswith("error:") for line in lines)
        else lines
    )
    for line in output:
        if re.search(r"(Error|error|Exception|abort|trap|unreachable|statement_timeout)", line) and not line.startswith(
            "at "
        ):
            return line[:200]
    return (output[-1] if output else "(no output)")[:200]


_NOISE = (
    (re.compile(r"0x[0-9a-fA-F]+"), "0x…"),
    (re.compile(r"\b\d{4,}\b"), "N"),
    (re.compile(r"/tmp/[^\s'\"]+"), "/tmp/…"),
    (re.compile(r"(?<![A-Za-z])'[^']*'"), "'…'"),  # values: the same failure on other data is the same cause
)


def kind(key: str) -> str:
    """The error type of a cause ("psycopg.DataError: ..." → psycopg.DataError; "assert ..." → AssertionError)."""
    head = key.split(":", 1)[0].strip()
    if key.startswith("assert"):
        return "AssertionError"
    if re.fullmatch(r"[A-Za-z_][\w.]*", head):
        return head
    return "other"


def cause(outcome: Outcome) -> str:
    """A group key: the error's type and the first line of its message, numbers and addresses blurred."""
    lines = [line for line in outcome.message.strip().splitlines() if line.strip()]
    first = lines[0].strip() if lines else f"({outcome.outcome}, no message)"
    for pattern, replacement in _NOISE:
        first = pattern.sub(replacement, first)
    return first[:160]


def compare(results: dict[str, dict[str, Outcome]]) -> dict[str, Any]:
    """What PGlite did with the tests the real server passes."""
    real_passed = [test_id for test_id, by in results.items() if by.get("real", Outcome(NOT_RUN)).outcome == PASSED]
    pglite_passed = [
        test_id for test_id in real_passed if results[test_id].get("pglite", Outcome(NOT_RUN)).outcome == PASSED
    ]
    groups: dict[str, dict[str, list[str]]] = {
        "failures": defaultdict(list),
        "deaths": defaultdict(list),
        "hangs": defaultdict(list),
        "skipped": defaultdict(list),
        "not_run": defaultdict(list),
    }
    for test_id in real_passed:
        outcome = results[test_id].get("pglite", Outcome(NOT_RUN))
        if outcome.outcome == PASSED:
            continue
        if outcome.outcome == SERVER_DEATH:
            groups["deaths"][outcome.message].append(test_id)
        elif outcome.outcome == HANG or is_timeout(outcome.outcome, outcome.message):
            groups["hangs"]["per-test timeout" if outcome.outcome != HANG else outcome.message].append(test_id)
        elif outcome.outcome in ("skipped", "xfailed"):
            groups["skipped"][cause(outcome)].append(test_id)
        elif outcome.outcome == NOT_RUN:
            groups["not_run"]["not reached before the file's time ran out"].append(test_id)
        else:
            groups["failures"][cause(outcome)].append(test_id)
    only_pglite = [
        test_id
        for test_id, by in results.items()
        if by.get("pglite", Outcome(NOT_RUN)).outcome == PASSED and by.get("real", Outcome(NOT_RUN)).outcome != PASSED
    ]
    return {
        "real_passed": len(real_passed),
        "pglite_passed": len(pglite_passed),
        "fidelity_percent": round(100 * len(pglite_passed) / len(real_passed), 1) if real_passed else None,
        "groups": {
            name: dict(sorted(group.items(), key=lambda item: (-len(item[1]), item[0])))
            for name, group in groups.items()
        },
        "passed_on_pglite_only": only_pglite,
        "failures_by_type": dict(
            Counter(kind(key) for key, tests in groups["failures"].items() for _ in tests).most_common()
        ),
    }


def report(summary: dict[str, Any], totals: dict[str, Counter[str]], out: Any, examples: int = 3) -> None:
    for name, counter in totals.items():
        print(f"{name}: " + ", ".join(f"{count} {outcome}" for outcome, count in counter.most_common()), file=out)
    titles = {
        "failures": "Failures on PGlite of tests the real server passes, by cause",
        "deaths": "Server deaths (the serve process exited during the test), by the server's last words",
        "hangs": "Hangs (the test ran past its timeout, or the file's time ran out)",
        "skipped": "Skipped (or xfailed) on PGlite, passed on the real server, by reason",
        "not_run": "Not run on PGlite (the file's time ran out first)",
    }
    for name, title in titles.items():
        group: dict[str, list[str]] = summary["groups"][name]
        count = sum(len(tests) for tests in group.values())
        print(f"\n{title}: {count}", file=out)
        for key, tests in group.items():
            shown = ", ".join(tests[:examples]) + (f" (+{len(tests) - examples} more)" if len(tests) > examples else "")
            print(f"  {len(tests):5d}  {key}\n         e.g. {shown}", file=out)
    print("\nFailures by error type:", file=out)
    for name, count in summary.get("failures_by_type", {}).items():
        print(f"  {count:5d}  {name}", file=out)
    print(f"\nPassed on PGlite, not on the real server: {len(summary['passed_on_pglite_only'])}", file=out)
    for test_id in summary["passed_on_pglite_only"][:20]:
        print(f"         {test_id}", file=out)
    percent = summary["fidelity_percent"]
    print(
        f"\nfidelity: {summary['pglite_passed']}/{summary['real_passed']} of the tests the real server passes "
        f"({'n/a' if percent is None else f'{percent:.1f}'} %)",
        file=out,
    )


def libpq_dsn(url: str) -> str:
    """A libpq URL from a SQLAlchemy one (``postgresql+psycopg://`` → ``postgresql://``)."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def git_commit(source: Path) -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip() or None


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fidelity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--psycopg-src", type=Path, help="a psycopg source tree (holding tests/)")
    parser.add_argument("--report", type=Path, help="only print the report of a JSON file --output saved")
    parser.add_argument(
        "--combine", type=Path, nargs="+", help="only combine saved runs of different files into --output"
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("PGLITE_TESTCASE_DATABASE_URL"),
        help="the real server: a scratch database's URL (default: PGLITE_TESTCASE_DATABASE_URL)",
    )
    parser.add_argument(
        "--files", nargs="+", default=list(DEFAULT_FILES), help="test files or globs, relative to --psycopg-src"
    )
    parser.add_argument(
        "--python", default=DEFAULT_PYTHON, help="python of a venv with psycopg, pytest, pytest-timeout"
    )
    parser.add_argument("--psycopg-commit", help="the source tree's commit, if it is not a git checkout")
    parser.add_argument("--test-timeout", type=float, default=20.0, help="seconds per test (pytest-timeout)")
    parser.add_argument("--file-timeout", type=float, default=600.0, help="seconds per test file and target")
    parser.add_argument(
        "--serve-option", action="append", default=[], help="an option for serve, e.g. --serve-option=--tcp"
    )
    parser.add_argument("--output", type=Path, help="save the outcomes and the summary as JSON")
    parser.add_argument(
        "--merge-into",
        type=Path,
        help="a saved run (JSON) whose results for this run's files are replaced by this run's, saved as --output",
    )
    parser.add_argument("--keep-logs", type=Path, help="keep pytest's and serve's output in this directory")
    args = parser.parse_args(argv)
    if args.report:
        return args
    if args.combine:
        if not args.output:
            parser.error("--combine needs --output")
        return args
    if args.psycopg_src is None:
        parser.error("--psycopg-src is needed")
    if args.merge_into and not args.output:
        parser.error("--merge-into needs --output")
    if not args.url:
        parser.error("--url (or PGLITE_TESTCASE_DATABASE_URL) is needed: the real server the tests are compared with")
    if not (args.psycopg_src / "tests" / "conftest.py").is_file():
        parser.error(f"{args.psycopg_src} does not look like a psycopg source tree (no tests/conftest.py)")
    return args


def report_saved(path: Path) -> int:
    document = json.loads(path.read_text())
    results = {
        test_id: {name: Outcome(**outcome) for name, outcome in by.items()} for test_id, by in document["tests"].items()
    }
    totals = {name: Counter(by[name].outcome for by in results.values() if name in by) for name in ("real", "pglite")}
    done = len(document.get("files_done", document["files"]))
    print(
        f"psycopg {document['psycopg_commit'] or '(commit unknown)'}; {done} of {len(document['files'])} files"
        f"{'' if document.get('complete', True) else ' (an incomplete run)'}; {len(results)} tests; {document['date']}"
    )
    report(compare(results), totals, sys.stdout)
    return 0


def combine(paths: Sequence[Path], output: Path) -> int:
    """Saved runs of different files as one (a later run's files replace an earlier one's)."""
    documents = [json.loads(path.read_text()) for path in paths]
    tests: dict[str, Any] = {}
    files: list[str] = []
    file_seconds: dict[str, Any] = {}
    deaths: dict[str, Any] = {}
    for document in documents:
        done = list(document.get("files_done", document["files"]))
        tests = {test_id: by for test_id, by in tests.items() if test_id.split("::")[0] not in done}
        tests.update({test_id: by for test_id, by in document["tests"].items() if test_id.split("::")[0] in done})
        files += [name for name in done if name not in files]
        file_seconds.update({name: document["file_seconds"][name] for name in done})
        deaths = {name: d for name, d in deaths.items() if name not in done}
        deaths.update({name: d for name, d in document["server_deaths_by_file"].items() if name in done})
    results = {test_id: {name: Outcome(**outcome) for name, outcome in by.items()} for test_id, by in tests.items()}
    totals = {name: Counter(by[name].outcome for by in results.values() if name in by) for name in ("real", "pglite")}
    first = documents[0]
    combined = {
        "date": max(document["date"] for document in documents),
        "complete": True,
        "psycopg_commit": first["psycopg_commit"],
        "command": " ; ".join(document["command"] for document in documents),
        "commands": [command for document in documents for command in document.get("commands", [document["command"]])],
        "combined_from": [
            {
                "command": d["command"],
                "date": d["date"],
                "complete": d.get("complete", True),
                "files_done": d.get("files_done", d["files"]),
            }
            for d in documents
        ],
        "files": files,
        "files_done": files,
        "left_out_as_client_only": first["left_out_as_client_only"],
        "test_timeout": first["test_timeout"],
        "file_timeout": first["file_timeout"],
        "seconds": round(sum(float(document["seconds"]) for document in documents), 1),
        "file_seconds": file_seconds,
        "server_deaths_by_file": deaths,
        "totals": {name: dict(counter) for name, counter in totals.items()},
        "summary": compare(results),
        "tests": tests,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(combined, indent=1) + "\n")
    return report_saved(output)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    if args.report:
        return report_saved(args.report)
    if args.combine:
        return combine(args.combine, args.output)
    source: Path = args.psycopg_src.resolve()
    files, client_only = select_files(source, args.files)
    commit = args.psycopg_commit or git_commit(source)
    command = "python -m bench.fidelity " + " ".join(sys.argv[1:] if argv is None else argv)
    work_root = Path(tempfile.mkdtemp(prefix="fidelity-"))
    (work_root / "plugin").mkdir()
    shutil.copy(RECORDER, work_root / "plugin" / "fidelity_recorder.py")
    targets: list[Target] = [RealServer(libpq_dsn(args.url)), Serve(args.serve_option, work_root)]
    log = sys.stderr
    print(f"{len(files)} test files; left out as never connecting: {', '.join(client_only) or 'none'}", file=log)
    results: dict[str, dict[str, Outcome]] = defaultdict(dict)
    file_seconds: dict[str, dict[str, float]] = defaultdict(dict)
    deaths: dict[str, list[str]] = {}
    started = time.monotonic()

    base: dict[str, Any] | None = json.loads(args.merge_into.read_text()) if args.merge_into else None

    def save(complete: bool) -> None:
        if not args.output:
            return
        merged = {test_id: by for test_id, by in results.items()}
        all_files, seconds_by_file, deaths_by_file = list(files), dict(file_seconds), dict(deaths)
        commands = [command]
        if base is not None:  # this run's files replace theirs in the saved run
            for test_id, by in base["tests"].items():
                if test_id.split("::")[0] not in files:
                    merged[test_id] = {name: Outcome(**outcome) for name, outcome in by.items()}
            all_files = list(base["files"]) + [name for name in files if name not in base["files"]]
            seconds_by_file = {**base["file_seconds"], **file_seconds}
            deaths_by_file = {name: d for name, d in base["server_deaths_by_file"].items() if name not in files}
            deaths_by_file.update(deaths)
            commands = list(base.get("commands", [base["command"]])) + [command]
        totals = {
            name: Counter(by[name].outcome for by in merged.values() if name in by) for name in ("real", "pglite")
        }
        document = {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "complete": complete and (base is None or bool(base.get("complete", True))),
            "psycopg_commit": commit or (base or {}).get("psycopg_commit"),
            "command": commands[0],
            "commands": commands,
            "files": all_files,
            "files_done": [name for name in all_files if name in seconds_by_file],
            "left_out_as_client_only": client_only,
            "test_timeout": args.test_timeout,
            "file_timeout": args.file_timeout,
            "seconds": round(time.monotonic() - started, 1) + (base["seconds"] if base is not None else 0.0),
            "file_seconds": seconds_by_file,
            "server_deaths_by_file": deaths_by_file,
            "totals": {name: dict(counter) for name, counter in totals.items()},
            "summary": compare(merged),
            "tests": {
                test_id: {name: asdict(outcome) for name, outcome in by.items()} for test_id, by in merged.items()
            },
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(document, indent=1) + "\n")

    # SIGTERM ends the run as Ctrl-C does: servers stopped, what is done saved.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        for number, test_file in enumerate(files, 1):
            for target in targets:
                print(f"[{number}/{len(files)}] {test_file} on {target.name}", file=log, flush=True)
                work = work_root / "runs" / test_file.replace("/", "_") / target.name
                run = run_file(
                    target,
                    test_file,
                    python=args.python,
                    source=source,
                    work=work,
                    plugin_dir=work_root / "plugin",
                    test_timeout=args.test_timeout,
                    file_timeout=args.file_timeout,
                    log=log,
                )
                for test_id, outcome in run.outcomes.items():
                    results[test_id][target.name] = outcome
                file_seconds[test_file][target.name] = round(run.seconds, 1)
                if run.deaths:
                    deaths.setdefault(test_file, []).extend(run.deaths)
            save(complete=False)  # a run stopped early keeps what it measured
    finally:
        for target in targets:
            target.stop()
        if args.keep_logs:
            shutil.copytree(work_root, args.keep_logs, dirs_exist_ok=True)
        shutil.rmtree(work_root, ignore_errors=True)
    save(complete=True)
    if args.output:
        return report_saved(args.output)  # what was saved, merged runs included
    totals = {name: Counter(by[name].outcome for by in results.values() if name in by) for name in ("real", "pglite")}
    print(f"\npsycopg {commit or '(commit unknown)'}; {len(files)} files; {len(results)} tests", file=sys.stdout)
    report(compare(results), totals, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
