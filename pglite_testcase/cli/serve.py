"""``python -m pglite_testcase serve``: the package's PGlite server in the foreground.

The same server the test classes use (``PGliteDatabase``: the npm package
cache, the snapshot of an empty database, ``node/server.js``), for anything
else that wants a PostgreSQL for a while: a driver's own test suite, a shell
with ``psql``, a tool under development. The first line on stdout is the
libpq URL (flushed at once, so ``read url`` in a script gets it); then it
serves until Ctrl-C, SIGTERM or SIGHUP, and exits 0 with node stopped and its
private directory removed. If node stops by itself (a statement ran past
``--statement-timeout``, PGlite failed), it exits 1 saying why.

The URL names the database the server really serves (``current_database()``):
the server ignores the name a client asks for, and a client that compares the
two should find them equal.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import quote

from ..database.extensions import EXTENSIONS, WithExtensions
from ..database.schema import EmptySchema
from ..environment import POSTGRES_VERSIONS
from ..runtime.node_packages import default_postgres_version

USER = "postgres"


@dataclass(frozen=True)
class PostgresLine:
    """A PostgreSQL major version ``serve`` can offer, and what serves it."""

    major: int


# One entry per major version with a PGlite line of its own (node/pg<major>/).
POSTGRES_LINES: dict[int, PostgresLine] = {major: PostgresLine(major) for major in POSTGRES_VERSIONS}


class _Stop(Exception):
    """A stop signal arrived."""


def postgres_version(text: str) -> int:
    """argparse type of ``--postgres-version``: a major version ``serve`` offers."""
    try:
        major = int(text)
    except ValueError:
        major = -1
    if major not in POSTGRES_LINES:
        offered = ", ".join(str(line) for line in sorted(POSTGRES_LINES))
        raise argparse.ArgumentTypeError(f"PostgreSQL {text} is not available; this version serves {offered}")
    return major


def extension_name(text: str) -> str:
    """argparse type of ``--extension``: an extension PGlite ships."""
    if text not in EXTENSIONS:
        raise argparse.ArgumentTypeError(
            f"PGlite has no extension {text!r} that this package registers; known: {', '.join(sorted(EXTENSIONS))}"
        )
    return text


def port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return port


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds greater than 0")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tcp", action="store_true", help="listen on 127.0.0.1 (password required) instead of a Unix socket"
    )
    parser.add_argument("--port", type=port_number, help="with --tcp: this port (default: a free one)")
    parser.add_argument(
        "--extension",
        dest="extensions",
        action="append",
        type=extension_name,
        default=[],
        metavar="NAME",
        help="register the extension's bundle and CREATE EXTENSION it (repeatable)",
    )
    parser.add_argument(
        "--postgres-version",
        type=postgres_version,
        default=None,
        metavar="MAJOR",
        help=f"the PostgreSQL major version (offered: {', '.join(map(str, sorted(POSTGRES_LINES)))}; "
        "default: PGLITE_TESTCASE_POSTGRES_VERSION, else 17)",
    )
    parser.add_argument(
        "--statement-timeout",
        type=seconds,
        metavar="S",
        help="stop the server if one statement runs longer than S seconds (PGlite cannot cancel one); "
        "default: no limit",
    )


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.port is not None and not args.tcp:
        parser.error("--port needs --tcp (without it the server listens on a Unix socket)")


def port_in_use(port: int) -> str | None:
    """Why PGlite could not listen on 127.0.0.1:port, asked before starting it (a start that
    fails to listen would be taken for a snapshot PGlite cannot load)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def libpq_url(*, host: str, port: int | None, database: str, password: str | None) -> str:
    """A libpq URL: TCP with host and port, or a Unix socket directory in ``?host=``."""
    user = USER if password is None else f"{USER}:{quote(password, safe='')}"
    if port is not None:
        return f"postgresql://{user}@{host}:{port}/{quote(database, safe='')}"
    return f"postgresql://{user}@/{quote(database, safe='')}?host={quote(host, safe='/')}"


def run(args: argparse.Namespace) -> int:
    from sqlalchemy import text
    from sqlalchemy.pool import NullPool

    from ..database.pglite import PGliteDatabase
    from ..logs import configure_logging
    from ..runtime.node_packages import installed_version

    configure_logging()
    if args.port is not None:
        problem = port_in_use(args.port)
        if problem is not None:
            print(f"error: cannot listen on 127.0.0.1:{args.port}: {problem}", file=sys.stderr)
            return 1
    line = POSTGRES_LINES[default_postgres_version() if args.postgres_version is None else args.postgres_version]
    handlers = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    database: PGliteDatabase | None = None
    try:
        extensions = frozenset(args.extensions)
        database = PGliteDatabase.start(
            use_tcp=args.tcp, extensions=extensions, port=args.port or 0, postgres_version=line.major
        )
        database.set_statement_timeout(args.statement_timeout)
        if extensions:
            database.ensure_schema(WithExtensions(EmptySchema(), tuple(sorted(extensions))))
        engine = database.create_engine(poolclass=NullPool)
        try:
            with engine.connect() as connection:
                name = str(connection.scalar(text("SELECT current_database()")))
                major = int(str(connection.scalar(text("SHOW server_version_num")))) // 10000
                version = str(connection.scalar(text("SHOW server_version")))
        finally:
            engine.dispose()
        if major != line.major:
            print(f"error: asked for PostgreSQL {line.major}, the server is {version}", file=sys.stderr)
            return 1
        process = database.process
        if args.tcp:
            url = libpq_url(host="127.0.0.1", port=process.config.tcp_port, database=name, password=process.password)
        else:
            url = libpq_url(host=str(process.private_dir), port=None, database=name, password=None)
        print(url, flush=True)
        print(
            f"pglite_testcase: PostgreSQL {version} (PGlite {installed_version(Path(database.node_modules).parent)}) "
            f"serving at {process.endpoint}; "
            f"Ctrl-C or SIGTERM stops it",
            file=sys.stderr,
            flush=True,
        )
        node = process.process
        assert node is not None
        code = node.wait()  # until a signal raises _Stop, or node stops by itself
        how = "was killed" if code < 0 else f"exited (code {code})"
        print(
            f"error: the PGlite server stopped: its node process {how}. Its last output:\n"
            f"{process.output_tail() or '(none)'}",
            file=sys.stderr,
        )
        return 1
    except (_Stop, KeyboardInterrupt):
        return 0
    finally:
        # No signal may interrupt the stop: a second Ctrl-C must not leave node behind.
        for sig in handlers:
            signal.signal(sig, signal.SIG_IGN)
        try:
            if database is not None:
                database.stop()
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
