"""Command line: ``python -m pglite_testcase install | doctor | cache info | cache clear | cleanup | serve``."""

from __future__ import annotations

import argparse
import sys

from . import environment
from .cli import diagnostics, serve
from .environment import POSTGRES_VERSIONS
from .errors import PGliteTestCaseError
from .runtime.node_packages import NodePackages, find_node, installed_version


def _install(args: argparse.Namespace) -> int:
    runtime = find_node()
    for version in args.postgres_version or POSTGRES_VERSIONS:
        packages = NodePackages(postgres_version=version)
        packages.ensure_installed(runtime)
        print(
            f"PGlite {installed_version(packages.directory)} (PostgreSQL {version}) is installed in "
            f"{packages.directory} (node {'.'.join(map(str, runtime.version))} at {runtime.node})"
        )
    return 0


def _postgres_version_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--postgres-version",
        type=int,
        choices=sorted(POSTGRES_VERSIONS),
        action="append",
        help=f"{what} only this PostgreSQL major's PGlite (repeatable; default: every major)",
    )


def _cleanup(args: argparse.Namespace) -> int:
    from .database.server import (
        check_server_answers,
        cleanup,
        parse_server_url,
    )

    url = parse_server_url(args.url, "--url")
    check_server_answers(url, "--url", environment.connect_timeout() or environment.DEFAULT_CONNECT_TIMEOUT)
    dropped = cleanup(url, templates=args.templates)
    for name in dropped:
        print(f"dropped {name}")
    print(f"{len(dropped)} database(s) dropped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pglite_testcase")
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install", help="fill the PGlite npm package cache ahead of time")
    _postgres_version_option(install, "install")
    install.set_defaults(run=_install)
    doctor = commands.add_parser("doctor", help="check Node, the cache and a PGlite start, step by step")
    _postgres_version_option(doctor, "check")
    doctor.set_defaults(run=lambda args: diagnostics.doctor(args.postgres_version))
    cache = commands.add_parser("cache", help="what the cache holds, or empty it")
    cache_commands = cache.add_subparsers(dest="action", required=True)
    cache_commands.add_parser("info").set_defaults(run=lambda args: diagnostics.cache_info())
    cache_commands.add_parser("clear").set_defaults(run=lambda args: diagnostics.cache_clear())
    clean = commands.add_parser(
        "cleanup",
        help="drop the test databases a crashed run left on a PostgreSQL server (those nobody is connected to)",
    )
    clean.add_argument("--url", required=True, help="the server, as in PGLITE_TESTCASE_DATABASE_URL")
    clean.add_argument("--templates", action="store_true", help="drop the schema templates too")
    clean.set_defaults(run=_cleanup)
    serve_parser = commands.add_parser(
        "serve",
        help="run PGlite in the foreground: print its libpq URL, serve until Ctrl-C or SIGTERM",
        description="Run the package's PGlite server in the foreground. The first line on stdout is its libpq "
        "URL; it serves until Ctrl-C, SIGTERM or SIGHUP, then stops and removes what it made.",
    )
    serve.add_arguments(serve_parser)
    serve_parser.set_defaults(run=serve.run)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve.check_arguments(serve_parser, args)
    try:
        return int(args.run(args))
    except PGliteTestCaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
