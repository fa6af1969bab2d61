"""``python -m pglite_testcase doctor`` and ``cache info`` / ``cache clear``.

``doctor`` walks the path a test run takes — Node, the package cache, a
PGlite start, a query, a stop — timing each step, and stops at the first
failure with the fix.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ..errors import PGliteTestCaseError
from ..runtime import postgres_cluster


def _step(name: str, run: Callable[[], str]) -> bool:
    started = time.perf_counter()
    try:
        detail = run()
    except Exception as exc:  # the doctor reports any failure, with its fix
        print(f"FAIL  {name} ({time.perf_counter() - started:.2f} s)\n\n{type(exc).__name__}: {exc}")
        return False
    print(f"ok    {name} ({time.perf_counter() - started:.2f} s): {detail}")
    return True


def doctor(postgres_versions: list[int] | None = None) -> int:
    """The doctor's steps for each PostgreSQL major (default: every one), stopping at the first failure."""
    from ..environment import POSTGRES_VERSIONS

    print("pglite_testcase doctor")
    for version in postgres_versions or POSTGRES_VERSIONS:
        print(f"\nPostgreSQL {version}: {POSTGRES_VERSIONS[version]}")
        if _doctor_line(version) != 0:
            return 1
    print("\nall good")
    return 0


def _doctor_line(postgres_version: int) -> int:
    from sqlalchemy import text

    from ..database.pglite import PGliteDatabase
    from ..runtime.node_packages import NodePackages, NodeRuntime, find_node, installed_version

    runtimes: list[NodeRuntime] = []
    databases: list[PGliteDatabase] = []  # the one started, until it is stopped

    def node() -> str:
        runtime = find_node()
        runtimes.append(runtime)
        return f"node {'.'.join(map(str, runtime.version))} at {runtime.node}"

    def cache() -> str:
        packages = NodePackages(postgres_version=postgres_version)
        problem = packages.problem(deep=True)  # every file's SHA-256, not only its size
        existed = packages.directory.exists()
        if problem is not None and existed:
            packages.invalidate()
        packages.ensure_installed(runtimes[0])
        found = "complete" if problem is None else f"{problem}: installed again" if existed else "empty: installed"
        return f"{packages.directory} ({found}); PGlite {installed_version(packages.directory)}"

    def start() -> str:
        database = PGliteDatabase.start(postgres_version=postgres_version)
        databases.append(database)
        return f"listening on {database.process.endpoint}"

    def query() -> str:
        engine = databases[0].create_engine()
        try:
            with engine.connect() as connection:
                version = connection.scalar(text("SELECT version()"))
        finally:
            engine.dispose()
        return str(version).split(" on ")[0]

    def stop() -> str:
        databases.pop().stop()
        return "stopped, private directory removed"

    try:
        for name, run in (
            ("node", node),
            ("package cache", cache),
            ("PGlite start", start),
            ("query", query),
            ("stop", stop),
        ):
            if not _step(name, run):
                return 1
    finally:
        for database in databases:
            database.stop()
    return 0


def _size(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file() and not file.is_symlink())


def cache_info() -> int:
    from ..database.snapshots import SnapshotStore
    from ..environment import POSTGRES_VERSIONS
    from ..runtime.node_packages import NodePackages, default_postgres_version, installed_version

    store = SnapshotStore(postgres_version=17)
    print(f"cache directory: {NodePackages(postgres_version=17).root}")
    try:
        default = f"PostgreSQL {default_postgres_version()}"
    except PGliteTestCaseError as exc:
        default = str(exc)
    print(f"default major:   {default}")
    for version in POSTGRES_VERSIONS:
        packages = NodePackages(postgres_version=version)
        problem = packages.problem()
        label = f"npm packages {version}:"
        if problem is None:
            print(
                f"{label} {packages.directory} (PGlite {installed_version(packages.directory)}, "
                f"{_size(packages.directory) / 1e6:.0f} MB)"
            )
        elif not packages.directory.exists():
            print(f"{label} not installed (python -m pglite_testcase install --postgres-version {version})")
        else:
            print(f"{label} {packages.directory}: {problem} (the next run installs them again)")
    snapshots = sorted(store.root.glob("*.tar")) if store.root.exists() else []
    total = sum(path.stat().st_size for path in snapshots)
    lines = store.count_by_line()
    per_line = ", ".join(f"PostgreSQL {version}: {count}" for version, count in sorted(lines.items()))
    print(
        f"snapshots:       {len(snapshots)} ({total / 1e6:.0f} MB) in {store.root}"
        + (f" ({per_line})" if per_line else "")
    )
    for server, running in postgres_cluster.servers():
        print(
            f"postgres backend: {server} ({_size(server) / 1e6:.0f} MB; "
            + ("its server runs now)" if running else "no server runs)")
        )
    return 0


def cache_clear() -> int:
    from ..runtime.node_packages import NodePackages

    running = [str(server) for server, running in postgres_cluster.servers() if running]
    if running:
        print(
            f"not cleared: the postgres backend's server in {', '.join(running)} runs (test processes use it); "
            "it stops when they end"
        )
        return 1
    packages = NodePackages(postgres_version=17)  # the root is every major's
    packages.clear()
    print(f"removed {packages.root}")
    return 0


__all__ = ["cache_clear", "cache_info", "doctor"]
