"""Generated test suites and schemas the scenarios run.

Each writer puts plain Python files in a directory, so that every suite runs
in its own interpreter exactly as a user's would.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

SCHEMA_MODULE = """
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table

def build(tables):
    metadata = MetaData()
    for n in range(tables):
        columns = [Column("id", Integer, primary_key=True), Column("name", String(50), nullable=False)]
        if n:
            columns.append(Column("parent_id", Integer, ForeignKey(f"t{n - 1}.id")))
        Table(f"t{n}", metadata, *columns)
    return metadata

metadata = build({tables})
t0 = metadata.tables["t0"]
"""

BODY = """
        self.session.execute(t0.insert().values(name="x"))
        self.session.commit()
        assert self.session.execute(select(func.count()).select_from(t0)).scalar() == 1
"""


def write_schema(directory: Path, tables: int) -> None:
    (directory / "bench_schema.py").write_text(SCHEMA_MODULE.replace("{tables}", str(tables)))


def write_startup_probe(directory: Path) -> None:
    """``startup_probe.py`` next to the schema, run as ``python startup_probe.py MODE``."""
    shutil.copy(Path(__file__).with_name("startup_probe.py"), directory)


def write_ours(directory: Path, classes: int, tests: int, parts: int = 1) -> list[str]:
    """The suite on pglite_testcase, its classes spread over ``parts`` modules; returns their file names."""
    names = []
    for part in range(parts):
        lines = [
            "from sqlalchemy import func, select",
            "from pglite_testcase import PGliteTestCase",
            "from bench_schema import metadata, t0",
        ]
        for c in range(part, classes, parts):
            lines.append(f"\nclass Suite{c:03}(PGliteTestCase):\n    metadata = metadata")
            for t in range(tests):
                lines.append(f"    def test_{t:03}(self):{BODY}")
        names.append(f"test_suite_{part}.py")
        (directory / names[-1]).write_text("\n".join(lines) + "\n")
    return names


def write_naive(directory: Path, classes: int, tests: int) -> None:
    """A naive unittest port: py-pglite's PGliteManager started in every setUpClass."""
    lines = [
        textwrap.dedent(
            """
            import unittest
            from py_pglite import PGliteConfig, PGliteManager
            from sqlalchemy import create_engine, func, select
            from sqlalchemy.orm import Session
            from bench_schema import metadata, t0

            class NaiveTestCase(unittest.TestCase):
                @classmethod
                def setUpClass(cls):
                    cls.manager = PGliteManager(PGliteConfig(log_level="WARNING"))
                    cls.manager.start()
                    cls.engine = create_engine(
                        cls.manager.get_connection_string(), connect_args={"prepare_threshold": None}
                    )
                    metadata.create_all(cls.engine)

                @classmethod
                def tearDownClass(cls):
                    cls.engine.dispose()
                    cls.manager.stop()

                def setUp(self):
                    self.connection = self.engine.connect()
                    self.transaction = self.connection.begin()
                    self.session = Session(bind=self.connection, join_transaction_mode="create_savepoint")

                def tearDown(self):
                    self.session.close()
                    self.transaction.rollback()
                    self.connection.close()
            """
        )
    ]
    for c in range(classes):
        lines.append(f"\nclass Suite{c:03}(NaiveTestCase):")
        for t in range(tests):
            lines.append(f"    def test_{t:03}(self):{BODY}")
    (directory / "test_suite.py").write_text("\n".join(lines) + "\n")


def write_py_pglite(directory: Path, classes: int, tests: int) -> None:
    """The same tests under py-pglite's own pytest fixtures (``pglite_session``: TRUNCATE per test)."""
    (directory / "conftest.py").write_text(
        textwrap.dedent(
            """
            import pytest
            from bench_schema import metadata

            @pytest.fixture(scope="session", autouse=True)
            def schema(pglite_engine):
                metadata.create_all(pglite_engine)
            """
        )
    )
    write_pytest_tests(directory, classes, tests, "pglite_session")


