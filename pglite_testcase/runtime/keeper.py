"""The warm spare (``PGLITE_TESTCASE_KEEP_WARM=1``): a keeper process holds one started PGlite for the next run.

A test run's PGlite start (node, PGlite's WebAssembly, the snapshot) is most of what a one-test
run waits for. With the switch on, the run asks a per-user keeper for a server started from
the same snapshot with the same packages, node and settings (``Spare.key``), and adopts it:
the keeper passes the node process's control pipes over its Unix socket (``SCM_RIGHTS``), the
run moves the spare's private directory onto its own and tells node it is the one to watch
now (``PGliteProcess.adopt``). From then on the spare is the run's, exactly as if the run had
started it: it stops when the run closes its stdin or dies.

The keeper:

- is started, detached, by the first run that finds none (that run starts its own PGlite);
- holds at most one spare, and gives it to one run only; a run that asks while it has none,
  or one for other settings, starts its own;
- starts the next spare, for the settings last asked for, only once every run that asked
  since its previous spare was started has exited, so a spare's start never competes with a
  running suite for the CPU;
- exits by itself, stopping its spare, after ``PGLITE_TESTCASE_KEEP_WARM_IDLE`` seconds (600 by
  default) without a request, or on SIGTERM, SIGINT or a ``stop`` request;
- is one per user and temporary directory: it lives in ``$TMPDIR/pglite-testcase-keeper-<uid>``
  (mode 0700, refused if it is not the user's own and private), a lock file keeps a second
  one from starting, and both sides check the other's uid on the socket.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import environment
from ..errors import PGliteStartError, UnsafeCacheError
from . import cache_safety
from .adopted import AdoptedNode
from .node_packages import RUNTIME_DIR, SERVER_SCRIPT, NodeRuntime, pid_alive
from .process import NODE_FLAGS, PGliteProcess

log = logging.getLogger("pglite_testcase")

PROTOCOL = 1
SOCKET_NAME = f"keeper-v{PROTOCOL}.sock"
LOCK_NAME = "keeper.lock"
LOG_NAME = "keeper.log"
TICK_SECONDS = 0.05  # how often the keeper looks at its spare and at the runs it waits for
READY_SECONDS = 10.0  # how long the keeper waits for a spare still starting, for a run that asked
ANSWER_SECONDS = READY_SECONDS + 5.0  # how long either side waits for the other on the socket
# Passing file descriptors, and knowing who is at the other end of the socket.
SUPPORTED = hasattr(socket, "SO_PEERCRED") and hasattr(socket, "send_fds")


def keeper_dir() -> Path:
    """Where this user's keeper for this temporary directory lives."""
    return Path(tempfile.gettempdir()) / f"pglite-testcase-keeper-{os.geteuid()}"


def private_dir_problem(directory: Path) -> str | None:
    """Why the keeper's directory must not be used (None: it is this user's and only theirs)."""
    status = os.lstat(directory)
    reason = cache_safety.unsafe_reason(status)
    if reason is None and status.st_uid != os.geteuid():
        reason = "it belongs to another user"
    if reason is None and status.st_mode & 0o077:
        reason = f"other users can reach it (mode {status.st_mode & 0o777:04o})"
    return reason


def _server_files() -> list[list[Any]]:
    """What identifies the node server's code: a spare must run the code this run would."""
    paths = [SERVER_SCRIPT, *sorted((RUNTIME_DIR / "lib").glob("*.js"))]
    return [[str(path), path.stat().st_size, path.stat().st_mtime_ns] for path in paths]


