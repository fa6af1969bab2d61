"""The warm spare (``PGLITE_TESTCASE_KEEP_WARM=1``): the keeper hands a started PGlite to the next run.

Each test's runs share a temporary directory of their own (``TMPDIR``), so each has its own
keeper, which the test stops at the end; the checks for leftovers look at the processes whose
command line names that directory (the keeper, and the node processes of the private
directories in it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import psutil

from pglite_testcase.runtime import keeper

from . import RUN_DIR
from .support import pglite_only, process_running

ROOT = Path(__file__).resolve().parents[1]

ONE_TEST = """
import json, os, sys, time, unittest
from sqlalchemy import text
from pglite_testcase import PGliteTestCase

class One(PGliteTestCase):
    def test_query(self):
        self.assertEqual(self.connection.scalar(text("SELECT 41 + 1")), 42)
        process = type(self).database.process
        print(json.dumps({"node": process.process.pid, "adopted": "adopted" in process.timeline,
                          "private_dir": str(process.private_dir)}), flush=True)
        if os.environ.get("HOLD"):
            time.sleep(120)  # until the test kills this run

result = unittest.TextTestRunner(stream=open(os.devnull, "w")).run(
    unittest.defaultTestLoader.loadTestsFromTestCase(One))
sys.exit(0 if result.wasSuccessful() else str(result.errors + result.failures))
"""

WAIT = 120.0  # bounds, not timings: every wait below ends as soon as what it waits for happens


def wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"still waiting after {WAIT:g} s for {what}")


@pglite_only
class WarmSpare(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="keep-warm-", dir=RUN_DIR)
        self.directory = Path(self.tmp) / f"pglite-testcase-keeper-{os.geteuid()}"
        self.env = {
            **os.environ,
            "TMPDIR": self.tmp,
            "PGLITE_TESTCASE_KEEP_WARM": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        self.env.pop("PGLITE_TESTCASE_KEEP_WARM_IDLE", None)
        self.addCleanup(shutil.rmtree, self.tmp, True)  # (runs last)
        self.addCleanup(self.assert_nothing_left)

    # -- helpers -------------------------------------------------------------------------

    def ours(self) -> list[psutil.Process]:
        """The live processes this test's runs made: the keeper and every node in its directory."""
        found = []
        for process in psutil.process_iter(["cmdline", "status"]):
            try:
                if process.info["status"] != psutil.STATUS_ZOMBIE and any(
                    self.tmp in argument for argument in process.info["cmdline"] or []
                ):
                    found.append(process)
            except (psutil.Error, TypeError):
                continue
        return found

    def keeper_process(self) -> psutil.Process | None:
        # The command line read with the list: a process that exits meanwhile is no error.
        return next((p for p in self.ours() if "pglite_testcase.runtime.keeper" in p.info["cmdline"]), None)

    def spare(self) -> int | None:
        """The pid of the keeper's spare, once it has one."""
        holder = self.keeper_process()
        if holder is None:
            return None
        nodes = [child.pid for child in holder.children() if child.status() != psutil.STATUS_ZOMBIE]
        return nodes[0] if len(nodes) == 1 else None

    def run_one(self, **env: str) -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, "-c", ONE_TEST],
            cwd=ROOT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        self.assertEqual(done.returncode, 0, done.stderr[-3000:])
        report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
        return report

    def assert_nothing_left(self) -> None:
        keeper.stop_keeper(self.directory)
        try:
            wait_for(lambda: not self.ours(), "the keeper and its node processes to exit")
        finally:
            for process in self.ours():  # (only if the assertion failed: never leave one behind)
                process.kill()
        self.assertFalse((self.directory / keeper.SOCKET_NAME).exists(), "the keeper's socket is left")
        left = [path.name for path in Path(self.tmp).glob("pglite-testcase-*") if path != self.directory]
        self.assertEqual(left, [], "private directories left behind")

    # -- the tests -----------------------------------------------------------------------

    def test_the_next_run_takes_the_spare_and_stops_it_when_done(self) -> None:
        first = self.run_one()
        self.assertFalse(first["adopted"], "no keeper was running: the first run starts its own PGlite")
        wait_for(self.spare, "the keeper's spare (started once the first run exited)")
        spare = self.spare()
        second = self.run_one()
        self.assertTrue(second["adopted"])
        self.assertEqual(second["node"], spare, "the second run's PGlite is the spare")
        self.assertFalse(process_running(int(str(spare))), "the run stopped the spare it took when it ended")
        self.assertFalse(Path(str(second["private_dir"])).exists())
        wait_for(lambda: self.spare() not in (None, spare), "the next spare, once the second run ended")

    def test_a_spare_goes_to_one_run_only(self) -> None:
        self.run_one()
        wait_for(self.spare, "the keeper's spare")
        taken, fds = keeper._ask(self.directory, self.take_request())
        self.assertIsNotNone(taken["spare"])
        self.assertEqual(len(fds), 2)
        again, more = keeper._ask(self.directory, self.take_request())
        self.assertIsNone(again["spare"], "a second request while the first holds the spare gets none")
        self.assertEqual(more, [])
        node = int(taken["spare"]["pid"])
        for fd in fds:
            os.close(fd)  # its stdin closed: the spare stops, as when a run that took it ends
        wait_for(lambda: not process_running(node), "the spare whose pipes were closed to stop")

    def take_request(self) -> dict[str, object]:
        """What a run of ONE_TEST asks for (read from the keeper's spare settings)."""
        holder = self.keeper_process()
        assert holder is not None
        wanted = json.loads(holder.cmdline()[-2])
        return {"op": "take", "spare": wanted, "key": keeper.Spare(**wanted).key()}

    def test_a_run_killed_while_holding_the_spare_leaves_nothing(self) -> None:
        self.run_one()
        wait_for(self.spare, "the keeper's spare")
        spare = self.spare()
        holder = subprocess.Popen(
            [sys.executable, "-c", ONE_TEST], cwd=ROOT, env={**self.env, "HOLD": "1"}, stdout=subprocess.PIPE, text=True
        )
        try:
            assert holder.stdout is not None
            report = json.loads(holder.stdout.readline())
            self.assertTrue(report["adopted"])
            self.assertEqual(report["node"], spare)
        finally:
            holder.kill()
            holder.communicate()
        wait_for(lambda: not process_running(int(str(spare))), "the adopted node to stop after its run was killed")
        wait_for(lambda: not Path(str(report["private_dir"])).exists(), "its private directory to be removed")

    def test_a_spare_that_cannot_be_moved_in_is_stopped_and_left_to_nobody(self) -> None:
        from pglite_testcase.runtime.node_packages import NodePackages, find_node
        from pglite_testcase.runtime.process import PGliteProcess

        self.run_one()
        wait_for(self.spare, "the keeper's spare")
        spare = self.spare()
        wanted = json.loads(self.keeper_process().cmdline()[-2])  # type: ignore[union-attr]
        saved, tempfile.tempdir = tempfile.tempdir, self.tmp
        try:
            runtime = find_node()
            process = PGliteProcess(
                runtime, NodePackages().ensure_installed(runtime), load_data_dir=Path(wanted["load_data_dir"])
            )
            (process.private_dir / "in the way").write_text("")  # the spare's directory cannot replace it
            with mock.patch.dict(os.environ, {"TMPDIR": self.tmp}):
                with self.assertRaises(OSError):
                    keeper.take_spare(process, wanted["content"])
        finally:
            tempfile.tempdir = saved
        self.assertIsNone(process.process)
        self.assertFalse(process.private_dir.exists())
        wait_for(lambda: not process_running(int(str(spare))), "the spare that was not adopted to stop")

    def test_the_keeper_exits_by_itself_when_idle(self) -> None:
        self.run_one(PGLITE_TESTCASE_KEEP_WARM_IDLE="1")
        wait_for(lambda: self.keeper_process() is None, "the idle keeper to exit")
        wait_for(lambda: not self.ours(), "its spare to stop with it")

    def test_a_keeper_directory_others_can_reach_is_not_used(self) -> None:
        self.directory.mkdir(mode=0o700)
        self.directory.chmod(0o755)  # not writable by others, but reachable: the socket would be
        done = subprocess.run(
            [sys.executable, "-c", ONE_TEST], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=WAIT
        )
        self.assertEqual(done.returncode, 0, done.stderr[-3000:])
        self.assertIn("not using the warm spare's keeper directory", done.stderr)
        self.assertIn("other users can reach it (mode 0755)", done.stderr)
        self.assertIsNone(self.keeper_process())
        self.directory.chmod(0o700)


if __name__ == "__main__":
    unittest.main()
