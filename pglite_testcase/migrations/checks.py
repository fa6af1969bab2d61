"""Checks of a project's Alembic migrations, as a ``unittest.TestCase`` to subclass.

One head; an upgrade from an empty database; the migrated database matches
the models; a stairway walk (up, down one, up again at every revision); a
downgrade to base that leaves nothing behind. Every check that touches a
database gets an empty one, never the database other test classes share: on
PGlite, one instance per class (``fresh.fresh_database``), emptied between
checks the way a schema switch empties the shared one (every schema and
extension dropped); a new instance when a check changed anything outside the
schemas (roles, database settings, event triggers, ...). On a server, a new
database per check.
"""

from __future__ import annotations

import unittest
from collections.abc import Callable, Collection, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import MetaData, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.pool import NullPool

from .. import environment
from ..database.extension_hints import ExtensionHints
from ..database.pglite import TestDatabase
from ..database.provision import fresh_database
from ..database.schema import AlembicEnvironment, alembic_run, applied_revisions, failed_revision, reset_database
from ..drivers import Driver, choose_sync_driver
from ..errors import ConfigurationError
from ..testcase.settings import (
    on_real_postgres,
    read_alembic_config,
    read_backend,
    read_class_extensions,
    read_metadata,
    read_postgres_version,
    read_server_url,
)
from ..urls import url_text

if TYPE_CHECKING:  # Alembic is imported when a check runs (as in schema.py)
    from alembic.config import Config
    from alembic.script import Script, ScriptDirectory

# Check name -> test method: "test_" + name. ``skip_checks`` takes these names.
CHECKS = ("single_head_revision", "upgrade", "model_definitions_match_ddl", "stairway", "downgrade_to_base")

# What a downgrade to base must not leave in a non-system schema. A sequence
# owned by a table's column goes with its table, and is not listed apart.
LEFTOVERS_SQL = """
SELECT kind, schema_name, object_name FROM (
  SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'f' THEN 'foreign table'
                        WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'sequence' END AS kind,
         n.nspname AS schema_name, c.relname AS object_name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
    AND NOT (c.relkind = 'S' AND EXISTS (
      SELECT 1 FROM pg_depend d
      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
    AND NOT (c.relkind IN ('r', 'p') AND c.relname = :version_table)
  UNION ALL
  SELECT CASE t.typtype WHEN 'e' THEN 'type (enum)' WHEN 'd' THEN 'type (domain)' WHEN 'r' THEN 'type (range)'
                        ELSE 'type (composite)' END,
         n.nspname, t.typname
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE t.typtype IN ('e', 'd', 'r')
     OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
) AS found
WHERE schema_name <> 'information_schema' AND schema_name !~ '^pg_'
ORDER BY schema_name, kind, object_name
"""


@dataclass
class Migrator:
    """Runs Alembic on one database through the project's own ``env.py``.

    This is what ``alembic.command.upgrade``/``downgrade`` do, with the script
    directory read once: the commands read every revision file again on each
    call, which for a 50-revision stairway is two thirds of its time.
    """

    config: Config
    script: ScriptDirectory
    connection: Connection

    def upgrade(self, target: str) -> None:
        self._run(target, self.script._upgrade_revs)
        self.verify(target)

    def downgrade(self, target: str) -> None:
        self._run(target, self.script._downgrade_revs)
        self.verify(target)

    def verify(self, target: str) -> None:
        """This database holds ``target`` now; otherwise env.py migrated another one."""
        if "@" in target or target.startswith(("-", "+")):
            return  # relative steps: where they land is Alembic's to work out
        expected = {revision.revision for revision in self.script.get_revisions(target) if revision is not None}
        found = applied_revisions(self.connection)
        self.connection.rollback()
        held = set() if found is None else found[1]
        if held != expected and not (expected and found is not None and expected <= held):
            raise AssertionError(
                f"after migrating to {target!r} the check's database holds "
                f"{'no Alembic version table' if found is None else sorted(held) or 'no revision'}, not "
                f"{sorted(expected) or 'no revision'}: the project's env.py ran the migrations on another database. "
                f"Point it at the database Alembic's config offers (config.attributes['connection'] or "
                f"config.get_main_option('sqlalchemy.url')), or override alembic_environment(cls, url)."
            )

    def _run(self, target: str, steps: Callable[[str, Any], Any]) -> None:
        from alembic.runtime.environment import EnvironmentContext

        with EnvironmentContext(
            self.config, self.script, fn=lambda revision, context: steps(target, revision), destination_rev=target
        ):
            self.script.run_env()
        # PGlite serves one session: no transaction may stay open between commands.
        if self.connection.in_transaction():
            self.connection.commit()