def write_pytest_postgresql(directory: Path, classes: int, tests: int, server: dict[str, str], dbname: str) -> None:
    """The same tests on pytest-postgresql: its ``postgresql`` fixture, a database per test from a template.

    ``postgresql_noproc`` uses the server at ``server`` (libpq keywords) and loads the schema into the
    template once; each test's ``session`` is a SQLAlchemy session on the ``postgresql`` fixture's connection.
    """
    (directory / "conftest.py").write_text(
        textwrap.dedent(
            f"""
            import psycopg
            import pytest
            from pytest_postgresql import factories
            from sqlalchemy import create_engine
            from sqlalchemy.orm import Session
            from sqlalchemy.pool import NullPool, StaticPool
            from bench_schema import metadata

            SERVER = {server!r}

            def load_schema(host, port, user, dbname, password, **_):
                engine = create_engine(
                    "postgresql+psycopg://",
                    creator=lambda: psycopg.connect(host=host, port=port, user=user, password=password, dbname=dbname),
                    poolclass=NullPool,
                )
                metadata.create_all(engine)
                engine.dispose()

            postgresql_server = factories.postgresql_noproc(
                host=SERVER["host"], port=SERVER["port"], user=SERVER["user"], password=SERVER.get("password"),
                maintenance_dbname=SERVER["dbname"], dbname={dbname!r}, load=[load_schema],
            )
            postgresql = factories.postgresql("postgresql_server")

            @pytest.fixture
            def session(postgresql):
                engine = create_engine("postgresql+psycopg://", creator=lambda: postgresql, poolclass=StaticPool)
                with Session(engine) as session:
                    yield session
                engine.dispose()
            """
        )
    )
    write_pytest_tests(directory, classes, tests, "session")


def write_pytest_tests(directory: Path, classes: int, tests: int, fixture: str) -> None:
    """The suite's tests as pytest test classes, the session coming from ``fixture``."""
    body = BODY.replace("self.session", fixture)
    lines = ["from sqlalchemy import func, select", "from bench_schema import t0"]
    for c in range(classes):
        lines.append(f"\nclass TestSuite{c:03}:")
        for t in range(tests):
            lines.append(f"    def test_{t:03}(self, {fixture}):{body}")
    (directory / "test_suite.py").write_text("\n".join(lines) + "\n")


def write_alembic_chain(directory: Path, revisions: int) -> Path:
    """An Alembic project of ``revisions`` migrations (tables, columns, indexes); returns alembic.ini."""
    versions = directory / "migrations" / "versions"
    versions.mkdir(parents=True)
    (directory / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    (directory / "migrations" / "env.py").write_text(
        textwrap.dedent(
            """
            from alembic import context
            from sqlalchemy import engine_from_config, pool

            config = context.config
            connectable = config.attributes.get("connection")
            if connectable is None:
                connectable = engine_from_config(
                    config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
                ).connect()
            context.configure(connection=connectable)
            with context.begin_transaction():
                context.run_migrations()
            """
        )
    )
    (directory / "migrations" / "script.py.mako").write_text("")
    previous = None
    for n in range(revisions):
        table = f"m{n // 3}"
        if n % 3 == 0:
            upgrade = f'op.create_table("{table}", sa.Column("id", sa.Integer, primary_key=True))'
            downgrade = f'op.drop_table("{table}")'
        elif n % 3 == 1:
            upgrade = f'op.add_column("{table}", sa.Column("name", sa.String(50)))'
            downgrade = f'op.drop_column("{table}", "name")'
        else:
            upgrade = f'op.create_index("ix_{table}_name", "{table}", ["name"])'
            downgrade = f'op.drop_index("ix_{table}_name", "{table}")'
        revision = f"r{n:03}"
        (versions / f"{revision}.py").write_text(
            textwrap.dedent(
                f"""
                from alembic import op
                import sqlalchemy as sa

                revision = {revision!r}
                down_revision = {previous!r}

                def upgrade():
                    {upgrade}

                def downgrade():
                    {downgrade}
                """
            )
        )
        previous = revision
    return directory / "alembic.ini"
