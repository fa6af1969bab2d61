"""One PGlite server process: node running ``node/server.js`` on the cached npm packages.

py-pglite is used through its public API only: ``PGliteConfig`` holds the
socket path, TCP or not and the start timeout. What py-pglite's
``PGliteManager`` does does not suit a test library, so the process is
run here:

- every process gets a fresh private (0700) directory holding only its
  socket and log, removed on stop (py-pglite writes its own ``package.json``
  and ``pglite_manager.js`` into a work dir, and a reused work dir keeps the
  first run's socket path);
- the packages come from the shared cache (``node_packages``), installed
  once (py-pglite runs ``npm install`` at every start);
- a process only ever stops the node process it started (py-pglite kills
  other processes running ``pglite_manager.js``, other test runs included);
- node runs in its own directory and says when it accepts connections
  (py-pglite chdirs the interpreter and polls for the socket every 0.5 s);
- node is stopped by closing its stdin, with SIGTERM then SIGKILL to its
  process group as the fallback, and every pipe is closed.

An instance belongs to the process that created it: in a process forked
from that one (multiprocessing, a forking test runner) ``stop`` does
nothing and ``is_running`` is false, so a child never stops or deletes its
parent's PGlite. Private directories are named after their owner's pid, so
that those of processes that died before cleaning up (``SIGKILL``) are
removed by the next start.

The server script itself (``node/server.js``) replaces ``pglite-socket``; see
its header for why.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import secrets
import select
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CacheInstallError, PGliteStartError
from .adopted import AdoptedNode
from .node_packages import SERVER_SCRIPT, NodePackages, NodeRuntime, pid_alive

if TYPE_CHECKING:
    from py_pglite import PGliteConfig

log = logging.getLogger("pglite_testcase")

# PGlite is a large WebAssembly module. V8's optimising tier compiles it in
# the background for ~0.3 s after start, competing for this machine's cores,
# and buys little: a round trip is dominated by the socket, not by Postgres.
# Every message makes short-lived buffers; V8 lets its young generation grow to
# tens of MB for them over a long run (node's RSS kept rising with the number of
# tests). A 1 MB semi-space holds them as well, at no measurable cost a test.
NODE_FLAGS: tuple[str, ...] = ("--liftoff-only", "--max-semi-space-size=1")
USER = PASSWORD = DATABASE = "postgres"
PRIVATE_DIR_PREFIX = "pglite-testcase-"
CANCEL_LINE = (
    b"pglite_testcase: a statement was cancelled (Ctrl-C); PGlite cannot cancel a running statement, "
    b"so this PGlite process stops\n"
)


_swept: set[str] = set()


def remove_dead_private_dirs(parent: str) -> None:
    """Remove the private directories in ``parent`` whose owner process no longer runs.

    Only this user's, only those named after a pid (``pglite-testcase-<pid>-...``),
    and never one whose process is alive. Once per directory and process.
    """
    if parent in _swept:
        return
    _swept.add(parent)
    pattern = re.compile(re.escape(PRIVATE_DIR_PREFIX) + r"(\d+)-")
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None:
            continue
        try:
            if entry.stat(follow_symlinks=False).st_uid != os.geteuid() or not entry.is_dir(follow_symlinks=False):
                continue
        except OSError:
            continue
        if not pid_alive(int(match[1])):
            shutil.rmtree(entry.path, ignore_errors=True)


_instances: weakref.WeakSet[PGliteProcess] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A forked child holds copies of the pipes to its parent's node processes:
    # point them at /dev/null, so that node still sees its stdin end when the
    # parent goes, and nothing the child does can reach the parent's node.
    for instance in list(_instances):
        process = instance.process
        if process is None:
            continue
        for stream in (process.stdin, process.stdout):
            if stream is None or stream.closed:
                continue
            try:
                devnull = os.open(os.devnull, os.O_RDWR)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)
            except OSError:
                pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class PGliteProcess:
    """A node process serving one PGlite database on a private socket."""

    def __init__(
        self,
        runtime: NodeRuntime,
        node_modules: Path,
        *,
        load_data_dir: Path | None = None,
        use_tcp: bool = False,
        port: int = 0,
        extensions: dict[str, dict[str, str]] | None = None,
        grace_seconds: float = 2.0,
        timeout: int = 60,
    ) -> None:
        self.owner_pid = os.getpid()
        remove_dead_private_dirs(tempfile.gettempdir())
        try:
            # mkdtemp: mode 0700. The pid in the name tells a later start whether it is a leftover.
            self.private_dir = Path(tempfile.mkdtemp(prefix=f"{PRIVATE_DIR_PREFIX}{self.owner_pid}-"))
        except OSError as exc:
            raise PGliteStartError(
                f"Cannot create PGlite's private socket directory in {tempfile.gettempdir()}: {exc}. "
                f"Set TMPDIR to a writable directory."
            ) from exc
        self.socket_path = str(self.private_dir / ".s.PGSQL.5432")
        self.use_tcp = use_tcp
        self.timeout = timeout
        self._config: PGliteConfig | None = None
        self.process: subprocess.Popen[bytes] | AdoptedNode | None = None
        self.runtime = runtime
        self.node_modules = node_modules
        self.load_data_dir = load_data_dir
        self.grace_seconds = grace_seconds
        self.port = port  # on TCP: 0 for a free port, chosen by node
        self.extensions = extensions or {}
        # On TCP any local user can reach the port: the server asks for this password
        # (SCRAM-SHA-256). The Unix socket's 0700 directory already keeps others out.
        self.password: str | None = secrets.token_urlsafe(24) if use_tcp else None
        # The database name of debug connections (node/lib/debug.js): random, so that no connection
        # becomes one by accident; handed out as a class's debug_url only.
        self.debug_database = f"debug_{secrets.token_hex(6)}"
        self.statement_timeout_ms = 0
        self.warm_up = False  # node loads what clients' first statements need before "ready" (for a spare)
        self.log_path = self.private_dir / "pglite.log"
        self._stdout_buffer = b""
        self._next_request = 1
        self._ready = False
        self.ready_event: dict[str, Any] = {}  # what node said when it was up, with when it was spawned
        _instances.add(self)

    @property
    def config(self) -> PGliteConfig:
        """py-pglite's description of this server (made on first use: importing py-pglite takes
        ~20 ms, which ``spawn`` spends after node is started, not before)."""
        if self._config is None:
            from py_pglite import PGliteConfig

            self._config = PGliteConfig(
                timeout=self.timeout,
                log_level="WARNING",
                socket_path=self.socket_path,
                work_dir=self.private_dir,
                auto_install_deps=False,
                use_tcp=self.use_tcp,
            )
        return self._config

    @property
    def owned_here(self) -> bool:
        """Whether this process started the instance (not a process forked from it)."""
        return os.getpid() == self.owner_pid

    # -- the process's lifetime ---------------------------------------------------------

    def start(self) -> None:
        if self.process is not None:
            return
        self.spawn()
        self.wait_until_ready()

    def spawn(self) -> None:
        """Start node without waiting for it (``wait_until_ready`` waits)."""
        self.owner_pid = os.getpid()
        settings = {
            "socketPath": None if self.use_tcp else self.socket_path,
            "port": self.port,
            "graceMs": int(self.grace_seconds * 1000),
            "loadDataDir": str(self.load_data_dir) if self.load_data_dir else None,
            "debug": log.isEnabledFor(logging.DEBUG),
            "privateDir": str(self.private_dir),
            "parentPid": self.owner_pid,
            "statementTimeoutMs": self.statement_timeout_ms,
            "extensions": self.extensions,
            "debugDatabase": self.debug_database,
            "warmUp": self.warm_up,
        }
        env = {**os.environ, "NODE_PATH": str(self.node_modules)}
        env.pop("NODE_OPTIONS", None)
        if self.password is not None:
            env["PGLITE_TESTCASE_PASSWORD"] = self.password  # the environment, unlike argv, is private
        # PGlite's own output goes to a log file (quoted in errors), or with
        # PGLITE_TESTCASE_LOG=debug straight to the test run's stderr.
        show_output = log.isEnabledFor(logging.DEBUG)
        # When each step of the start happened (time.time()): ours, and node's from its "ready" event.
        self.timeline: dict[str, float] = {"spawn": time.time()}
        with open(self.log_path, "wb") as log_file:
            self.process = subprocess.Popen(
                [self.runtime.node, *NODE_FLAGS, str(SERVER_SCRIPT), json.dumps(settings)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=None if show_output else log_file,
                cwd=self.private_dir,
                env=env,
                start_new_session=True,  # a Ctrl-C reaches Python, which stops node in order
            )
        self.timeline["spawned"] = time.time()
        self._ready = False
        _ = self.config  # py-pglite is imported now, while node starts

    def adopt(
        self, node: AdoptedNode, private_dir: str, password: str | None, debug_database: str, ready: dict[str, Any]
    ) -> None:
        """Serve from a node server another process started and saw ready (the keeper's spare).

        Its private directory is moved onto this instance's own (empty) one: the socket it
        listens on keeps working, at this instance's path. Node is told who watches it now,
        where its directory went, and this instance's statement timeout.
        """
        os.rename(private_dir, self.private_dir)
        self.owner_pid = os.getpid()
        self.process = node
        self.password = password
        self.debug_database = debug_database
        self._send({"cmd": "adopt", "pid": self.owner_pid, "privateDir": str(self.private_dir)})
        if ready.get("statement_timeout_ms") != self.statement_timeout_ms:
            self._send({"cmd": "timeout", "ms": self.statement_timeout_ms})
        self.timeline = {"spawn": float(ready["spawn"])}
        self._became_ready(ready)
        self.timeline["adopted"] = time.time()

    def wait_until_ready(self, timeout: float | None = None) -> None:
        """Wait (at most ``timeout`` seconds, default the start timeout) until node accepts connections;
        if it does not, it is stopped and ``PGliteStartError`` says why."""
        if self._ready:
            return
        assert self.process is not None, "spawn() first"
        try:
            ready = self._read_event(timeout=self.config.timeout if timeout is None else timeout)
        except PGliteStartError as exc:
            self.stop()
            self._blame_a_damaged_install(exc)
            raise
        except BaseException:
            self.stop()
            raise
        self._became_ready(ready)

    def ready_now(self) -> bool:
        """Whether node accepts connections, without waiting for it (a line it wrote is read)."""
        if not self._ready and self.process is not None and self.process.stdout is not None:
            if b"\n" in self._stdout_buffer or select.select([self.process.stdout], [], [], 0)[0]:
                self.wait_until_ready()
        return self._ready

    def _became_ready(self, ready: dict[str, Any]) -> None:
        self._ready = True
        self.ready_event = {
            **ready,
            "spawn": self.timeline.get("spawn", time.time()),
            "statement_timeout_ms": self.statement_timeout_ms,
        }
        self.timeline["ready"] = time.time()
        self.timeline.update({f"node {step}": at for step, at in ready.get("timeline", {}).items()})
        if self.config.use_tcp:
            self.config.tcp_port = int(ready["port"])
        log.debug(
            "PGlite started (pid %s) on %s: %s", getattr(self.process, "pid", "?"), self.endpoint, self.describe_start()
        )

    def describe_start(self) -> str:
        """The steps of the start in order, in ms from the spawn: where a slow start spent its time."""
        spawn = self.timeline.get("spawn", 0.0)
        steps = sorted(self.timeline.items(), key=lambda item: item[1])
        return ", ".join(f"{step} +{(at - spawn) * 1000:.0f} ms" for step, at in steps)

    def _blame_a_damaged_install(self, failure: PGliteStartError) -> None:
        """A failed start is the install's fault if its files changed: say so, rather than blame the snapshot."""
        packages = NodePackages.holding(self.node_modules)
        problem = packages.problem(deep=True)
        if problem is None:
            return
        packages.invalidate()
        raise CacheInstallError(
            f"PGlite did not start because its npm package cache at {packages.directory} is damaged "
            f"({problem}); the next start installs it again. {failure}"
        ) from failure

    def is_running(self) -> bool:
        return self.owned_here and self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if not self.owned_here:
            return  # the parent's instance: only the parent stops it
        process = self.process
        if process is not None:
            try:
                if process.stdin is not None:
                    process.stdin.close()  # node stops when its stdin ends
                process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                _terminate(process)
            finally:
                if process.stdout is not None:
                    process.stdout.close()
                self.process = None
        shutil.rmtree(self.private_dir, ignore_errors=True)

    # -- requests to the running server ------------------------------------------------

    @property
    def endpoint(self) -> str:
        if self.config.use_tcp:
            return f"127.0.0.1:{self.config.tcp_port}"
        return str(self.config.socket_path)

    def dump_data_dir(self, path: Path, timeout: float = 120.0) -> None:
        """Write PGlite's data directory as a tarball (loadable with ``load_data_dir``)."""
        response = self._request({"cmd": "dump", "path": str(path)}, timeout=timeout)
        if not response.get("ok"):
            code = getattr(errno, str(response.get("code")), None)  # node's "ENOSPC", ...
            message = f"PGlite could not write its data directory to {path}: {response.get('error')}"
            raise OSError(code, message) if code is not None else OSError(message)

    def set_statement_timeout(self, seconds: float | None) -> None:
        """Stop PGlite if one statement runs longer than this (None: no limit)."""
        milliseconds = 0 if seconds is None else max(1, int(seconds * 1000))
        if milliseconds == self.statement_timeout_ms:
            return
        self.statement_timeout_ms = milliseconds
        if self.process is not None:
            response = self._request({"cmd": "timeout", "ms": milliseconds}, timeout=10)
            if not response.get("ok"):
                raise PGliteStartError(f"PGlite refused the statement timeout: {response.get('error')}")

    def cancel_statement(self) -> None:
        """Stop the running statement: PGlite cannot cancel one, so its process stops.

        Safe from any thread and from a signal handler or ``KeyboardInterrupt``
        handling: no lock, no waiting. The line it adds to the output says why.
        """
        process = self.process
        if process is None or not self.owned_here or process.returncode is not None:
            return
        try:
            fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, CANCEL_LINE)
            finally:
                os.close(fd)
        except OSError:
            pass
        try:
            os.kill(process.pid, signal.SIGKILL)
        except OSError:
            pass

    def output_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def _send(self, request: dict[str, Any]) -> int:
        """Write a request to node (answered once it is up); its id."""
        if self.process is None or self.process.stdin is None:
            raise PGliteStartError("PGlite is not running.")
        number = self._next_request
        self._next_request += 1
        self.process.stdin.write((json.dumps({**request, "id": number}) + "\n").encode())
        self.process.stdin.flush()
        return number

    def _request(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        number = self._send(request)
        while True:
            event = self._read_event(timeout)
            if event.get("id") == number:
                return event

    def _read_event(self, timeout: float) -> dict[str, Any]:
        """The next JSON line node writes on stdout."""
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + timeout
        stdout = self.process.stdout
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            while b"\n" not in self._stdout_buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PGliteStartError(
                        f"PGlite did not answer within {timeout:g} s. Its output:\n{self.output_tail()}"
                    )
                if not selector.select(remaining):
                    continue
                chunk = os.read(stdout.fileno(), 65536)
                if not chunk:
                    code = self.process.wait()
                    raise PGliteStartError(
                        f"PGlite exited (code {code}). Its output:\n{self.output_tail() or '(none)'}"
                    )
                self._stdout_buffer += chunk
        line, self._stdout_buffer = self._stdout_buffer.split(b"\n", 1)
        event: dict[str, Any] = json.loads(line)
        return event


def _terminate(process: subprocess.Popen[bytes] | AdoptedNode) -> None:
    """SIGTERM to node's process group, then SIGKILL: for a node that did not stop when its stdin closed."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(os.getpgid(process.pid), sig)
        except (OSError, ProcessLookupError):
            process.send_signal(sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
    log.error("PGlite's node process %s did not stop on SIGKILL", process.pid)
