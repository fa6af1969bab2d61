"""What happens around PGlite when things go wrong: killed processes, forks, damaged, foreign or read-only caches."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from pglite_testcase import CacheInstallError, UnsafeCacheError
from pglite_testcase.database.pglite import PGliteDatabase
from pglite_testcase.database.snapshots import EMPTY, SnapshotStore
from pglite_testcase.runtime.node_packages import NodePackages, find_node
from pglite_testcase.runtime.process import PGliteProcess

from .support import SIGINT_AS_IN_A_TERMINAL, communicate_or_explain, pglite_only, process_running

ROOT = Path(__file__).resolve().parents[1]
NEVER_ENDING = "SELECT count(*) FROM generate_series(1, 100000000000)"


alive = process_running


def wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def python(code: str, **options: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=options.pop("cwd", ROOT),
        env={**os.environ, "PYTHONPATH": str(ROOT), **options.pop("env", {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


def installed_runtime() -> tuple[Any, Path]:
    runtime = find_node()
    return runtime, NodePackages().ensure_installed(runtime)


def copy_of_the_cache(test: unittest.TestCase) -> Path:
    """A cache directory of the test's own, holding a complete install (copied, not downloaded)."""
    installed_runtime()
    root = Path(tempfile.mkdtemp(prefix="pgtc-cache-"))
    test.addCleanup(shutil.rmtree, root, True)
    shutil.copytree(NodePackages().directory, NodePackages(root).directory, symlinks=True)
    return root


