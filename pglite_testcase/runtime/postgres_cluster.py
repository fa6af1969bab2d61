"""The package's own PostgreSQL server (``backend = "postgres"``): one per PostgreSQL major and
server user, shared by every test process that runs at the same time.

In the cache, under ``postgres/`` (0700; 0711 as root, so that the server's user may pass):

- ``pg<major>-<user>/``: the server's directory, owned by the user the server runs as, 0700. It
  holds ``data/`` (made by ``initdb`` once, then reused by every run) and the server's Unix socket
  (the server listens on no TCP port).
- ``pg<major>-<user>.start.lock``: held while a server is started or stopped;
  ``pg<major>-<user>.lease``: every test process using the server holds a shared lock on it for
  its life (see ``postgres_watchdog``); ``pg<major>-<user>.state``: the running server (written by
  its watchdog); ``pg<major>-<user>.log``: the server's log since its latest start.

A test process attaches with ``attach()``: under the start lock, it takes the lease and either
finds the server running or starts it (``initdb`` first if there is no data directory yet) through
a new watchdog, which stops the server once the last test process is gone. A server left by a
crashed watchdog (its state names a dead watchdog) is stopped before a new one starts.

The data directory is a test server's: ``fsync``, ``synchronous_commit`` and ``full_page_writes``
are off (a crash of the machine can lose or damage it; the package then makes it again, see
``python -m pglite_testcase cache clear``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import environment
from ..errors import PostgresServerError, UnsafeCacheError
from . import cache_safety
from .node_packages import cache_root, pid_alive
from .postgres_install import PostgresInstall, ServerUser, check_reachable, find_install, server_user

log = logging.getLogger("pglite_testcase")

PORT = 5432  # names the socket file only: the server listens on no TCP port
SUPERUSER = "postgres"
START_SECONDS = 120.0  # how long a process waits for another one starting or stopping the server
WATCHDOG = Path(__file__).with_name("postgres_watchdog.py")
# A test server: nothing is synced to disk; as many connections as a few parallel test processes need.
SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "listen_addresses": "",
}
_SOCKET_PATH_MAX = 103  # sun_path is 104 bytes on macOS (108 on Linux), the final NUL included


@dataclass(frozen=True)
class Paths:
    control: Path  # <cache>/postgres
    server: Path  # <cache>/postgres/pg<major>-<user>

    @property
    def data(self) -> Path:
        return self.server / "data"

    def beside(self, suffix: str) -> Path:
        return self.control / f"{self.server.name}.{suffix}"

    @property
    def socket(self) -> Path:
        return self.server / f".s.PGSQL.{PORT}"


def paths_for(install: PostgresInstall, user: ServerUser) -> Paths:
    control = cache_root() / "postgres"
    return Paths(control, control / f"pg{install.major}-{user.name}")


@dataclass
class ManagedServer:
    """This process's use of the server: its socket, and the lease that keeps it running."""

    paths: Paths
    install: PostgresInstall
    user: ServerUser
    lease_fd: int | None

    @property
    def socket_dir(self) -> str:
        return str(self.paths.server)

    def url_text(self, database: str = "postgres", scheme: str = "postgresql+psycopg") -> str:
        return f"{scheme}://{SUPERUSER}@/{database}?host={self.socket_dir}"  # libpq's default port: PORT

    def release(self) -> None:
        """Stop holding the lease (the server stops if no other process holds one). Closing the
        descriptor, never unlocking it: a forked child that shares it keeps its lease."""
        if self.lease_fd is not None:
            os.close(self.lease_fd)
            self.lease_fd = None


def servers() -> list[tuple[Path, bool]]:
    """The backend's server directories in the cache, each with whether its server runs now."""
    control = cache_root() / "postgres"
    found = []
    for server in sorted(control.iterdir()) if control.is_dir() else []:
        if server.is_dir():
            found.append((server, _running_state(Paths(control, server)) is not None))
    return found


