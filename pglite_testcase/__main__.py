"""Command line: ``python -m pglite_testcase install``."""

from __future__ import annotations

import argparse
import sys

from .errors import PGliteTestCaseError
from .node_packages import NodePackages, find_node, installed_version


def _install(args: argparse.Namespace) -> int:
    runtime = find_node()
    packages = NodePackages()
    packages.ensure_installed(runtime)
    print(
        f"PGlite {installed_version(packages.directory)} is installed in {packages.directory} "
        f"(node {'.'.join(map(str, runtime.version))} at {runtime.node})"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pglite_testcase")
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install", help="fill the PGlite npm package cache ahead of time")
    install.set_defaults(run=_install)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except PGliteTestCaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
