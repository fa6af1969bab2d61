"""Ctrl-C during a long statement: the test process exits within seconds, and node with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import unittest
from pathlib import Path

from pglite_testcase.compat import SQLALCHEMY_2

from .support import SIGINT_AS_IN_A_TERMINAL, communicate_or_explain, pglite_only, process_running

ROOT = Path(__file__).resolve().parents[1]

LONG_STATEMENT_SUITE = (
    SIGINT_AS_IN_A_TERMINAL
    + """
import faulthandler, signal
faulthandler.register(signal.SIGUSR1)  # where it waits, if the test times out
import unittest
from pglite_testcase import PGliteTestCase

class Long(PGliteTestCase):
    statement_timeout = None   # no watchdog: only the Ctrl-C can end it
    driver = {driver!r}

    def test(self):
        self.connection.exec_driver_sql("SELECT 1")
        process = type(self).database.process
        print(process.process.pid, flush=True)
        self.connection.exec_driver_sql("SELECT pg_sleep(120)")

unittest.main(argv=["long"])
"""
)


@pglite_only
@unittest.skipUnless(SQLALCHEMY_2, "psycopg 3 (SQLAlchemy 2): psycopg2 cannot be interrupted inside a query")
class CtrlCDuringAStatement(unittest.TestCase):
    def test_psycopg_exits_within_seconds(self) -> None:
        child = subprocess.Popen(
            [sys.executable, "-c", LONG_STATEMENT_SUITE.format(driver="psycopg")],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PGLITE_TESTCASE_PRESTART": "0"},
        )
        assert child.stdout is not None
        node = int(child.stdout.readline())
        time.sleep(1.0)  # the statement is running now
        child.send_signal(signal.SIGINT)
        # Bounded, not timed: the statement runs 120 s, so the run ends here only if Ctrl-C ended it.
        err = communicate_or_explain(self, child, timeout=100)
        self.assertIn("KeyboardInterrupt", err)
        # The package stopped PGlite (psycopg's own cancel would have waited for the statement).
        self.assertIn("cancel", err.lower(), err[-2000:])
        deadline = time.monotonic() + 60
        while process_running(node) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(process_running(node), "node outlived the interrupted run")