def attach(where: str) -> ManagedServer:
    """The running server, started if no process runs it; this process holds a lease on it until it
    exits (or ``release()``). ``where`` names what chose the backend, in errors."""
    install = find_install(where)
    user = server_user()
    paths = paths_for(install, user)
    check_reachable(user, install, paths.control)  # before making anything
    _make_control_dir(paths.control, user)
    if len(str(paths.socket)) > _SOCKET_PATH_MAX:
        raise PostgresServerError(
            f"The server's socket would be {paths.socket}, longer than a Unix socket's path may be "
            f"({_SOCKET_PATH_MAX} bytes): point {environment.CACHE_DIR} at a shorter directory."
        )
    with _start_lock(paths):
        lease = cache_safety.open_lock(paths.beside("lease"))
        try:
            # The watchdog holds it exclusively for a moment at most, unless it holds the start lock too.
            fcntl.flock(lease, fcntl.LOCK_SH)
            if _running_state(paths) is None:
                _stop_leftover(paths)
                _make_server_dir(paths, user)
                _initdb_once(paths, install, user)
                _start(paths, install, user)
        except BaseException:
            os.close(lease)
            raise
    return ManagedServer(paths, install, user, lease)


def _make_control_dir(control: Path, user: ServerUser) -> None:
    """``<cache>/postgres``, 0700. When the server runs as another user, that user must pass through it
    (0711: enter, not list) and through the cache directory, made 0711 too if this makes it."""
    if user.switched and not control.parent.exists():
        control.parent.parent.mkdir(parents=True, exist_ok=True)
        control.parent.mkdir(mode=0o711, exist_ok=True)
        os.chmod(control.parent, 0o711)  # whatever the umask
    cache_safety.make_private_dir(control.parent, "cache directory")
    cache_safety.make_private_dir(control, "server directory")
    if user.switched:
        os.chmod(control, 0o711)


def _make_server_dir(paths: Paths, user: ServerUser) -> None:
    """The server's directory: made for its user (0700), or refused if someone else owns it."""
    try:
        os.mkdir(paths.server, 0o700)
        if user.switched:
            os.chown(paths.server, user.uid, user.gid)
    except FileExistsError:
        pass
    status = os.lstat(paths.server)
    reason = None
    if stat.S_ISLNK(status.st_mode) or not stat.S_ISDIR(status.st_mode):
        reason = "it is not a directory"
    elif status.st_uid != user.uid:
        reason = f"it belongs to {cache_safety.describe_user(status.st_uid)}, and the server runs as {user.name}"
    elif stat.S_IMODE(status.st_mode) & 0o077:
        reason = f"users other than {user.name} may use it (mode {stat.S_IMODE(status.st_mode):04o})"
    if reason is not None:
        raise UnsafeCacheError(cache_safety.refusal(paths.server, "server directory", reason))


