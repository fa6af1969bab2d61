"""The library's own tests.

Everything a run makes in the temporary directory (PGlite's private directories,
installs, snapshots of the tests' own caches) goes to a directory of its own,
removed when the run ends: checks for leftovers look only there, so two runs of
the suite at the same time never see each other's files. Subprocesses inherit
it through ``TMPDIR``; a test process started by the suite reuses its parent's.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

RUN_DIR_ENV = "PGLITE_TESTCASE_TESTS_TMPDIR"

if os.environ.get(RUN_DIR_ENV) and os.environ.get(RUN_DIR_ENV) == os.environ.get("TMPDIR"):
    RUN_DIR = os.environ[RUN_DIR_ENV]
else:
    RUN_DIR = tempfile.mkdtemp(prefix="pgtc-run-")
    os.environ[RUN_DIR_ENV] = os.environ["TMPDIR"] = RUN_DIR
    atexit.register(shutil.rmtree, RUN_DIR, True)
tempfile.tempdir = RUN_DIR
