"""Snapshots of built databases, kept in the cache so later runs start from them.

A snapshot is PGlite's data directory as a tarball (``dumpDataDir``), which a
new PGlite process loads at start (``loadDataDir``) several times faster
than it runs ``initdb``, and without running a schema's DDL again. Each is
named by a key made of everything that decides its content: the schema's
fingerprint (its DDL, or its migration scripts and revision), the PostgreSQL
major (a data directory of one major is not loadable by another) and the PGlite
packages (that major's lockfile's digest). A metadata file beside it records its size
and CRC-32, so a truncated or damaged file is noticed and rebuilt.

A snapshot is written as a pair, atomically: the tarball and its metadata
are written under temporary names (``<key>.tar.<pid>.tmp``), then renamed,
the metadata last; a tarball without metadata is never used. What a process
killed half-way leaves (temporary files of dead pids, tarballs without
metadata) is removed by the next process that opens the store. Snapshots
can hold seed data: they are readable by their owner only, in a directory
of the user's own (``cache_safety``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import environment
from ..environment import POSTGRES_VERSIONS
from ..errors import UnsafeCacheError
from ..runtime import cache_safety
from ..runtime.node_packages import (
    cache_root,
    default_postgres_version,
    lockfile_digest,
    pid_alive,
)

log = logging.getLogger("pglite_testcase")

EMPTY = "empty"
# Snapshots this process used (their tarballs): never evicted by it, however many schemas it has.
_USED_THIS_RUN: set[Path] = set()


ORPHAN_SECONDS = 600  # a tarball without metadata this old is a leftover, not one being saved
_TEMPORARY = re.compile(r"^[0-9a-f]+\.(tar|json)\.(\d+)\.tmp$")


@dataclass(frozen=True)
class Snapshot:
    fingerprint: str
    path: Path
    size: int
    crc32: int
    build_seconds: float

    def is_intact(self) -> bool:
        """Whether the file still has the size and checksum it was written with."""
        try:
            if self.path.stat().st_size != self.size:
                return False
            return zlib.crc32(self.path.read_bytes()) == self.crc32
        except OSError:
            return False


def save_failure_advice(exc: OSError) -> str:
    """What to do about a snapshot that could not be saved, from why."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"Free some disk space there, or point {environment.CACHE_DIR} elsewhere."
    if exc.errno is not None and cache_safety.is_read_only_error(exc):
        return f"The cache is not writable: make it writable, or point {environment.CACHE_DIR} at a writable directory."
    return f"Point {environment.CACHE_DIR} at another directory if this goes on."