class _start_lock:
    """The start lock, waited for at most ``START_SECONDS`` (another process may be running initdb)."""

    def __init__(self, paths: Paths) -> None:
        self.path = paths.beside("start.lock")
        self.fd = -1

    def __enter__(self) -> None:
        self.fd = cache_safety.open_lock(self.path)
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(self.fd)
                    raise PostgresServerError(
                        f"Another process has been starting or stopping the PostgreSQL server for more than "
                        f"{START_SECONDS:g} s (it holds {self.path}). If no test process runs, remove that file."
                    ) from None
                time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def _read_state(paths: Paths) -> dict[str, Any] | None:
    try:
        state = json.loads(paths.beside("state").read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _command_line(pid: int) -> list[bytes] | None:
    """The arguments ``pid`` runs with ([] if it does not run), or None where /proc cannot say (macOS)."""
    if not Path("/proc/self/cmdline").exists():
        return None
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _is_watchdog(pid: int) -> bool:
    """Whether ``pid`` runs this package's watchdog (not a process that reused the pid)."""
    if not pid_alive(pid):
        return False
    command = _command_line(pid)
    return command is None or any(argument.endswith(WATCHDOG.name.encode()) for argument in command)


def _running_state(paths: Paths) -> dict[str, Any] | None:
    """The state of the server that runs, if one does (read under the start lock)."""
    state = _read_state(paths)
    if state is None or not _is_watchdog(int(state.get("watchdog", 0))):
        return None
    if not paths.socket.exists():
        return None
    return state


def _postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _is_our_postmaster(pid: int, data: Path) -> bool:
    """Whether ``pid`` is a server of this data directory (its postmaster.pid names it)."""
    if not pid_alive(pid):
        return False
    command = _command_line(pid)
    return command is None or str(data).encode() in command


def _stop_leftover(paths: Paths) -> None:
    """A server whose watchdog is gone (killed before it could stop it): stopped, then forgotten."""
    paths.beside("state").unlink(missing_ok=True)
    pid = _postmaster_pid(paths.data)
    if pid is None or not _is_our_postmaster(pid, paths.data):
        return
    log.warning("pglite_testcase: stopping a PostgreSQL server (pid %d) that a crashed run left", pid)
    for stop_signal, seconds in ((signal.SIGINT, 10.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, stop_signal)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not _is_our_postmaster(pid, paths.data):
                return
            time.sleep(0.02)


def _as_server_user(user: ServerUser) -> dict[str, Any]:
    return {"user": user.uid, "group": user.gid, "extra_groups": []} if user.switched else {}


def _server_environment() -> dict[str, str]:
    """The server's environment: messages in English, times in UTC, none of the caller's PG* variables."""
    return {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C", "TZ": "UTC"}


def _initdb_once(paths: Paths, install: PostgresInstall, user: ServerUser) -> None:
    """``initdb`` into a new directory renamed into place: a data directory is complete or absent."""
    if (paths.data / "PG_VERSION").is_file():
        return
    if paths.data.exists():  # not a data directory: what a killed initdb or a damaged cache left
        shutil.rmtree(paths.data)
    building = paths.server / f"data.new.{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    for leftover in paths.server.glob("data.new.*"):  # initdb of a process killed meanwhile
        pid = leftover.suffix[1:]
        if not (pid.isdigit() and pid_alive(int(pid))):
            shutil.rmtree(leftover, ignore_errors=True)
    command = [
        str(install.binary("initdb")),
        "-D",
        str(building),
        "-U",
        SUPERUSER,
        "--auth=trust",
        "--encoding=UTF8",
        "--no-locale",
        "--no-sync",
        "--no-instructions",
    ]
    log.info("pglite_testcase: initdb of the PostgreSQL %s data directory %s", install.version, paths.data)
    result = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=_server_environment(),
        cwd=paths.server,
        **_as_server_user(user),
    )
    if result.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        raise PostgresServerError(
            f"initdb of the PostgreSQL server's data directory {paths.data} failed (exit status "
            f"{result.returncode}):\n{(result.stderr or result.stdout).strip()}"
        )
    os.rename(building, paths.data)


def _start(paths: Paths, install: PostgresInstall, user: ServerUser) -> None:
    """Start the server through a new watchdog; return once it accepts connections."""
    command = [str(install.binary("postgres")), "-D", str(paths.data), "-p", str(PORT), "-k", str(paths.server)]
    for name, value in SETTINGS.items():
        command += ["-c", f"{name}={value}"]
    config = {
        "command": command,
        "data": str(paths.data),
        "socket_dir": str(paths.server),
        "port": PORT,
        "uid": user.uid if user.switched else None,
        "gid": user.gid if user.switched else None,
        "env": _server_environment(),
        "lease": str(paths.beside("lease")),
        "start_lock": str(paths.beside("start.lock")),
        "state": str(paths.beside("state")),
        "log": str(paths.beside("log")),
    }
    started = time.monotonic()
    watchdog = subprocess.Popen(
        [sys.executable, "-I", "-S", str(WATCHDOG), json.dumps(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C in the terminal is for the test processes, not for the shared server
        cwd="/",
    )
    assert watchdog.stdout is not None
    with watchdog.stdout as answer:
        message = _read_answer(answer.fileno(), started + START_SECONDS)
    watchdog.wait()  # it forked: this is the parent, which exits at once
    if message != "ready":
        raise PostgresServerError(f"The PostgreSQL server {install.version} did not start: {message}")
    log.info("pglite_testcase: PostgreSQL %s started in %.2f s", install.version, time.monotonic() - started)


def _read_answer(fd: int, deadline: float) -> str:
    """What the watchdog printed, up to the end of its output or the deadline."""
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return f"its watchdog did not answer within {START_SECONDS:g} s"
        try:
            readable, _, _ = select.select([fd], [], [], remaining)
        except InterruptedError:
            continue
        if readable:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            if b"".join(chunks) == b"ready\n":
                break
    text = b"".join(chunks).decode(errors="replace").strip()
    return text.removeprefix("error: ") if text else "its watchdog exited without a word"