def one_step_down(revision: Script, branched: bool) -> str:
    """The downgrade target one step below ``revision``, just after upgrading to it.

    ``-1``, unless the history branches: there ``-1`` is ambiguous while two
    heads are applied, so the step is taken on the revision's own branch
    (``<rev>@-1``), and from a merge point to its parents (downgrading to one
    of them leaves them all).
    """
    if revision.is_merge_point:
        parents = revision.down_revision  # a tuple at a merge point
        assert isinstance(parents, (tuple, list))
        return str(parents[0])
    return f"{revision.revision}@-1" if branched else "-1"


def _rendered(value: object) -> str:
    """A type, a server default or a plain value, as it reads in DDL where possible."""
    from sqlalchemy.dialects.postgresql.base import PGDialect
    from sqlalchemy.types import TypeEngine

    if isinstance(value, TypeEngine):
        try:
            return str(value.compile(dialect=PGDialect()))  # type: ignore[no-untyped-call]  # PGDialect.__init__ is unannotated
        except Exception:  # a type PostgreSQL's compiler cannot render
            return repr(value)
    argument = getattr(value, "arg", value)  # a DefaultClause's text
    return str(getattr(argument, "text", argument))


def _qualified(schema: str | None, name: object) -> str:
    return f"{schema}.{name}" if schema else str(name)


def describe_difference(difference: Any) -> list[str]:
    """One line per entry of ``alembic.autogenerate.compare_metadata``'s result."""
    if isinstance(difference, list):  # a column's modify_* entries come grouped
        return [line for entry in difference for line in describe_difference(entry)]
    kind = difference[0]
    side = "in the models, not in the migrated database"
    if kind.startswith("remove_"):
        side = "in the migrated database, not in the models"
    if kind in ("add_table", "remove_table"):
        table = difference[1]
        subject = _qualified(table.schema, table.name)
    elif kind in ("add_column", "remove_column"):
        schema, table_name, column = difference[1:4]
        subject = f"{_qualified(schema, table_name)}.{column.name} {_rendered(column.type)}"
    elif kind in ("add_index", "remove_index"):
        index = difference[1]
        columns = ", ".join(str(getattr(expression, "name", expression)) for expression in index.expressions)
        unique = "unique, " if index.unique else ""
        subject = f"{index.name} on {_qualified(index.table.schema, index.table.name)} ({unique}{columns})"
    elif kind in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        constraint = difference[1]
        columns = ", ".join(column.name for column in constraint.columns)
        table = constraint.table
        subject = f"{constraint.name or '(unnamed)'} on {_qualified(table.schema, table.name)} ({columns})"
        if kind.endswith("_fk"):
            referred = constraint.elements[0].target_fullname.rsplit(".", 1)[0] if constraint.elements else "?"
            subject += f" -> {referred}"
        else:
            subject = f"{type(constraint).__name__} {subject}"
    elif kind.startswith("modify_"):
        schema, table_name, column_name, _, existing, wanted = difference[1:7]
        attribute = kind.removeprefix("modify_")
        column = f"{_qualified(schema, table_name)}.{column_name}"
        given, wanted = _rendered(existing), _rendered(wanted)
        return [f"{kind} {column}: the migrations give {attribute} {given}, the models {wanted}"]
    else:
        return [f"{kind}: {' '.join(repr(part) for part in difference[1:])}"]
    return [f"{kind} {subject}: {side}"]


def _skip_checks(owner: type) -> frozenset[str]:
    value = getattr(owner, "skip_checks")
    accepted = f"a set of check names, e.g. {{'stairway'}}; the checks are {', '.join(map(repr, CHECKS))}"
    if isinstance(value, (str, bytes)) or not isinstance(value, Collection):
        raise ConfigurationError.for_attribute(owner, "skip_checks", value, accepted)
    unknown = [name for name in value if name not in CHECKS]
    if unknown:
        raise ConfigurationError.for_attribute(
            owner, "skip_checks", value, f"{accepted} (not {', '.join(map(repr, unknown))})"
        )
    return frozenset(value)


def _version_table(owner: type) -> str:
    value = getattr(owner, "version_table")
    if not isinstance(value, str) or not value:
        raise ConfigurationError.for_attribute(
            owner, "version_table", value, "the name of Alembic's version table, such as 'alembic_version'"
        )
    return value


