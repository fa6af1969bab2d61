"""Snapshots of built databases, kept in the cache so later runs start from them.

A snapshot is PGlite's data directory as a tarball (``dumpDataDir``), which a
new PGlite process loads at start (``loadDataDir``) several times faster
than it runs ``initdb``, and without running a schema's DDL again. Each is
named by a key made of everything that decides its content: the schema's
fingerprint (its DDL, or its migration scripts and revision) and the PGlite
packages (the lockfile's digest). A metadata file beside it records its size
and CRC-32, so a truncated or damaged file is noticed and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from .node_packages import cache_root, lockfile_digest

log = logging.getLogger("pglite_testcase")

EMPTY = "empty"
KEEP = 12  # snapshots kept; the least recently used beyond that are deleted


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


class SnapshotStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else cache_root() / "snapshots"
        self.runtime = lockfile_digest()

    def _key(self, fingerprint: str) -> str:
        return hashlib.sha256(f"{self.runtime}\n{fingerprint}".encode()).hexdigest()[:32]

    def _paths(self, fingerprint: str) -> tuple[Path, Path]:
        key = self._key(fingerprint)
        return self.root / f"{key}.tar", self.root / f"{key}.json"

    def find(self, fingerprint: str) -> Snapshot | None:
        """The snapshot of ``fingerprint``, if one was saved (not yet checked for damage)."""
        tar, meta = self._paths(fingerprint)
        try:
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
            return None
        return snapshot

    def discard(self, snapshot: Snapshot, reason: str) -> None:
        log.warning("pglite_testcase: snapshot %s is %s; rebuilding it", snapshot.path, reason)
        for path in self._paths(snapshot.fingerprint):
            path.unlink(missing_ok=True)

    def path_for(self, fingerprint: str) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self._paths(fingerprint)[0]

    def record(self, fingerprint: str, build_seconds: float) -> Snapshot:
        """Write the metadata of a tarball just written at ``path_for(fingerprint)``."""
        tar, meta = self._paths(fingerprint)
        data = tar.read_bytes()
        size, crc32 = len(data), zlib.crc32(data)
        record = {
            "fingerprint": fingerprint,
            "size": size,
            "crc32": crc32,
            "build_seconds": build_seconds,
            "created": time.time(),
        }
        partial = meta.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(record))
        os.replace(partial, meta)
        self._evict()
        return Snapshot(fingerprint, tar, size, crc32, build_seconds)

    def _evict(self) -> None:
        tars = sorted(self.root.glob("*.tar"), key=lambda path: path.stat().st_mtime, reverse=True)
        for tar in tars[KEEP:]:
            tar.unlink(missing_ok=True)
            tar.with_suffix(".json").unlink(missing_ok=True)

    # -- which snapshot a process should start from, before it knows ----------------------

    def _last_used_file(self) -> Path:
        where = hashlib.sha256(os.getcwd().encode()).hexdigest()[:16]
        return self.root / f"last-used-{where}"

    def remember_last_used(self, fingerprint: str, extensions: list[str]) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._last_used_file().write_text(json.dumps({"fingerprint": fingerprint, "extensions": extensions}))
        except OSError:
            pass

    def last_used(self) -> tuple[str | None, list[str]]:
        """The schema (and extensions) this project's first class used last time, if known."""
        try:
            record = json.loads(self._last_used_file().read_text())
            return str(record["fingerprint"]), [str(name) for name in record["extensions"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None, []
