"""Refusing a cache that another user could have put files into.

The cache holds the JavaScript that node runs (PGlite's npm packages) and
snapshots that can hold seed data. A cache directory another user owns, or
that others can write to (a world-writable directory under /tmp, say), would
let them run code as the user running the tests, or read and change their
data: it is refused, with what to do instead. Root's files are trusted, as
the system's are. Lock files are opened without following symbolic links
and without truncating, so that a planted link cannot truncate another file.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import stat
from pathlib import Path

from ..environment import CACHE_DIR
from ..errors import UnsafeCacheError


def describe_user(uid: int) -> str:
    try:
        return f"user {pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _group(gid: int) -> str:
    try:
        return f"group {grp.getgrgid(gid).gr_name}"
    except KeyError:
        return f"gid {gid}"


def unsafe_reason(status: os.stat_result) -> str | None:
    """Why a file with this status is not safe to use, or None."""
    if status.st_uid not in (os.geteuid(), 0):
        return f"it belongs to {describe_user(status.st_uid)}"
    mode = stat.S_IMODE(status.st_mode)
    if stat.S_ISLNK(status.st_mode):
        return "it is a symbolic link"
    if mode & stat.S_IWOTH:
        return f"every user can write to it (mode {mode:04o})"
    if mode & stat.S_IWGRP and status.st_gid != os.getegid():
        return f"{_group(status.st_gid)} can write to it (mode {mode:04o})"
    return None


def refusal(path: Path, what: str, reason: str) -> str:
    return (
        f"The {what} {path} is not safe to use: {reason}. pglite_testcase runs JavaScript from its cache "
        f"and keeps database snapshots there, so it refuses a cache that another user could change. "
        f"Use a directory of your own that only you can write to (for example `chmod go-w {path}` if it is "
        f"yours), or point {CACHE_DIR} at one."
    )


def check(path: Path, what: str) -> None:
    """Raise ``UnsafeCacheError`` if ``path`` (which must exist) is not safe to use."""
    reason = unsafe_reason(os.stat(path))
    if reason is not None:
        raise UnsafeCacheError(refusal(path, what, reason))


def make_private_dir(path: Path, what: str) -> None:
    """Create ``path`` (mode 0700) if it is missing; refuse it if it is not safe."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    check(path, what)


def open_lock(path: Path) -> int:
    """A file descriptor of the lock file ``path``: created 0600, never followed if a link, never truncated."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeCacheError(refusal(path, "lock file", "it is a symbolic link")) from exc
        raise
    status = os.fstat(fd)
    reason = unsafe_reason(status) or (None if stat.S_ISREG(status.st_mode) else "it is not a regular file")
    if reason is not None:
        os.close(fd)
        raise UnsafeCacheError(refusal(path, "lock file", reason))
    return fd


def is_read_only_error(exc: OSError) -> bool:
    return exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