# What emptying a database (dropping its schemas and extensions) does not undo: database- and
# cluster-level objects. A check that changed any of them gets a new PGlite for the next check.
OUTSIDE_SCHEMAS_SQL = """
SELECT (SELECT count(*) FROM pg_roles), (SELECT count(*) FROM pg_database),
       (SELECT count(*) FROM pg_db_role_setting), (SELECT count(*) FROM pg_default_acl),
       (SELECT count(*) FROM pg_event_trigger), (SELECT count(*) FROM pg_publication),
       (SELECT count(*) FROM pg_subscription), (SELECT count(*) FROM pg_foreign_data_wrapper),
       (SELECT count(*) FROM pg_foreign_server), (SELECT count(*) FROM pg_user_mapping),
       (SELECT count(*) FROM pg_largeobject_metadata), (SELECT count(*) FROM pg_cast),
       (SELECT count(*) FROM pg_language), (SELECT count(*) FROM pg_tablespace),
       (SELECT count(*) FROM pg_shdescription)
"""


class EmptiedPGlite:
    """One PGlite for a class's checks, emptied between them (a PGlite start costs more than all but the
    longest checks)."""

    def __init__(self, extensions: frozenset[str], postgres_version: int | None = None) -> None:
        self.extensions = extensions
        self.postgres_version = postgres_version
        self.database: TestDatabase | None = None
        self._stack = ExitStack()
        self._outside: tuple[Any, ...] = ()

    def take(self, driver: Driver) -> TestDatabase:
        """An empty database: the kept one emptied, or a new one."""
        if self.database is not None:
            if self.database.is_alive() and self._emptied(driver):
                return self.database
            self.release()
        self.database = self._stack.enter_context(
            fresh_database(driver=driver, extensions=self.extensions, postgres_version=self.postgres_version)
        )
        self._outside = self._query_outside(driver)
        return self.database

    def _emptied(self, driver: Driver) -> bool:
        assert self.database is not None
        engine = self.database.create_engine(driver, poolclass=NullPool)
        try:
            with engine.begin() as connection:
                reset_database(connection)
        except Exception:
            return False  # could not empty it: a new one
        finally:
            engine.dispose()
        return self._query_outside(driver) == self._outside

    def _query_outside(self, driver: Driver) -> tuple[Any, ...]:
        assert self.database is not None
        engine = self.database.create_engine(driver, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                return tuple(connection.execute(text(OUTSIDE_SCHEMAS_SQL)).one())
        finally:
            engine.dispose()

    def release(self) -> None:
        self.database = None
        self._stack.close()
        self._stack = ExitStack()


@dataclass(frozen=True)
class ChecksSettings:
    """A migration-checks class's attributes, read and checked once in ``setUpClass``."""

    config: Config
    script: ScriptDirectory
    metadata: MetaData | None
    version_table: str
    skipped: frozenset[str]
    server_url: URL | None
    extensions: frozenset[str]
    postgres_version: int
    driver: Driver
    backend: str = "pglite"  # where no server URL is given: "pglite" or "postgres"
    backend_source: str = ""  # what chose it, for errors


class AlembicMigrationsTestCase(unittest.TestCase):
    """Checks of the Alembic migrations in ``alembic_config`` (against the models in ``metadata``).

    Subclass it and set ``alembic_config``; ``skip_checks`` names checks to skip.
    The checks become test methods (``test_<check>``) only in a subclass that
    sets ``alembic_config``, so importing this class into a test module adds no test.
    """

    alembic_config: ClassVar[str | PathLike[str] | Config | None] = None
    """Path of an ``alembic.ini``, or an ``alembic.config.Config``."""
    metadata: ClassVar[Any] = None
    """The models the migrations must build (a ``MetaData`` or declarative base class); ``None``
    skips ``model_definitions_match_ddl``."""
    version_table: ClassVar[str] = "alembic_version"
    """Alembic's version table, as the project's ``env.py`` names it: left out of the comparisons."""
    skip_checks: ClassVar[Collection[str]] = frozenset()
    """Names of checks not to run, from ``CHECKS``, e.g. ``{"stairway"}``."""
    server_url: ClassVar[str | None] = None
    """A real PostgreSQL server for this class's fresh databases (see ``PGLITE_TESTCASE_DATABASE_URL``)."""
    extensions: ClassVar[Collection[str]] = ()
    """PostgreSQL extensions the migrations create (registered with PGlite), e.g. ``["uuid-ossp"]``."""
    driver: ClassVar[str | None] = None
    """The sync driver, as on ``PGliteTestCase``."""
    backend: ClassVar[str | None] = None
    """``"pglite"`` or ``"postgres"``, as on ``PGliteTestCase``."""

    _checks: ClassVar[ChecksSettings]
    _checks_pglite: ClassVar[EmptiedPGlite | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.alembic_config is None:
            return
        for check in CHECKS:
            if f"test_{check}" not in dir(cls):
                setattr(cls, f"test_{check}", _check_method(check))

    @classmethod
    @contextmanager
    def alembic_environment(cls, url: str) -> Iterator[None]:
        """Override to point an ``env.py`` that reads its own settings at ``url`` (as on ``PGliteTestCase``)."""
        yield

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.addClassCleanup(cls._release_kept_pglite)  # the checks' PGlite, whatever happens after
        environment.check()
        config = read_alembic_config(cls)
        if config is None:
            raise ConfigurationError.for_attribute(
                cls, "alembic_config", None, "the path of an alembic.ini, or an alembic.config.Config"
            )
        try:
            from alembic.script import ScriptDirectory

            script = ScriptDirectory.from_config(config)
        except Exception as exc:
            raise ConfigurationError.for_attribute(
                cls,
                "alembic_config",
                cls.alembic_config,
                f"an Alembic configuration whose script directory can be read ({type(exc).__name__}: {exc})",
            ) from exc
        server_url = read_server_url(cls)
        backend, backend_source = read_backend(cls, server_url)
        cls._checks = ChecksSettings(
            config=config,
            script=script,
            metadata=read_metadata(cls, required_tables=False),
            version_table=_version_table(cls),
            skipped=_skip_checks(cls),
            server_url=server_url,
            extensions=frozenset(
                read_class_extensions(cls, backend if server_url is None else "server", backend_source)
            ),
            postgres_version=read_postgres_version(cls),
            driver=choose_sync_driver(cls, cls.driver, server_url),
            backend=backend,
            backend_source=backend_source,
        )

    @classmethod
    def _release_kept_pglite(cls) -> None:
        kept = cls.__dict__.get("_checks_pglite")
        if kept is not None:
            cls._checks_pglite = None
            kept.release()

    def setUp(self) -> None:
        super().setUp()
        check = self._testMethodName.removeprefix("test_")
        if check in type(self)._checks.skipped:
            self.skipTest(f"{type(self).__qualname__}.skip_checks names {check!r}")

    # -- the checks --------------------------------------------------------------------

    def check_single_head_revision(self) -> None:
        """The script directory has exactly one head revision."""
        script = type(self)._checks.script
        heads = script.get_heads()
        if not heads:
            self.fail(f"expected exactly one head revision, found none: no revision in {script.versions}")
        if len(heads) > 1:
            found = ", ".join(self._describe_revision(head) for head in heads)
            self.fail(
                f"expected exactly one head revision, found {len(heads)}: {found}. "
                f"Join them with `alembic merge heads`."
            )

    def check_upgrade(self) -> None:
        """An empty database upgrades to the head."""
        with self.migrator() as migrator:
            self.run_step(migrator.upgrade, "heads", "upgrade from an empty database to 'heads'")

    def check_model_definitions_match_ddl(self) -> None:
        """After the upgrade, Alembic's autogenerate finds no difference from ``metadata``."""
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        cls = type(self)
        if cls._checks.metadata is None:
            self.skipTest(f"{cls.__qualname__}.metadata is not set: no models to compare the migrations with")
        with self.migrator() as migrator:
            self.run_step(migrator.upgrade, "heads", "upgrade from an empty database to 'heads'")
            context = MigrationContext.configure(migrator.connection, opts={"version_table": cls._checks.version_table})
            differences = compare_metadata(context, cls._checks.metadata)
            migrator.connection.rollback()
        lines = [line for difference in differences for line in describe_difference(difference)]
        if lines:
            self.fail(
                f"the models differ from the database the migrations build ({len(lines)} "
                f"difference{'s' if len(lines) > 1 else ''}, as `alembic revision --autogenerate` sees them):\n  "
                + "\n  ".join(lines)
            )

    def check_stairway(self) -> None:
        """At every revision from base to head: upgrade to it, downgrade one step (-1), upgrade again."""
        revisions = list(reversed(list(type(self)._checks.script.walk_revisions("base", "heads"))))
        branched = any(revision.is_branch_point for revision in revisions)
        with self.migrator() as migrator:  # one database for the whole walk
            for number, revision in enumerate(revisions, 1):
                at = (
                    f"stairway at revision {revision.revision!r} ({number} of {len(revisions)}, "
                    f"{Path(revision.path).name}), step"
                )
                down = one_step_down(revision, branched)
                target = revision.revision
                self.run_step(migrator.upgrade, target, f"{at} 1 of 3 (upgrade to {target!r})")
                self.run_step(migrator.downgrade, down, f"{at} 2 of 3 (downgrade {down})")
                self.run_step(migrator.upgrade, target, f"{at} 3 of 3 (upgrade to {target!r} again)")

    def check_downgrade_to_base(self) -> None:
        """Upgrade to the head, downgrade to base: no table, view, sequence or type is left."""
        cls = type(self)
        with self.migrator() as migrator:
            self.run_step(migrator.upgrade, "heads", "upgrade from an empty database to 'heads'")
            self.run_step(migrator.downgrade, "base", "downgrade from 'heads' to 'base'")
            leftovers = migrator.connection.execute(
                text(LEFTOVERS_SQL), {"version_table": cls._checks.version_table}
            ).all()
            migrator.connection.rollback()
        if leftovers:
            self.fail(
                f"after a downgrade to base the database still holds {len(leftovers)} object"
                f"{'s' if len(leftovers) > 1 else ''} the migrations created (a downgrade() does not drop "
                f"{'them' if len(leftovers) > 1 else 'it'}; Alembic's version table, {cls._checks.version_table!r}, "
                f"does not count):\n  " + "\n  ".join(f"{kind} {schema}.{name}" for kind, schema, name in leftovers)
            )

    # -- helpers -----------------------------------------------------------------------

    @contextmanager
    def migrator(self) -> Iterator[Migrator]:
        """An empty database and a ``Migrator`` on it, for one check."""
        cls = type(self)
        driver = cls._checks.driver
        with self._empty_database() as database:
            engine = database.create_engine(driver, poolclass=NullPool)
            environment: AlembicEnvironment = cls.alembic_environment
            try:
                with (
                    engine.connect() as connection,
                    alembic_run(cls._checks.config, url_text(database.url_for(driver)), connection, environment),
                ):
                    yield Migrator(cls._checks.config, cls._checks.script, connection)
            finally:
                engine.dispose()

    @contextmanager
    def _empty_database(self) -> Iterator[TestDatabase]:
        cls = type(self)
        if on_real_postgres(cls._checks.server_url, cls._checks.backend):
            url, driver, extensions = cls._checks.server_url, cls._checks.driver, cls._checks.extensions
            with fresh_database(url, driver=driver, extensions=extensions, backend=cls._checks.backend) as database:
                yield database
            return
        if cls.__dict__.get("_checks_pglite") is None:
            cls._checks_pglite = EmptiedPGlite(cls._checks.extensions, cls._checks.postgres_version)
        kept = cls._checks_pglite
        assert kept is not None
        yield kept.take(cls._checks.driver)

    def run_step(self, step: Callable[[str], None], target: str, what: str) -> None:
        """Run one Alembic step; its failure fails the check, naming the step and the revision that raised."""
        try:
            step(target)
        except Exception as exc:
            revision = failed_revision(exc)
            where = f" in {revision}" if revision else ""
            message = f"{what} failed{where}: {type(exc).__name__}: {exc}"
            checks = type(self)._checks
            hints = ExtensionHints.on(
                type(self).__qualname__,
                tuple(sorted(checks.extensions)),
                checks.server_url,
                checks.backend,
                checks.backend_source,
            )
            hint = hints.hint(message)
            raise self.failureException(f"{message}\n{hint}" if hint else message) from exc

    def _describe_revision(self, revision_id: str) -> str:
        revision = type(self)._checks.script.get_revision(revision_id)
        if revision is None:
            return repr(revision_id)
        return f"{revision_id!r} ({Path(revision.path).name}, after {revision.down_revision!r})"


def _check_method(check: str) -> Callable[[AlembicMigrationsTestCase], None]:
    def test(self: AlembicMigrationsTestCase) -> None:
        getattr(self, f"check_{check}")()

    test.__name__ = f"test_{check}"
    test.__doc__ = getattr(AlembicMigrationsTestCase, f"check_{check}").__doc__
    return test


__all__ = ["CHECKS", "AlembicMigrationsTestCase", "describe_difference"]