@contextmanager
def environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def dead_pid() -> int:
    """The pid of a process that has exited (and was reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pglite_only
class TestProcessKilled(unittest.TestCase):
    def test_node_exits_and_cleans_up_while_pglite_runs_a_long_statement(self) -> None:
        # PGlite runs the statement on node's main thread, which then reads neither its
        # stdin nor anything else: only the watchdog thread can notice the parent is gone.
        child = python(
            f"""
            import psycopg
            from pglite_testcase.runtime.node_packages import NodePackages, find_node
            from pglite_testcase.runtime.process import PGliteProcess
            runtime = find_node()
            process = PGliteProcess(runtime, NodePackages().ensure_installed(runtime))
            process.start()
            with psycopg.connect(
                host=str(process.private_dir), user="postgres", password="postgres", dbname="postgres"
            ) as connection:
                print(process.process.pid, process.private_dir, flush=True)
                connection.execute({NEVER_ENDING!r})
            """
        )
        assert child.stdout is not None
        line = child.stdout.readline().split()
        if len(line) != 2:
            child.kill()
            self.fail(child.communicate()[1])
        node_pid, private_dir = int(line[0]), Path(line[1])
        self.addCleanup(lambda: alive(node_pid) and os.kill(node_pid, signal.SIGKILL))
        time.sleep(0.5)  # the statement is running
        child.kill()
        child.communicate()
        self.assertTrue(wait_for(lambda: not alive(node_pid), 10), "node outlived its test process")
        self.assertFalse(private_dir.exists(), "the private directory outlived the test process")


@pglite_only
class CancelStatement(unittest.TestCase):
    def test_cancel_statement_stops_a_long_statement_at_once(self) -> None:
        runtime, node_modules = installed_runtime()
        process = PGliteProcess(runtime, node_modules)
        self.addCleanup(process.stop)
        process.start()
        connection = psycopg.connect(host=str(process.private_dir), user="postgres", password="x", dbname="postgres")
        self.addCleanup(connection.close)
        threading.Timer(0.5, process.cancel_statement).start()
        started = time.monotonic()
        with self.assertRaises(psycopg.OperationalError):
            connection.execute(NEVER_ENDING)
        self.assertLess(
            time.monotonic() - started, 60, "a never-ending statement was not stopped"
        )  # a bound, not a timing
        self.assertIn(
            "a statement was cancelled (Ctrl-C); PGlite cannot cancel a running statement, so this PGlite process stops",
            process.output_tail(),
        )
        assert process.process is not None
        self.assertEqual(process.process.wait(timeout=5), -signal.SIGKILL)

    def test_ctrl_c_during_a_long_statement_ends_the_run_at_once(self) -> None:
        # psycopg answers Ctrl-C with cancel_safe() and waits up to 5 s more: a connection
        # class whose cancel_safe() calls cancel_statement() (as the test cases' do) ends it.
        child = python(
            f"""
            {SIGINT_AS_IN_A_TERMINAL}
            import faulthandler, signal
            faulthandler.register(signal.SIGUSR1)  # where it waits, if the test times out
            import psycopg
            from pglite_testcase.runtime.node_packages import NodePackages, find_node
            from pglite_testcase.runtime.process import PGliteProcess
            runtime = find_node()
            process = PGliteProcess(runtime, NodePackages().ensure_installed(runtime))
            process.start()
            class Connection(psycopg.Connection):
                def cancel_safe(self, *, timeout=30.0):
                    process.cancel_statement()
            with Connection.connect(host=str(process.private_dir), user="postgres", dbname="postgres") as connection:
                print("running", flush=True)
                connection.execute({NEVER_ENDING!r})
            """
        )
        assert child.stdout is not None
        self.assertEqual(child.stdout.readline().strip(), "running")
        time.sleep(0.5)
        started = time.monotonic()
        child.send_signal(signal.SIGINT)
        # The statement never ends: only the Ctrl-C can end the run.
        err = communicate_or_explain(self, child, timeout=120)
        self.assertLess(time.monotonic() - started, 120)
        self.assertIn("KeyboardInterrupt", err)

    def test_cancel_statement_in_a_forked_child_or_after_stop_does_nothing(self) -> None:
        runtime, node_modules = installed_runtime()
        process = PGliteProcess(runtime, node_modules)
        process.start()
        process.stop()
        process.cancel_statement()  # nothing running: no error


@pglite_only
class Leftovers(unittest.TestCase):
    """What processes killed half-way left is removed by the next start; what live processes own, never."""

    def test_private_directories_of_dead_processes_are_removed_at_the_next_start(self) -> None:
        parent = Path(tempfile.mkdtemp(prefix="pgtc-leftovers-"))
        self.addCleanup(shutil.rmtree, parent, True)
        dead = parent / f"pglite-testcase-{dead_pid()}-abcd1234"
        live = parent / f"pglite-testcase-{os.getpid()}-abcd1234"
        unnamed = parent / "pglite-testcase-olderstyle"
        for directory in (dead, live, unnamed):
            directory.mkdir()
        script = """
            import tempfile, sys
            tempfile.tempdir = sys.argv[1]
            from pglite_testcase.runtime.node_packages import NodePackages, find_node
            from pglite_testcase.runtime.process import PGliteProcess
            runtime = find_node()
            process = PGliteProcess(runtime, NodePackages().ensure_installed(runtime))
            process.start()
            process.stop()
            """
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script), str(parent)], cwd=ROOT, capture_output=True, text=True
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(sorted(path.name for path in parent.iterdir()), sorted([live.name, unnamed.name]))

    def test_a_kill_during_the_start_leaves_no_private_directory(self) -> None:
        parent = Path(tempfile.mkdtemp(prefix="pgtc-killed-"))
        self.addCleanup(shutil.rmtree, parent, True)
        script = """
            import tempfile, sys
            tempfile.tempdir = sys.argv[1]
            from pglite_testcase.database.pglite import PGliteDatabase
            PGliteDatabase.start()
            print("started", flush=True)
            """
        for delay in (0.05, 0.3, 0.6, 0.9):
            child = subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(script), str(parent)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "PGLITE_TESTCASE_PRESTART": "0"},
            )
            time.sleep(delay)
            child.kill()
            child.wait()
        # node notices its parent's death by itself; a directory made before node started
        # is removed by the next start.
        runtime, node_modules = installed_runtime()
        with environment(TMPDIR=str(parent)):
            saved, tempfile.tempdir = tempfile.tempdir, str(parent)
            try:
                self.assertTrue(wait_for(lambda: self._start_and_stop(runtime, node_modules, parent), 10))
            finally:
                tempfile.tempdir = saved

    def _start_and_stop(self, runtime: Any, node_modules: Path, parent: Path) -> bool:
        from pglite_testcase.runtime import process as pglite_process

        pglite_process._swept.discard(str(parent))
        process = PGliteProcess(runtime, node_modules)
        process.start()
        process.stop()
        return list(parent.iterdir()) == []

    def test_a_kill_while_saving_a_snapshot_leaves_no_half_pair(self) -> None:
        root = Path(tempfile.mkdtemp(prefix="pgtc-snapshots-"))
        self.addCleanup(shutil.rmtree, root, True)
        # Killed after the tarball is in place and before its metadata is (the worst moment),
        # and killed while node writes the tarball.
        left: dict[str, list[str]] = {}
        for kill_at in ("between renames", "during dump"):
            script = f"""
                import os, signal, sys
                from pathlib import Path
                from pglite_testcase.database import snapshots
                from pglite_testcase.runtime.node_packages import NodePackages, find_node
                from pglite_testcase.runtime.process import PGliteProcess
                runtime = find_node()
                process = PGliteProcess(runtime, NodePackages().ensure_installed(runtime))
                process.start()
                store = snapshots.SnapshotStore(Path(sys.argv[1]))
                real_replace = os.replace
                def replace_then_die(source, target):
                    real_replace(source, target)
                    os.kill(os.getpid(), signal.SIGKILL)
                def dump_then_die(path):
                    process.dump_data_dir(path)
                    os.kill(os.getpid(), signal.SIGKILL)
                if {kill_at!r} == "between renames":
                    snapshots.os.replace = replace_then_die
                    store.save(process.dump_data_dir, "schema-x", 1.0)
                else:
                    store.save(dump_then_die, "schema-x", 1.0)
                """
            subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(root)], cwd=ROOT, timeout=120)
            left[kill_at] = sorted(path.name.split(".", 1)[1] for path in root.iterdir())
            self.assertIsNone(SnapshotStore(root).find("schema-x"), kill_at)
        self.assertIn("tar", left["between renames"])
        self.assertNotIn("json", left["between renames"], "the metadata is renamed last: a tarball without it")
        self.assertTrue(any(name.endswith(".tmp") for name in left["during dump"]), "a temporary tarball")
        self.assertNotIn("tmp", [name.rsplit(".", 1)[-1] for name in (path.name for path in root.iterdir())])
        for path in root.iterdir():
            os.utime(path, (time.time() - 3600, time.time() - 3600))
        store = SnapshotStore(root)
        self.assertIsNone(store.find("schema-x"))  # the next process that opens the store cleans up
        self.assertEqual(list(root.iterdir()), [])

    def test_staging_directories_of_dead_installers_are_removed(self) -> None:
        root = copy_of_the_cache(self)
        dead = root / f".install-{dead_pid()}-abcd"
        live = root / f".install-{os.getpid()}-abcd"
        for directory in (dead, live):
            directory.mkdir()
        packages = NodePackages(root)
        packages.invalidate()
        with self.assertLogs("pglite_testcase", "WARNING"):
            packages.ensure_installed(find_node())
        self.assertFalse(dead.exists())
        self.assertTrue(live.exists())


FORK_SCRIPT = """
import multiprocessing, os, sys
from pathlib import Path
import psycopg
from pglite_testcase.database.provision import shared_database