@dataclass(frozen=True)
class Spare:
    """What a spare is started with: everything that makes its server the one a run would start."""

    node: str
    npm: list[str]
    node_version: list[int]
    node_modules: str
    load_data_dir: str
    content: str  # the snapshot's size and CRC-32, as its metadata records them
    use_tcp: bool
    extensions: dict[str, dict[str, str]]
    grace_seconds: float
    statement_timeout_ms: int  # (not in the key: the run sets its own after the handover)
    tempdir: str

    @classmethod
    def like(cls, process: PGliteProcess, content: str) -> Spare:
        assert process.load_data_dir is not None
        return cls(
            node=process.runtime.node,
            npm=list(process.runtime.npm),
            node_version=list(process.runtime.version),
            node_modules=str(process.node_modules),
            load_data_dir=str(process.load_data_dir),
            content=content,
            use_tcp=process.use_tcp,
            extensions=process.extensions,
            grace_seconds=process.grace_seconds,
            statement_timeout_ms=process.statement_timeout_ms,
            tempdir=tempfile.gettempdir(),
        )

    def key(self) -> str:
        fields = {**asdict(self), "statement_timeout_ms": None}
        text = json.dumps([PROTOCOL, fields, NODE_FLAGS, _server_files()], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def start(self) -> PGliteProcess:
        """A new node server like this (its snapshot checked first: never another content under this key)."""
        data = Path(self.load_data_dir).read_bytes()
        if self.content != f"{len(data)}:{zlib.crc32(data)}":
            raise OSError(f"the snapshot {self.load_data_dir} changed since it was asked for")
        runtime = NodeRuntime(
            self.node, tuple(self.npm), (self.node_version[0], self.node_version[1], self.node_version[2])
        )
        process = PGliteProcess(
            runtime,
            Path(self.node_modules),
            load_data_dir=Path(self.load_data_dir),
            use_tcp=self.use_tcp,
            extensions=self.extensions,
            grace_seconds=self.grace_seconds,
        )
        process.statement_timeout_ms = self.statement_timeout_ms
        process.warm_up = True  # nobody waits for a spare: it loads what the run's first statements need
        process.spawn()
        return process


# -- a run's side ------------------------------------------------------------------------------


def take_spare(process: PGliteProcess, content: str) -> bool:
    """Adopt the keeper's spare into ``process`` (not yet spawned) if it has one like it.

    Either way the keeper learns what this run wanted, and has a spare like it for the next
    run; with no keeper running, one is started. False: ``process`` must be spawned as usual.
    ``OSError``: a spare was handed over but could not be adopted; ``process`` is stopped.
    """
    if not SUPPORTED:
        log.warning(
            "pglite_testcase: %s: the warm spare needs Linux (SO_PEERCRED); starting PGlite here", environment.KEEP_WARM
        )
        return False
    wanted = Spare.like(process, content)
    directory = keeper_dir()
    try:
        problem = private_dir_problem(directory)
    except FileNotFoundError:
        _start_keeper(directory, wanted)
        return False
    except OSError as exc:
        problem = str(exc)
    if problem is not None:
        log.warning(
            "pglite_testcase: %s: not using the warm spare's keeper directory %s: %s",
            environment.KEEP_WARM,
            directory,
            problem,
        )
        return False
    try:
        answer, fds = _ask(directory, {"op": "take", "spare": asdict(wanted), "key": wanted.key()})
    except (FileNotFoundError, ConnectionRefusedError):
        _start_keeper(directory, wanted)  # none running (it exited when idle, or died)
        return False
    except (OSError, ValueError) as exc:
        log.debug("pglite_testcase: the keeper did not answer (%s); starting PGlite here", exc)
        return False
    handed = answer.get("spare")
    if not handed or len(fds) != 2:
        for fd in fds:
            os.close(fd)
        return False
    node = AdoptedNode(int(handed["pid"]), fds[0], fds[1])
    try:
        process.adopt(node, handed["private_dir"], handed["password"], handed["debug_database"], handed["ready"])
    except OSError as exc:
        # Taken over half-way (its directory not moved, or node gone meanwhile): stopped, with
        # this instance's directory; the caller starts a PGlite of its own, in a new one.
        log.debug("pglite_testcase: could not adopt the keeper's spare (%s)", exc)
        process.stop()
        for stream in (node.stdin, node.stdout):  # (node stops at the end of its stdin)
            if stream is not None and not stream.closed:
                stream.close()
        raise
    log.debug("pglite_testcase: PGlite (pid %s) handed over by the keeper", node.pid)
    return True


def _peer_uid(connection: socket.socket) -> tuple[int, int]:
    """The pid and uid of the process at the other end of a Unix socket."""
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", credentials)
    return pid, uid


def _read_line(connection: socket.socket, fds: list[int] | None = None) -> dict[str, Any]:
    data = b""
    while not data.endswith(b"\n"):
        if fds is not None:
            chunk, received, _flags, _address = socket.recv_fds(connection, 65536, 2)
            for fd in received:
                os.set_inheritable(fd, False)
            fds.extend(received)
        else:
            chunk = connection.recv(65536)
        if not chunk:
            raise ValueError("the other side closed the connection without an answer")
        data += chunk
    answer: dict[str, Any] = json.loads(data)
    return answer


def _ask(directory: Path, request: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
    """Send one request to the keeper; its answer and the file descriptors it sent."""
    fds: list[int] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(ANSWER_SECONDS)
        connection.connect(str(directory / SOCKET_NAME))
        if _peer_uid(connection)[1] != os.geteuid():
            raise OSError("the keeper's socket belongs to another user")
        connection.sendall((json.dumps({**request, "pid": os.getpid()}) + "\n").encode())
        try:
            return _read_line(connection, fds), fds
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise


def _start_keeper(directory: Path, first: Spare) -> None:
    """Start the keeper, detached (a shell puts it in the background and exits at once)."""
    try:
        cache_safety.make_private_dir(directory, "warm spare's keeper directory")
        directory.chmod(0o700)
        problem = private_dir_problem(directory)
        if problem is not None:
            raise OSError(problem)
        command = [sys.executable, "-m", __name__, str(directory), json.dumps(asdict(first)), str(os.getpid())]
        with open(directory / LOG_NAME, "ab") as output:
            subprocess.run(
                ["/bin/sh", "-c", '"$@" </dev/null &', "sh", *command],
                stdout=output,
                stderr=output,
                start_new_session=True,  # a Ctrl-C in the terminal is for the run, not the keeper
                timeout=30,
                check=True,
            )
    except (OSError, subprocess.SubprocessError, UnsafeCacheError) as exc:
        log.warning("pglite_testcase: %s: could not start the warm spare's keeper: %s", environment.KEEP_WARM, exc)


def stop_keeper(directory: Path | None = None) -> bool:
    """Ask the keeper in ``directory`` (default: this user's) to stop its spare and exit; whether one answered."""
    try:
        _ask(directory or keeper_dir(), {"op": "stop"})
    except (OSError, ValueError):
        return False
    return True


# -- the keeper's side -------------------------------------------------------------------------


class Keeper:
    def __init__(self, directory: Path, idle_seconds: float) -> None:
        self.directory = directory
        self.idle_seconds = idle_seconds
        self.wanted: Spare | None = None
        self.waiting_for: set[int] = set()  # runs that asked since the spare was taken or replaced
        self.spare: tuple[str, PGliteProcess] | None = None
        self.handed: list[subprocess.Popen[bytes] | AdoptedNode] = []  # its children, reaped when they end
        self.last_request = time.monotonic()
        self.stopping = False

    def serve(self, first: Spare, first_run: int) -> None:
        lock = cache_safety.open_lock(self.directory / LOCK_NAME)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            return  # another keeper serves this directory
        path = self.directory / SOCKET_NAME
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            path.unlink(missing_ok=True)
            listener.bind(str(path))
            os.chmod(path, 0o600)
            listener.listen(8)
            self.wanted, self.waiting_for = first, {first_run}
            while not self.stopping and time.monotonic() - self.last_request < self.idle_seconds:
                self._look_after_spare()
                if select.select([listener], [], [], TICK_SECONDS)[0]:
                    connection, _ = listener.accept()
                    with connection:
                        self._answer(connection)
        finally:
            listener.close()
            path.unlink(missing_ok=True)
            self._drop_spare()
            os.close(lock)

    def _look_after_spare(self) -> None:
        self.handed = [node for node in self.handed if node.poll() is None]
        if self.spare is not None and self.spare[1].is_running():
            try:
                self.spare[1].ready_now()  # (its "ready" read as soon as it is written)
            except PGliteStartError as exc:
                log.warning("the spare did not start: %s", exc)
                self.spare = None
        if self.spare is not None and not self.spare[1].is_running():
            log.warning(
                "the spare (pid %s) stopped: %s",
                getattr(self.spare[1].process, "pid", "?"),
                self.spare[1].output_tail(),
            )
            self._drop_spare()
        self.waiting_for = {pid for pid in self.waiting_for if pid_alive(pid)}
        if self.spare is None and self.wanted is not None and not self.waiting_for:
            wanted, self.wanted = self.wanted, None  # (once: a spare that cannot start is not retried)
            try:
                self.spare = (wanted.key(), wanted.start())
            except Exception as exc:
                log.warning("could not start a spare: %s", exc)

    def _drop_spare(self) -> None:
        if self.spare is not None:
            self.spare[1].stop()
            self.spare = None

    def _answer(self, connection: socket.socket) -> None:
        connection.settimeout(ANSWER_SECONDS)
        try:
            run, uid = _peer_uid(connection)
            if uid != os.geteuid():
                return
            request = _read_line(connection)
        except (OSError, ValueError):
            return
        self.last_request = time.monotonic()
        if request.get("op") == "stop":
            self.stopping = True
            connection.sendall(b'{"stopped": true}\n')
            return
        if request.get("op") != "take":
            connection.sendall(b'{"spare": null}\n')
            return
        try:
            wanted = Spare(**request["spare"])
        except (TypeError, KeyError):
            connection.sendall(b'{"spare": null}\n')
            return
        self.wanted = wanted
        self.waiting_for.add(run)
        key = request.get("key")
        if self.spare is not None and (self.spare[0] != key or not self.spare[1].is_running()):
            self._drop_spare()  # a spare nobody asks for (or a dead one) only costs memory
        if self.spare is not None:
            try:
                self.spare[1].wait_until_ready(
                    READY_SECONDS
                )  # at once if it is up; it is the quickest way for this run
            except PGliteStartError as exc:
                log.warning("the spare did not start: %s", exc)
                self.spare = None
        if self.spare is None:
            connection.sendall(b'{"spare": null}\n')
            return
        self._hand_over(connection, self.spare[1])
        self.spare = None

    def _hand_over(self, connection: socket.socket, spare: PGliteProcess) -> None:
        node = spare.process
        assert node is not None and node.stdin is not None and node.stdout is not None
        answer = {
            "spare": {
                "pid": node.pid,
                "private_dir": str(spare.private_dir),
                "password": spare.password,
                "debug_database": spare.debug_database,
                "ready": spare.ready_event,
            }
        }
        try:
            socket.send_fds(
                connection, [(json.dumps(answer) + "\n").encode()], [node.stdin.fileno(), node.stdout.fileno()]
            )
        except OSError:
            spare.stop()  # not handed over: never half
            return
        # The run holds the pipes now: node stops when the run closes its stdin (or dies).
        node.stdin.close()
        node.stdout.close()
        self.handed.append(node)


def main(argv: list[str]) -> int:
    directory, first, first_run = Path(argv[0]), Spare(**json.loads(argv[1])), int(argv[2])
    os.chdir(directory)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=f"%(asctime)s keeper {os.getpid()}: %(message)s")
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(0))
    Keeper(directory, environment.keep_warm_idle()).serve(first, first_run)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