class SnapshotStore:
    """The snapshots of one PostgreSQL major (those of the others share the directory, never a key)."""

    def __init__(self, root: Path | None = None, postgres_version: int | None = None) -> None:
        self.root = Path(os.path.abspath(root)) if root is not None else cache_root() / "snapshots"
        self.postgres_version = default_postgres_version() if postgres_version is None else postgres_version
        self.runtime = f"pg{self.postgres_version}:{lockfile_digest(self.postgres_version)}"
        self._checked = False
        self._refused: str | None = None

    def _key(self, fingerprint: str) -> str:
        return hashlib.sha256(f"{self.runtime}\n{fingerprint}".encode()).hexdigest()[:32]

    def count_by_line(self) -> dict[int, int]:
        """How many snapshots each PostgreSQL major has here (from their metadata; unknown ones left out)."""
        counts: dict[int, int] = {}
        for meta in self.root.glob("*.json") if self.root.exists() else ():
            try:
                version = json.loads(meta.read_text()).get("postgres_version")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(version, int):
                counts[version] = counts.get(version, 0) + 1
        return counts

    def _paths(self, fingerprint: str) -> tuple[Path, Path]:
        key = self._key(fingerprint)
        return self.root / f"{key}.tar", self.root / f"{key}.json"

    def _temporary(self, path: Path) -> Path:
        return path.with_name(f"{path.name}.{os.getpid()}.tmp")

    def _usable(self) -> bool:
        """Whether the store may be read: its directory safe (checked once), leftovers removed."""
        if not self._checked:
            self._checked = True
            try:
                reason = cache_safety.unsafe_reason(os.stat(self.root))
            except OSError:
                return True  # not there yet: nothing to read, it is made safe when first written
            if reason is not None:
                self._refused = cache_safety.refusal(self.root, "snapshot directory", reason)
                log.warning("pglite_testcase: %s", self._refused)
            else:
                self._remove_leftovers()
        return self._refused is None

    def _remove_leftovers(self) -> None:
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return
        names = {entry.name for entry in entries}
        for entry in entries:
            try:
                temporary = _TEMPORARY.match(entry.name)
                if temporary is not None and not pid_alive(int(temporary[2])):
                    os.unlink(entry.path)
                elif entry.name.endswith(".tar") and entry.name[:-4] + ".json" not in names:
                    if time.time() - entry.stat().st_mtime > ORPHAN_SECONDS:
                        os.unlink(entry.path)
            except OSError:
                pass  # a read-only cache keeps its leftovers; they are never used

    def find(self, fingerprint: str) -> Snapshot | None:
        """The snapshot of ``fingerprint``, if one was saved (not yet checked for damage)."""
        if not self._usable():
            return None
        tar, meta = self._paths(fingerprint)
        try:
            for path in (tar, meta):
                reason = cache_safety.unsafe_reason(os.stat(path))
                if reason is not None:
                    log.warning("pglite_testcase: %s", cache_safety.refusal(path, "snapshot", reason))
                    return None
            record = json.loads(meta.read_text())
            snapshot = Snapshot(
                fingerprint=fingerprint,
                path=tar,
                size=int(record["size"]),
                crc32=int(record["crc32"]),
                build_seconds=float(record["build_seconds"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        try:
            os.utime(tar)  # most recently used: kept longest
        except OSError:
            pass  # a read-only cache: its snapshots are still good
        _USED_THIS_RUN.add(tar)
        return snapshot

    def discard(self, snapshot: Snapshot, reason: str) -> None:
        log.warning("pglite_testcase: snapshot %s is %s; rebuilding it", snapshot.path, reason)
        for path in reversed(self._paths(snapshot.fingerprint)):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass

    def path_for(self, fingerprint: str) -> Path:
        """Where to write the tarball of ``fingerprint`` (a temporary name: ``record`` puts it in place)."""
        try:
            cache_safety.make_private_dir(self.root, "snapshot directory")
        except UnsafeCacheError as exc:
            raise PermissionError(errno.EPERM, str(exc)) from exc
        partial = self._temporary(self._paths(fingerprint)[0])
        partial.unlink(missing_ok=True)  # a dead process with this pid left it
        return partial

    def record(self, fingerprint: str, build_seconds: float) -> Snapshot:
        """Put the tarball just written at ``path_for(fingerprint)`` in place, with its metadata."""
        tar, meta = self._paths(fingerprint)
        partial_tar = self._temporary(tar)
        source = partial_tar if partial_tar.exists() else tar
        data = source.read_bytes()
        size, crc32 = len(data), zlib.crc32(data)
        record = {
            "fingerprint": fingerprint,
            "postgres_version": self.postgres_version,
            "size": size,
            "crc32": crc32,
            "build_seconds": build_seconds,
            "created": time.time(),
        }
        partial_meta = self._temporary(meta)
        partial_meta.unlink(missing_ok=True)
        fd = os.open(partial_meta, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(json.dumps(record))
        if source is partial_tar:
            meta.unlink(missing_ok=True)  # an old tarball's metadata must never describe the new one
            os.replace(partial_tar, tar)
        os.replace(partial_meta, meta)
        _USED_THIS_RUN.add(tar)
        self._evict()
        return Snapshot(fingerprint, tar, size, crc32, build_seconds)

    def save(self, dump: Callable[[Path], None], fingerprint: str, build_seconds: float) -> Snapshot | None:
        """Dump and record a snapshot; on failure, one warning line with what to do, and nothing left."""
        partial: Path | None = None
        try:
            partial = self.path_for(fingerprint)
            dump(partial)
            return self.record(fingerprint, build_seconds)
        except OSError as exc:
            for leftover in (partial, self._temporary(self._paths(fingerprint)[1])):
                if leftover is not None:
                    try:
                        leftover.unlink(missing_ok=True)
                    except OSError:
                        pass
            log.warning(
                "pglite_testcase: could not save a snapshot in %s (%s); the next run builds this schema again. %s",
                self.root,
                exc,
                save_failure_advice(exc),
            )
            return None

    def _evict(self) -> None:
        """Beyond ``PGLITE_TESTCASE_SNAPSHOTS_KEPT`` (12), the least recently used go; never an empty database's (a
        start without it pays initdb) nor one this run used."""
        spared = set(_USED_THIS_RUN)
        for version in POSTGRES_VERSIONS:
            spared.add(SnapshotStore(self.root, version)._paths(EMPTY)[0])
        tars = sorted(self.root.glob("*.tar"), key=lambda path: path.stat().st_mtime)  # least recent first
        excess = len(tars) - environment.snapshots_kept()
        for tar in [tar for tar in tars if tar not in spared][: max(excess, 0)]:
            tar.with_suffix(".json").unlink(missing_ok=True)
            tar.unlink(missing_ok=True)

    # -- which snapshot a process should start from, before it knows ----------------------

    def _last_used_file(self) -> Path:
        # Per project directory and default major (PGLITE_TESTCASE_POSTGRES_VERSION): a run on
        # another major by default remembers its own first class.
        where = hashlib.sha256(os.getcwd().encode()).hexdigest()[:16]
        return self.root / f"last-used-{where}-pg{default_postgres_version()}"

    def remember_last_used(self, fingerprint: str, extensions: list[str]) -> None:
        try:
            cache_safety.make_private_dir(self.root, "snapshot directory")
            record = {"fingerprint": fingerprint, "extensions": extensions, "postgres_version": self.postgres_version}
            self._last_used_file().write_text(json.dumps(record))
        except (OSError, UnsafeCacheError):
            pass

    def last_used(self) -> tuple[str | None, list[str], int]:
        """The schema, extensions and PostgreSQL major this project's first class used last time, if known."""
        default = default_postgres_version()
        if not self._usable():
            return None, [], default
        try:
            record = json.loads(self._last_used_file().read_text())
            version = record.get("postgres_version", default)
            return (
                str(record["fingerprint"]),
                [str(name) for name in record["extensions"]],
                version if version in POSTGRES_VERSIONS else default,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None, [], default
