"""The machine and software a run measured, read at run time."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
from typing import Any

from .server import server_version

PACKAGES = (
    "pglite-testcase",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "py-pglite",
    "pytest",
    "pytest-postgresql",
    "unittest-parallel",
)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gb() -> float:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return float("nan")


def node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return "no node on PATH"
    return subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def describe(server_url: str | None) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gb": memory_gb(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "node": node_version(),
        "postgresql_server": server_version(server_url) if server_url else None,
        "packages": {name: package_version(name) for name in PACKAGES},
        "load_average_start": os.getloadavg()[0],
    }
