"""The PGlite server on the wire, driven by real clients: COPY, named cursors, errors, large values, cancels."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
import unittest
from typing import Any

import psycopg
from sqlalchemy import Column, Integer, String, create_engine, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, declarative_base
from sqlalchemy.pool import NullPool

from pglite_testcase import PGliteTestCase, environment
from pglite_testcase.compat import SQLALCHEMY_2
from pglite_testcase.runtime.node_packages import NodePackages, find_node
from pglite_testcase.runtime.process import PGliteProcess

from .models import Author, Base
from .support import assert_death_stays_in_its_test, pglite_only

try:
    import psycopg2
except ImportError:  # psycopg2 is an optional test dependency
    psycopg2 = None

try:
    import asyncpg
except ImportError:
    asyncpg = None


def start_pglite(test: unittest.TestCase, **options: Any) -> PGliteProcess:
    runtime = find_node()
    process = PGliteProcess(runtime, NodePackages().ensure_installed(runtime), **options)
    test.addCleanup(process.stop)
    process.start()
    return process


def connect_kwargs(process: PGliteProcess) -> dict[str, Any]:
    if process.config.use_tcp:
        return {"host": "127.0.0.1", "port": process.config.tcp_port, "password": process.password}
    return {"host": str(process.private_dir), "password": "postgres"}  # the socket asks for none; any is taken


def connect(process: PGliteProcess, **options: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(user="postgres", dbname="postgres", **connect_kwargs(process), **options)


class RawClient:
    """A protocol client on a plain socket, for what drivers never do (not reading a reply)."""

    def __init__(self, process: PGliteProcess) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(30)
        self.sock.connect(str(process.config.socket_path))
        body = b"user\0postgres\0database\0postgres\0\0"
        self.sock.sendall(struct.pack("!ii", len(body) + 8, 196608) + body)
        self.read_until_ready()

    def query(self, sql: str) -> None:
        self.sock.sendall(self.message(b"Q", sql.encode() + b"\0"))

    def send_bytea_length_query(self, value: bytes) -> None:
        """``SELECT length($1)`` through the extended protocol, ``value`` a binary parameter."""
        self.sock.sendall(
            self.message(b"P", b"\0SELECT length($1::bytea)\0" + struct.pack("!h", 0))
            + self.message(b"B", b"\0\0" + struct.pack("!hhhi", 1, 1, 1, len(value)) + value + struct.pack("!h", 0))
            + self.message(b"E", b"\0" + struct.pack("!i", 0))
            + self.message(b"S", b"")
        )

    @staticmethod
    def message(kind: bytes, body: bytes) -> bytes:
        return kind + struct.pack("!i", len(body) + 4) + body

    def read_until_ready(self) -> list[tuple[bytes, bytes]]:
        messages, buffer = [], b""
        while True:
            while len(buffer) >= 5 and len(buffer) >= struct.unpack("!i", buffer[1:5])[0] + 1:
                length = struct.unpack("!i", buffer[1:5])[0] + 1
                messages.append((buffer[:1], buffer[5:length]))
                buffer = buffer[length:]
                if messages[-1][0] == b"R" and messages[-1][1][:4] != b"\0\0\0\0":  # a password request
                    self.sock.sendall(b"p" + struct.pack("!i", 9) + b"md5x\0")
                if messages[-1][0] == b"Z":
                    return messages
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            buffer += chunk

    def close(self) -> None:
        self.sock.close()


@pglite_only
class CopyFromStdin(unittest.TestCase):
    """COPY ... FROM STDIN, which traps PGlite's WebAssembly when sent to it as it is."""

    @classmethod
    def setUpClass(cls) -> None:
        runtime = find_node()
        cls.process = PGliteProcess(runtime, NodePackages().ensure_installed(runtime))
        cls.process.start()
        with connect(cls.process, autocommit=True) as connection:
            connection.execute("CREATE TABLE items (id int PRIMARY KEY, name text, note text DEFAULT 'none')")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.process.stop()

    def setUp(self) -> None:
        with connect(self.process, autocommit=True) as connection:
            connection.execute("TRUNCATE items")

    def rows(self) -> list[tuple[Any, ...]]:
        with connect(self.process, autocommit=True) as connection:
            return connection.execute("SELECT id, name, note FROM items ORDER BY id").fetchall()

    def test_psycopg_text_copy_outside_a_transaction(self) -> None:
        with connect(self.process, autocommit=True) as connection:
            with connection.cursor().copy("COPY items (id, name) FROM STDIN") as copy:
                copy.write_row((1, "one"))
                copy.write_row((2, "tab\there"))
            self.assertEqual(connection.execute("SELECT count(*) FROM items").fetchone(), (2,))
        self.assertEqual(self.rows(), [(1, "one", "none"), (2, "tab\there", "none")])
        self.assertTrue(self.process.is_running())

    def test_psycopg_binary_copy_inside_a_transaction(self) -> None:
        with connect(self.process) as connection:
            with connection.cursor().copy("COPY items FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int4", "text", "text"])
                for n in range(1, 1001):
                    copy.write_row((n, f"item {n}", None))
            self.assertEqual(connection.info.transaction_status, psycopg.pq.TransactionStatus.INTRANS)
            connection.commit()
        rows = self.rows()
        self.assertEqual(len(rows), 1000)
        self.assertEqual(rows[999], (1000, "item 1000", None))

    def test_psycopg_copy_of_raw_csv_blocks(self) -> None:
        with connect(self.process, autocommit=True) as connection:
            with connection.cursor().copy("COPY items (id, name) FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
                copy.write("id,name\n1,")
                copy.write('"a, b"\n2,c\n')
        self.assertEqual(self.rows(), [(1, "a, b", "none"), (2, "c", "none")])

    def test_bad_data_fails_the_copy_and_the_connection_works_after_rollback(self) -> None:
        with connect(self.process) as connection:
            with self.assertRaises(psycopg.errors.InvalidTextRepresentation) as caught:
                with connection.cursor().copy("COPY items (id, name) FROM STDIN") as copy:
                    copy.write("1\tfine\nnot-a-number\tbad\n")
            self.assertIn("not-a-number", str(caught.exception))
            self.assertEqual(connection.info.transaction_status, psycopg.pq.TransactionStatus.INERROR)
            connection.rollback()
            self.assertEqual(connection.execute("SELECT count(*) FROM items").fetchone(), (0,))
        with connect(self.process, autocommit=True) as connection:
            with self.assertRaises(psycopg.errors.InvalidTextRepresentation):
                with connection.cursor().copy("COPY items (id, name) FROM STDIN") as copy:
                    copy.write("x\ty\n")
            self.assertEqual(connection.info.transaction_status, psycopg.pq.TransactionStatus.IDLE)
            self.assertEqual(connection.execute("SELECT 1").fetchone(), (1,))

    def test_an_exception_in_the_client_sends_copy_fail(self) -> None:
        with connect(self.process) as connection:
            with self.assertRaises(ZeroDivisionError):
                with connection.cursor().copy("COPY items (id, name) FROM STDIN") as copy:
                    copy.write_row((1, "one"))
                    1 / 0  # noqa: B018
            # As on PostgreSQL: the transaction is failed, by "COPY from stdin failed: ...".
            self.assertEqual(connection.info.transaction_status, psycopg.pq.TransactionStatus.INERROR)
            with self.assertRaises(psycopg.errors.InFailedSqlTransaction):
                connection.execute("SELECT 1")
            connection.rollback()
            self.assertEqual(connection.execute("SELECT count(*) FROM items").fetchone(), (0,))
        with connect(self.process, autocommit=True) as connection:
            with self.assertRaises(ZeroDivisionError):
                with connection.cursor().copy("COPY items (id, name) FROM STDIN") as copy:
                    copy.write_row((1, "one"))
                    1 / 0  # noqa: B018
            self.assertEqual(connection.info.transaction_status, psycopg.pq.TransactionStatus.IDLE)
            self.assertEqual(connection.execute("SELECT count(*) FROM items").fetchone(), (0,))

    def test_a_missing_table_is_reported_before_any_data(self) -> None:
        with connect(self.process, autocommit=True) as connection:
            with self.assertRaises(psycopg.errors.UndefinedTable):
                with connection.cursor().copy("COPY no_such_table FROM STDIN"):
                    pass
            self.assertEqual(connection.execute("SELECT 1").fetchone(), (1,))

    def test_copy_in_a_failed_transaction_says_so(self) -> None:
        with connect(self.process) as connection:
            with self.assertRaises(psycopg.errors.DivisionByZero):
                connection.execute("SELECT 1 / 0")
            with self.assertRaises(psycopg.errors.InFailedSqlTransaction):
                with connection.cursor().copy("COPY items FROM STDIN"):
                    pass
            connection.rollback()

    def test_copy_to_stdout_still_works(self) -> None:
        with connect(self.process, autocommit=True) as connection:
            connection.execute("INSERT INTO items (id, name) VALUES (1, 'one'), (2, 'two')")
            with connection.cursor().copy("COPY items (id, name) TO STDOUT") as copy:
                self.assertEqual(list(copy.rows()), [("1", "one"), ("2", "two")])

    def test_copy_among_other_statements_is_an_error_not_a_crash(self) -> None:
        with connect(self.process, autocommit=True) as connection:
            with self.assertRaises(psycopg.errors.FeatureNotSupported) as caught:
                connection.execute("SELECT 1; COPY items FROM STDIN")
            self.assertIn("only statement", str(caught.exception))
            self.assertEqual(connection.execute("SELECT 2").fetchone(), (2,))

    @unittest.skipIf(psycopg2 is None, "psycopg2 is not installed")
    def test_psycopg2_copy_expert_and_copy_from(self) -> None:
        import io

        connection = psycopg2.connect(
            host=str(self.process.private_dir), user="postgres", password="postgres", dbname="postgres"
        )
        try:
            with connection.cursor() as cursor:
                cursor.copy_expert(
                    "COPY items (id, name) FROM STDIN WITH CSV HEADER", io.StringIO("id,name\n1,a\n2,b\n")
                )
                cursor.copy_from(io.StringIO("3\tc\n4\t\\N\n"), "items", columns=("id", "name"))
            connection.commit()
            with connection.cursor() as cursor:
                with self.assertRaises(psycopg2.errors.UniqueViolation):
                    cursor.copy_from(io.StringIO("1\tdup\n"), "items", columns=("id", "name"))
            connection.rollback()
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM items")
                self.assertEqual(cursor.fetchone(), (4,))
        finally:
            connection.close()
        self.assertEqual(self.rows()[3], (4, None, "none"))

    @unittest.skipIf(asyncpg is None, "asyncpg is not installed")
    def test_asyncpg_copy_records_to_table(self) -> None:
        async def run() -> list[Any]:
            connection = await asyncpg.connect(
                host=str(self.process.private_dir), user="postgres", password="postgres", database="postgres"
            )
            try:
                await connection.copy_records_to_table("items", records=[(1, "a", "x"), (2, "b", None)])
                async with connection.transaction():
                    await connection.copy_records_to_table("items", records=[(3, "c")], columns=["id", "name"])
                with self.assertRaises(asyncpg.UniqueViolationError):
                    async with connection.transaction():
                        await connection.copy_records_to_table("items", records=[(3, "again")], columns=["id", "name"])
                return list(await connection.fetch("SELECT id, name, note FROM items ORDER BY id"))
            finally:
                await connection.close()

        rows = asyncio.run(run())
        self.assertEqual([tuple(row) for row in rows], [(1, "a", "x"), (2, "b", None), (3, "c", "none")])


Item = declarative_base()


class Numbered(Item):  # type: ignore[valid-type,misc]
    __tablename__ = "numbered"
    id = Column(Integer, primary_key=True)
    label = Column(String(20))


@pglite_only
@unittest.skipUnless(SQLALCHEMY_2, "through SQLAlchemy's psycopg 3 dialect (SQLAlchemy 2)")
class ServerSideCursors(unittest.TestCase):
    """psycopg's named cursors DECLARE a cursor in SQL, then describe the portal of the same name."""

    def setUp(self) -> None:
        self.process = start_pglite(self)
        self.engine: Engine = create_engine(
            f"postgresql+psycopg://postgres:postgres@/postgres?host={self.process.private_dir}", poolclass=NullPool
        )
        self.addCleanup(self.engine.dispose)
        Item.metadata.create_all(self.engine)
        with Session(self.engine) as session, session.begin():
            session.add_all(Numbered(id=n, label=f"n{n}") for n in range(1, 501))

    def test_psycopg_named_cursor(self) -> None:
        with connect(self.process) as connection:
            with connection.cursor(name="walker") as cursor:
                cursor.itersize = 50
                cursor.execute("SELECT id FROM numbered ORDER BY id")
                self.assertEqual(cursor.fetchmany(3), [(1,), (2,), (3,)])
                self.assertEqual(sum(1 for _ in cursor), 497)

    def test_sqlalchemy_stream_results(self) -> None:
        with self.engine.connect() as connection:
            result = connection.execution_options(stream_results=True, max_row_buffer=20).execute(
                text("SELECT id FROM numbered ORDER BY id")
            )
            self.assertEqual(sum(row.id for row in result), sum(range(1, 501)))

    def test_orm_yield_per(self) -> None:
        with Session(self.engine) as session:
            labels = [
                item.label
                for item in session.scalars(select(Numbered).order_by(Numbered.id).execution_options(yield_per=25))
            ]
        self.assertEqual(len(labels), 500)
        self.assertEqual(labels[-1], "n500")


@pglite_only
class LargeValues(unittest.TestCase):
    def test_an_80_megabyte_parameter_arrives_whole(self) -> None:
        # That it travels in linear time is proven by counting bytes copied, not by a clock
        # (node/test/framing.test.js): this machine's timings are too noisy for a unit test.
        process = start_pglite(self)
        client = RawClient(process)
        self.addCleanup(client.close)
        value = bytes(80 * 1024 * 1024)
        client.send_bytea_length_query(value)
        rows = [body for kind, body in client.read_until_ready() if kind == b"D"]
        self.assertEqual(rows, [struct.pack("!hi", 1, len(str(len(value)))) + str(len(value)).encode()])

    def test_an_unread_reply_is_not_overwritten_by_the_next_clients_queries(self) -> None:
        # PGlite hands out its reply as a view of a buffer that the next request reuses.
        process = start_pglite(self)
        slow_reader = RawClient(process)
        self.addCleanup(slow_reader.close)
        slow_reader.query("SELECT repeat('a', 900000)")
        time.sleep(0.3)  # the reply now waits in node's socket queue: more than the socket takes
        with connect(process, autocommit=True) as other:
            for _ in range(3):
                other.execute("SELECT repeat('b', 900000)").fetchone()
        rows = [body for kind, body in slow_reader.read_until_ready() if kind == b"D"]
        self.assertEqual(len(rows), 1)
        self.assertEqual(set(rows[0][6:]), {ord("a")})


@pglite_only
class Authentication(unittest.TestCase):
    """On TCP any local user can reach the port: the server asks for the instance's password."""

    def test_tcp_needs_the_password(self) -> None:
        process = start_pglite(self, use_tcp=True)
        assert process.password is not None
        self.assertGreaterEqual(len(process.password), 24)
        with connect(process, sslmode="prefer") as connection:
            self.assertEqual(connection.execute("SELECT current_user").fetchone(), ("postgres",))
        for wrong in ("postgres", f"not-{process.password}"):
            with self.assertRaises(psycopg.OperationalError) as caught:
                psycopg.connect(host="127.0.0.1", port=process.config.tcp_port, user="postgres", password=wrong)
            self.assertIn('password authentication failed for user "postgres"', str(caught.exception))
        with self.assertRaises(psycopg.OperationalError) as caught:
            psycopg.connect(host="127.0.0.1", port=process.config.tcp_port, user="postgres", password="")
        self.assertIn("password", str(caught.exception))
        self.assertTrue(process.is_running())

    @unittest.skipIf(asyncpg is None, "asyncpg is not installed")
    def test_asyncpg_over_tcp(self) -> None:
        process = start_pglite(self, use_tcp=True)

        async def run(password: str | None) -> Any:
            connection = await asyncpg.connect(
                host="127.0.0.1", port=process.config.tcp_port, user="postgres", password=password, ssl=False
            )
            try:
                return await connection.fetchval("SELECT 40 + 2")
            finally:
                await connection.close()

        self.assertEqual(asyncio.run(run(process.password)), 42)
        with self.assertRaises(asyncpg.InvalidPasswordError):
            asyncio.run(run("postgres"))

    @unittest.skipIf(psycopg2 is None, "psycopg2 is not installed")
    def test_psycopg2_over_tcp(self) -> None:
        process = start_pglite(self, use_tcp=True)
        connection = psycopg2.connect(
            host="127.0.0.1", port=process.config.tcp_port, user="postgres", password=process.password
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            self.assertEqual(cursor.fetchone(), (1,))
        connection.close()

    def test_the_unix_socket_needs_no_password(self) -> None:
        process = start_pglite(self)
        self.assertIsNone(process.password)
        with psycopg.connect(host=str(process.private_dir), user="postgres", dbname="postgres") as connection:
            self.assertEqual(connection.execute("SELECT 1").fetchone(), (1,))


@pglite_only
class RefusalOverTcp(unittest.TestCase):
    def test_libpq_with_sslmode_prefer_gets_the_documented_fatal_error(self) -> None:
        process = start_pglite(self, use_tcp=True, grace_seconds=0.5)
        with connect(process) as holder:
            holder.execute("SELECT 1")  # a transaction is now open on this connection
            with self.assertRaises(psycopg.OperationalError) as caught:
                connect(process, sslmode="prefer", connect_timeout=10)
            message = str(caught.exception)
            self.assertNotIn("SSL", message)
            self.assertIn("waited 500 ms for another connection's transaction to end and was refused", message)
            self.assertIn("HINT:  PGlite serves one session", message)
            self.assertEqual(holder.execute("SELECT 2").fetchone(), (2,))


@pglite_only
class CancelRequests(unittest.TestCase):
    def test_a_cancel_that_comes_after_the_statement_is_ignored(self) -> None:
        # The CancelRequest waits while PGlite runs the statement (it runs on node's only
        # thread); by the time node reads it there is nothing to cancel, and, as PostgreSQL
        # does, the server ignores it: the connection and the instance carry on.
        process = start_pglite(self)
        connection = connect(process, autocommit=True)
        self.addCleanup(connection.close)
        canceller = threading.Timer(0.3, connection.cancel_safe, kwargs={"timeout": 10})
        canceller.start()
        connection.execute("SELECT count(*) FROM generate_series(1, 3000000)")
        canceller.join()
        self.assertEqual(connection.execute("SELECT 1").fetchone(), (1,))
        self.assertTrue(process.is_running())

    def test_a_cancel_that_matches_no_client_is_ignored(self) -> None:
        process = start_pglite(self)
        with connect(process, autocommit=True) as connection:
            stray = socket.socket(socket.AF_UNIX)
            stray.connect(str(process.config.socket_path))
            stray.sendall(struct.pack("!iiii", 16, 80877102, 12345, 678))
            self.assertEqual(stray.recv(10), b"")  # closed
            stray.close()
            self.assertEqual(connection.execute("SELECT 1").fetchone(), (1,))
        self.assertTrue(process.is_running())


RECURSION = """
CREATE OR REPLACE FUNCTION pgtc_depth(n int) RETURNS int LANGUAGE sql
AS 'SELECT CASE WHEN n = 0 THEN 0 ELSE pgtc_depth(n - 1) + 1 END'
"""


@pglite_only
class PGliteFailsInternally(unittest.TestCase):
    """A WebAssembly trap leaves PGlite unusable: node stops, the test says why, the next test gets a new one."""

    def test_a_trap_stops_pglite_with_its_error_and_later_tests_get_a_new_one(self) -> None:
        class Trapped(PGliteTestCase):
            metadata = Base
            # No limit: on a loaded machine the recursion took longer than 30 s to trap, and the
            # statement timeout ended it first (a different death, so the test failed).
            statement_timeout = None

            def test_1_deep_recursion_traps(self) -> None:
                # PostgreSQL would stop at max_stack_depth; PGlite's WebAssembly stack overflows first.
                self.connection.execute(text(RECURSION))
                self.connection.execute(text("SELECT pgtc_depth(100000)"))

            def test_2_next_test_works(self) -> None:
                self.session.add(Author(name="after"))
                self.session.commit()

        # PGlite 0.3 traps (RuntimeError); on PGlite 0.5 node's own stack limit comes first (RangeError).
        error = (
            "RangeError: Maximum call stack size exceeded" if environment.postgres_version() == 18 else "RuntimeError"
        )
        assert_death_stays_in_its_test(self, Trapped, "test_1_deep_recursion_traps", "PGlite failed internally", error)
