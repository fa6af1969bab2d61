"""Helpers for the library's own tests."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

import psutil

from . import RUN_DIR

HERE = Path(__file__).resolve().parent
ALEMBIC_OK = HERE / "alembic_ok" / "alembic.ini"
ALEMBIC_BROKEN = HERE / "alembic_broken" / "alembic.ini"
ALEMBIC_OWN_ENGINE = HERE / "alembic_own_engine" / "alembic.ini"


def run_case(case: type[unittest.TestCase]) -> unittest.TestResult:
    """Run a test class defined inside a test, the way unittest's runner would, its tests in the order
    they are written (a sequence of steps is one test of the caller, not an alphabetical accident)."""
    result = unittest.TestResult()
    unittest.TestSuite(case(name) for name in written_order(case)).run(result)
    return result


def written_order(case: type[unittest.TestCase]) -> list[str]:
    """The class's test methods, those of its bases first, each class's in the order written."""
    names = unittest.defaultTestLoader.getTestCaseNames(case)
    position: dict[str, int] = {}
    for klass in reversed(case.__mro__):
        for name in vars(klass):
            position.setdefault(name, len(position))
    return sorted(names, key=lambda name: position.get(name, len(position)))


def problems(result: unittest.TestResult) -> str:
    return "\n".join(text for _, text in result.errors + result.failures)


def node_children() -> set[int]:
    """PIDs of the node processes this test process started and that still run."""
    return {
        child.pid
        for child in psutil.Process().children(recursive=True)
        if child.is_running() and child.status() != psutil.STATUS_ZOMBIE and "node" in child.name()
    }


def run_node_processes() -> set[int]:
    """PIDs of the live PGlite node processes of this test run, its subprocesses' included.

    A node process whose test process died is no longer a descendant of this one,
    so they are found by their private directory, which lies in this run's
    temporary directory (node's arguments name it).
    """
    found = set()
    for process in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            arguments = process.info["cmdline"] or []
            if process.info["status"] != psutil.STATUS_ZOMBIE and any(RUN_DIR in argument for argument in arguments):
                if any(argument.endswith("server.js") for argument in arguments):
                    found.add(process.info["pid"])
        except (psutil.Error, TypeError):
            continue
    return found


def private_dirs() -> set[str]:
    """The PGlite private directories in this run's temporary directory."""
    return {path.name for path in Path(tempfile.gettempdir()).glob("pglite-testcase-*")}


ON_SERVER_URL = bool(os.environ.get("PGLITE_TESTCASE_DATABASE_URL"))
# The package's own PostgreSQL server (the postgres backend) for the whole run.
ON_PACKAGE_POSTGRES = not ON_SERVER_URL and os.environ.get("PGLITE_TESTCASE_BACKEND", "").strip() == "postgres"
ON_SERVER = ON_SERVER_URL or ON_PACKAGE_POSTGRES  # a real PostgreSQL server, not PGlite
pglite_only = unittest.skipIf(ON_SERVER, "about PGlite itself; this run uses a real PostgreSQL server")
server_only = unittest.skipUnless(ON_SERVER_URL, "needs a real PostgreSQL server (PGLITE_TESTCASE_DATABASE_URL)")


def process_running(pid: int) -> bool:
    """Whether a process runs (a zombie does not)."""
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:  # gone, or going
        return False


def assert_death_stays_in_its_test(
    test: unittest.TestCase, victim: type[unittest.TestCase], dying: str, *fragments: str
) -> None:
    """``victim``'s test ``dying`` makes PGlite stop; only that test errors, quoting ``fragments``,
    and the next test of the class, and a plain class after it, get a working instance."""
    from sqlalchemy import text

    from pglite_testcase import PGliteTestCase

    from .models import Base

    class NextClass(PGliteTestCase):
        metadata = Base

        def test_works(self) -> None:
            self.assertEqual(self.connection.scalar(text("SELECT count(*) FROM authors")), 0)

    result = run_case(victim)
    test.assertEqual(result.testsRun, 2)
    failed = {case.id().rsplit(".", 1)[1] for case, _ in result.errors + result.failures}
    test.assertEqual(failed, {dying}, problems(result))
    for fragment in ("PGlite stopped during this test", *fragments):
        test.assertIn(fragment, problems(result))
    later = run_case(NextClass)
    test.assertTrue(later.wasSuccessful(), problems(later))


# The first line of a child that a test interrupts with SIGINT: Ctrl-C reaches it as it
# reaches a program in a terminal even when this run was started with SIGINT ignored (a
# shell's background job ignores SIGINT and SIGQUIT, and its children inherit that).
SIGINT_AS_IN_A_TERMINAL = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)"


def describe_process_tree(pid: int) -> str:
    """What a stuck child and its descendants are doing: for a failure message, not for a decision.

    Each line: pid, name, state, and the signal masks (ignored, blocked, caught) from /proc.
    """
    lines = []
    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.Error as error:
        return f"process {pid}: {error}"
    for member in members:
        try:
            status = Path(f"/proc/{member.pid}/status").read_text()
            masks = " ".join(
                line.replace("\t", "")
                for line in status.splitlines()
                if line.startswith(("SigIgn", "SigBlk", "SigCgt"))
            )
            lines.append(f"{member.pid} {member.name()} {member.status()} {masks} {' '.join(member.cmdline())[:120]!r}")
        except (OSError, psutil.Error) as error:
            lines.append(f"{member.pid}: {error}")
    return "\n".join(lines)


def communicate_or_explain(test: unittest.TestCase, child: subprocess.Popen[str], timeout: float) -> str:
    """The child's stderr once it exits; past ``timeout``, fail with what it and its children were doing.

    A child that registered ``faulthandler`` on SIGUSR1 adds its Python stack to the message.
    """
    try:
        return child.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        tree = describe_process_tree(child.pid)
        try:
            child.send_signal(signal.SIGUSR1)
            time.sleep(1)
        except OSError:
            pass
        for member in psutil.Process(child.pid).children(recursive=True) if psutil.pid_exists(child.pid) else []:
            member.kill()
        child.kill()
        _, err = child.communicate()
        test.fail(f"the child was still running {timeout:.0f} s later:\n{tree}\nits stderr:\n{err[-4000:]}")