database = shared_database()
process = database.process
private_dir = process.private_dir

def answers():
    with psycopg.connect(host=str(private_dir), user="postgres", password="postgres", dbname="postgres") as connection:
        return connection.execute("SELECT 1").fetchone() == (1,)

def stop_in_child():
    process.stop()
    shared_database().stop()  # the child gets its own instance; stopping it leaves the parent's alone

pid = os.fork()
if pid == 0:
    sys.exit(0)  # atexit runs: it must not stop the parent's PGlite
os.waitpid(pid, 0)
assert answers() and private_dir.exists(), "after a forked child's sys.exit"

pid = os.fork()
if pid == 0:
    process.stop()
    os._exit(0)
os.waitpid(pid, 0)
assert answers() and private_dir.exists(), "after stop() in a forked child"

child = multiprocessing.get_context("fork").Process(target=stop_in_child)
child.start()
child.join()
assert child.exitcode == 0, child.exitcode
assert answers() and private_dir.exists(), "after a multiprocessing child"
assert process.is_running()
print("parent's PGlite unharmed")
"""


@pglite_only
class ForkedChildren(unittest.TestCase):
    def test_a_forked_child_never_stops_or_removes_the_parents_pglite(self) -> None:
        child = python(FORK_SCRIPT)
        out, err = child.communicate(timeout=120)
        self.assertEqual(child.returncode, 0, err)
        self.assertIn("parent's PGlite unharmed", out)


def damage(node_modules: Path, name: str, how: str) -> Path:
    path = node_modules / "@electric-sql" / "pglite" / "dist" / name
    if how == "delete":
        path.unlink()
    elif how == "truncate":
        with open(path, "r+b") as file:
            file.truncate(path.stat().st_size // 2)
    else:  # same size, other bytes
        with open(path, "r+b") as file:
            file.seek(64)
            file.write(b"\0" * 4096)
    return path


@pglite_only
class DamagedInstall(unittest.TestCase):
    def test_deleted_or_truncated_files_are_noticed_and_reinstalled(self) -> None:
        root = copy_of_the_cache(self)
        packages = NodePackages(root)
        for name, how in (("pglite.wasm", "truncate"), ("pglite.data", "delete")):
            with self.subTest(name=name, how=how):
                self.assertIsNone(packages.problem())
                damage(packages.node_modules, name, how)
                self.assertFalse(packages.is_complete())
                self.assertIn(name, packages.problem() or "")
                with self.assertLogs("pglite_testcase", "WARNING") as logs:
                    packages.ensure_installed(find_node())
                self.assertIn("reinstalling", "\n".join(logs.output))
                self.assertIsNone(packages.problem(deep=True))

    def test_doctor_reports_a_damaged_install(self) -> None:
        root = copy_of_the_cache(self)
        damage(NodePackages(root).node_modules, "pglite.wasm", "overwrite")
        result = subprocess.run(
            [sys.executable, "-m", "pglite_testcase", "doctor"],
            cwd=ROOT,
            env={**os.environ, "PGLITE_TESTCASE_CACHE_DIR": str(root)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertRegex(
            result.stdout, r"ok +package cache .*pglite\.wasm has changed since it was installed: installed again"
        )

    def test_a_start_failing_on_a_damaged_install_keeps_the_snapshots(self) -> None:
        root = copy_of_the_cache(self)
        store = SnapshotStore(root / "snapshots")
        with environment(PGLITE_TESTCASE_CACHE_DIR=str(root)):
            PGliteDatabase.start(store=store).stop()  # saves the empty database's snapshot
            snapshot = store.find(EMPTY)
            assert snapshot is not None
            # Same size, other bytes: only a start notices.
            damage(NodePackages(root).node_modules, "pglite.wasm", "overwrite")
            with self.assertRaises(CacheInstallError) as caught:
                PGliteDatabase.start(store=store)
            self.assertIn("is damaged (@electric-sql/pglite/dist/pglite.wasm has changed", str(caught.exception))
            self.assertTrue(snapshot.is_intact(), "a good snapshot was blamed for the install")
            self.assertIsNotNone(store.find(EMPTY))
            with self.assertLogs("pglite_testcase", "WARNING"):
                database = PGliteDatabase.start(store=store)  # installs again, starts from the snapshot
            engine = database.create_engine()
            with engine.connect() as connection:
                self.assertEqual(connection.exec_driver_sql("SELECT 1").scalar(), 1)
            engine.dispose()
            database.stop()


@pglite_only
class RelativeCacheDirectory(unittest.TestCase):
    def test_a_relative_cache_directory_is_resolved_once_where_the_run_starts(self) -> None:
        workdir = Path(tempfile.mkdtemp(prefix="pgtc-workdir-"))
        self.addCleanup(shutil.rmtree, workdir, True)
        shutil.copytree(copy_of_the_cache(self), workdir / ".cache" / "pglite")
        child = python(
            """
            import os
            from sqlalchemy import text
            from pglite_testcase.database.pglite import PGliteDatabase
            from pglite_testcase.runtime.node_packages import cache_root
            root = cache_root()
            os.chdir("/")
            assert cache_root() == root, (cache_root(), root)
            database = PGliteDatabase.start()
            with database.create_engine().connect() as connection:
                print(root, connection.scalar(text("SELECT 41 + 1")))
            database.stop()
            """,
            cwd=workdir,
            env={"PGLITE_TESTCASE_CACHE_DIR": ".cache/pglite", "PGLITE_TESTCASE_PRESTART": "0"},
        )
        out, err = child.communicate(timeout=120)
        self.assertEqual(child.returncode, 0, err)
        self.assertEqual(out.split(), [str(workdir / ".cache" / "pglite"), "42"])


def other_user() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        raise unittest.SkipTest("giving a directory to another user needs root")
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        raise unittest.SkipTest("no user 'nobody' on this machine") from None


@pglite_only
class ForeignCache(unittest.TestCase):
    """A cache another user owns or can write to could hand node their JavaScript: it is refused."""

    def test_a_cache_owned_by_another_user_is_refused(self) -> None:
        nobody = other_user()
        root = copy_of_the_cache(self)
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
        packages = NodePackages(root)
        self.assertFalse(packages.is_complete())
        before = sorted(path.name for path in root.iterdir())
        with self.assertRaises(UnsafeCacheError) as caught:
            packages.ensure_installed(find_node())
        self.assertIn(f"belongs to user nobody (uid {nobody.pw_uid})", str(caught.exception))
        self.assertIn("PGLITE_TESTCASE_CACHE_DIR", str(caught.exception))
        self.assertEqual(sorted(path.name for path in root.iterdir()), before, "something was written there")

    def test_a_cache_others_can_write_to_is_refused(self) -> None:
        for mode in (0o777, 0o757, 0o1777):
            with self.subTest(mode=oct(mode)):
                root = copy_of_the_cache(self)
                os.chmod(root, mode)
                with self.assertRaises(UnsafeCacheError) as caught:
                    NodePackages(root).ensure_installed(find_node())
                self.assertIn("every user can write to it", str(caught.exception))
                self.assertIn("chmod go-w", str(caught.exception))

    def test_a_file_planted_in_the_install_is_noticed(self) -> None:
        nobody = other_user()
        root = copy_of_the_cache(self)
        index = NodePackages(root).node_modules / "@electric-sql" / "pglite" / "dist" / "index.cjs"
        os.chown(index, nobody.pw_uid, nobody.pw_gid)
        self.assertIn("index.cjs is not safe to use: it belongs to user nobody", NodePackages(root).problem() or "")

    def test_a_symlinked_lock_file_is_not_followed(self) -> None:
        root = Path(tempfile.mkdtemp(prefix="pgtc-cache-"))
        self.addCleanup(shutil.rmtree, root, True)
        victim = root.parent / f"pgtc-victim-{os.getpid()}"
        victim.write_text("precious")
        self.addCleanup(victim.unlink)
        packages = NodePackages(root)
        packages.lock_file.symlink_to(victim)
        with self.assertRaises(UnsafeCacheError) as caught:
            packages.ensure_installed(find_node())
        self.assertIn("symbolic link", str(caught.exception))
        self.assertEqual(victim.read_text(), "precious")

    def test_a_snapshot_directory_of_another_user_is_not_used(self) -> None:
        nobody = other_user()
        root = Path(tempfile.mkdtemp(prefix="pgtc-snapshots-"))
        self.addCleanup(shutil.rmtree, root, True)
        runtime, node_modules = installed_runtime()
        process = PGliteProcess(runtime, node_modules)
        self.addCleanup(process.stop)
        process.start()
        self.assertIsNotNone(SnapshotStore(root).save(process.dump_data_dir, "schema-y", 1.0))
        self.assertIsNotNone(SnapshotStore(root).find("schema-y"))
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
        with self.assertLogs("pglite_testcase", "WARNING") as logs:
            self.assertIsNone(SnapshotStore(root).find("schema-y"))
        self.assertIn("belongs to user nobody", "\n".join(logs.output))
        os.chown(root, 0, 0)
        tar = next(root.glob("*.tar"))
        os.chown(tar, nobody.pw_uid, nobody.pw_gid)
        with self.assertLogs("pglite_testcase", "WARNING"):
            self.assertIsNone(SnapshotStore(root).find("schema-y"))

    def test_new_caches_and_snapshots_are_private(self) -> None:
        parent = Path(tempfile.mkdtemp(prefix="pgtc-new-"))
        self.addCleanup(shutil.rmtree, parent, True)
        root = parent / "cache"
        NodePackages(root).ensure_installed(find_node())
        self.assertEqual(stat.S_IMODE(root.stat().st_mode), 0o700)
        runtime, node_modules = installed_runtime()
        process = PGliteProcess(runtime, node_modules)
        self.addCleanup(process.stop)
        process.start()
        store = SnapshotStore(root / "snapshots")
        self.assertIsNotNone(store.save(process.dump_data_dir, "schema-z", 1.0))
        self.assertEqual(stat.S_IMODE((root / "snapshots").stat().st_mode), 0o700)
        for path in (root / "snapshots").iterdir():
            self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o600, path.name)


@contextmanager
def read_only_mount(test: unittest.TestCase, fill: Any) -> Iterator[Path]:
    mount_point = Path(tempfile.mkdtemp(prefix="pgtc-ro-"))
    test.addCleanup(shutil.rmtree, mount_point, True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=200m", "tmpfs", str(mount_point)], capture_output=True
    )
    if mounted.returncode != 0:
        raise unittest.SkipTest(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    test.addCleanup(subprocess.run, ["umount", "-l", str(mount_point)], check=False)
    os.chmod(mount_point, 0o700)
    fill(mount_point)
    subprocess.run(["mount", "-o", "remount,ro", str(mount_point)], check=True)
    yield mount_point


@pglite_only
class ReadOnlyCache(unittest.TestCase):
    def test_a_filled_read_only_cache_is_used_and_snapshot_failures_give_the_right_advice(self) -> None:
        source = copy_of_the_cache(self)
        with read_only_mount(self, lambda root: shutil.copytree(source, root, dirs_exist_ok=True)) as root:
            packages = NodePackages(root)
            node_modules = packages.ensure_installed(find_node())
            process = PGliteProcess(find_node(), node_modules)
            self.addCleanup(process.stop)
            process.start()
            with self.assertLogs("pglite_testcase", "WARNING") as logs:
                self.assertIsNone(SnapshotStore(root / "snapshots").save(process.dump_data_dir, "schema-r", 1.0))
            self.assertEqual(len(logs.output), 1, logs.output)
            self.assertIn("could not save a snapshot", logs.output[0])
            self.assertIn(
                "not writable: make it writable, or point PGLITE_TESTCASE_CACHE_DIR at a writable", logs.output[0]
            )
            self.assertNotIn("disk space", logs.output[0])

    def test_an_empty_read_only_cache_is_a_clear_error(self) -> None:
        with read_only_mount(self, lambda root: None) as root:
            with self.assertRaises(CacheInstallError) as caught:
                NodePackages(root / "cache").ensure_installed(find_node())
            message = str(caught.exception)
            self.assertIn("holds no complete install", message)
            self.assertIn("Make it writable, or point PGLITE_TESTCASE_CACHE_DIR at a writable directory", message)
            with self.assertRaises(CacheInstallError) as caught:
                NodePackages(root).ensure_installed(find_node())
            self.assertIn("Read-only file system", str(caught.exception))

    def test_the_snapshots_of_a_read_only_cache_are_used(self) -> None:
        source = copy_of_the_cache(self)
        runtime, node_modules = installed_runtime()
        process = PGliteProcess(runtime, node_modules)
        self.addCleanup(process.stop)
        process.start()
        SnapshotStore(source / "snapshots").save(process.dump_data_dir, "schema-s", 1.0)
        with read_only_mount(self, lambda root: shutil.copytree(source, root, dirs_exist_ok=True)) as root:
            snapshot = SnapshotStore(root / "snapshots").find("schema-s")
            assert snapshot is not None
            self.assertTrue(snapshot.is_intact())
