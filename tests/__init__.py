"""The library's own tests.

Everything a run makes in the temporary directory (PGlite's private directories,
installs, snapshots of the tests' own caches) goes to a directory of its own,
removed when the run ends: checks for leftovers look only there, so two runs of
the suite at the same time never see each other's files. Subprocesses inherit
it through ``TMPDIR``; a test process started by the suite reuses its parent's.
The directory of a run that was killed is removed by the next run.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile

RUN_DIR_ENV = "PGLITE_TESTCASE_TESTS_TMPDIR"


def _remove_killed_runs(parent: str) -> None:
    for entry in os.scandir(parent):
        match = re.fullmatch(r"pgtc-run-(\d+)-\w+", entry.name)
        if match is None or entry.stat(follow_symlinks=False).st_uid != os.geteuid():
            continue
        try:
            os.kill(int(match[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(entry.path, ignore_errors=True)
        except PermissionError:
            pass


if os.environ.get(RUN_DIR_ENV) and os.environ.get(RUN_DIR_ENV) == os.environ.get("TMPDIR"):
    RUN_DIR = os.environ[RUN_DIR_ENV]
else:
    _remove_killed_runs(tempfile.gettempdir())
    RUN_DIR = tempfile.mkdtemp(prefix=f"pgtc-run-{os.getpid()}-")
    os.environ[RUN_DIR_ENV] = os.environ["TMPDIR"] = RUN_DIR
    atexit.register(shutil.rmtree, RUN_DIR, True)
tempfile.tempdir = RUN_DIR

# The warm spare's keeper outlives the run that starts it: only tests/test_keep_warm.py starts
# one (in a directory of its own, stopped when the test ends), whatever the shell sets.
os.environ.pop("PGLITE_TESTCASE_KEEP_WARM", None)
