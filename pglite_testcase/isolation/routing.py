"""The application's module-level database objects, routed into each test's transaction.

Legacy code reaches the database through objects made at import time::

    engine = create_engine(settings.DATABASE_URL)
    Session = scoped_session(sessionmaker(bind=engine))

and other modules import them by name (``from .db import engine, Session``).
Replacing a module attribute would miss those copies, so the objects
themselves are rerouted, for the duration of each test (and of
``setUpTestData``), and put back afterwards whatever the test did:

- an ``Engine`` (or ``AsyncEngine``) gets the test engine's pool and dialect:
  its connections become the test's, its commits savepoint releases, and
  every session bound to it follows;
- a ``sessionmaker`` (or ``async_sessionmaker``) bound to another engine is
  rebound to the test engine;
- a ``scoped_session`` is emptied (``remove()``) before and after the test, and
  its factory rebound as above;
- a Flask-SQLAlchemy ``db`` (2.x or 3.x): every engine it made or makes during
  the test is rerouted, and ``db.session`` is emptied before and after.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Engine

from ..errors import ConfigurationError

ACCEPTED = (
    "an Engine, AsyncEngine, sessionmaker, async_sessionmaker, scoped_session, async_scoped_session, Session, "
    "or a Flask-SQLAlchemy SQLAlchemy() object"
)


def _kind(value: Any) -> str | None:
    from sqlalchemy.orm import Session, scoped_session, sessionmaker

    if isinstance(value, Engine):
        return "engine"
    if type(value).__name__ == "SQLAlchemy" and type(value).__module__.startswith("flask_sqlalchemy"):
        return "flask_sqlalchemy"
    if isinstance(value, scoped_session):
        return "scoped_session"
    if isinstance(value, sessionmaker):
        return "sessionmaker"
    if isinstance(value, Session):
        return "session"
    try:
        from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_scoped_session
    except ImportError:  # no greenlet: no asyncio objects either
        return None
    if isinstance(value, AsyncEngine):
        return "async_engine"
    if isinstance(value, async_scoped_session):
        return "async_scoped_session"
    if isinstance(value, AsyncSession):
        return "session"
    if type(value).__name__ == "async_sessionmaker":
        return "sessionmaker"
    return None


def _resolve(owner: type | None, path: str) -> Any:
    try:
        return pkgutil.resolve_name(path)
    except (ImportError, AttributeError, ValueError) as exc:
        where = f"{owner.__qualname__}.database_objects" if owner else "database_objects"
        raise ConfigurationError(
            f"{where} names {path!r}, which cannot be imported ({type(exc).__name__}: {exc}): expected the dotted "
            f"path of a module-level object, e.g. 'myapp.db.engine'."
        ) from exc


def check_paths(owner: type, paths: tuple[str, ...]) -> None:
    for path in paths:
        value = _resolve(owner, path)
        if _kind(value) is None:
            raise ConfigurationError(
                f"{owner.__qualname__}.database_objects names {path!r}, which is a {type(value).__name__}: "
                f"expected {ACCEPTED}."
            )


def _sync(engine: Any) -> Engine:
    sync: Engine = getattr(engine, "sync_engine", engine)
    return sync


class Routing:
    """Routes the named objects while active; remembers what to put back."""

    def __init__(self, paths: tuple[str, ...]) -> None:
        self.paths = paths
        self._undo: list[Any] = []
        self._engines: dict[int, tuple[Engine, Any, Any, Any]] = {}
        self._target: Engine | None = None
        self.on_reroute: Callable[[Engine], None] | None = None  # told of each engine as it is rerouted

    def route(self, engine: Any, sessionmaker: Any) -> None:
        """Route every object into ``engine`` (the test's), sessions into ``sessionmaker``'s transaction."""
        self.restore()
        self._target = _sync(engine)
        for path in self.paths:
            value = _resolve(None, path)
            getattr(self, f"_route_{_kind(value)}")(value, engine)

    def restore(self) -> None:
        """Put everything back, last routed first (idempotent)."""
        while self._undo:
            undo = self._undo.pop()
            try:
                undo()
            except Exception:  # one failed restore must not keep the others from happening
                pass
        for engine, pool, dialect, url in self._engines.values():
            engine.pool, engine.dialect, engine.url = pool, dialect, url
        self._engines.clear()
        self._target = None

    @contextmanager
    def routed(self, engine: Any, sessionmaker: Any) -> Iterator[None]:
        if not self.paths:
            yield
            return
        self.route(engine, sessionmaker)
        try:
            yield
        finally:
            self.restore()

    # -- one kind each ---------------------------------------------------------------

    def reroute_engine(self, engine: Any) -> Any:
        """Give ``engine`` the test engine's pool and dialect (until ``restore``); returns it."""
        target, sync = self._target, _sync(engine)
        if target is None or sync is target or id(sync) in self._engines:
            return engine
        self._engines[id(sync)] = (sync, sync.pool, sync.dialect, sync.url)
        # The URL too: code that reads engine.url (an env.py setting sqlalchemy.url from it) sees where it goes.
        sync.pool, sync.dialect, sync.url = target.pool, target.dialect, target.url
        if self.on_reroute is not None:
            self.on_reroute(sync)
        return engine

    def _route_engine(self, value: Engine, test_engine: Any) -> None:
        self.reroute_engine(value)

    _route_async_engine = _route_engine

    def _route_sessionmaker(self, value: Any, test_engine: Any) -> None:
        bind = value.kw.get("bind")
        if bind is not None and _kind(bind) in ("engine", "async_engine"):
            self.reroute_engine(bind)
            return
        previous = dict(value.kw)
        value.kw["bind"] = test_engine
        value.kw.pop("binds", None)
        self._undo.append(lambda: (value.kw.clear(), value.kw.update(previous)))

    def _route_scoped_session(self, value: Any, test_engine: Any) -> None:
        value.remove()
        self._undo.append(value.remove)
        self._route_sessionmaker(value.session_factory, test_engine)

    def _route_async_scoped_session(self, value: Any, test_engine: Any) -> None:
        # Its remove() is a coroutine; the test's sessions are closed with the test's loop.
        value.registry.clear()
        self._undo.append(value.registry.clear)
        self._route_sessionmaker(value.session_factory, test_engine)

    def _route_session(self, value: Any, test_engine: Any) -> None:
        previous = value.bind
        if previous is not None and _kind(previous) in ("engine", "async_engine"):
            self.reroute_engine(previous)
        else:
            value.bind = test_engine
            self._undo.append(lambda: setattr(value, "bind", previous))
        self._undo.append(value.expunge_all)

    def _route_flask_sqlalchemy(self, db: Any, test_engine: Any) -> None:
        def remove_sessions() -> None:
            try:
                db.session.remove()
            except RuntimeError:  # no application context: no session to remove
                pass

        remove_sessions()
        self._undo.append(remove_sessions)
        if hasattr(db, "_app_engines"):  # Flask-SQLAlchemy 3.x: engines made in init_app
            for engines in list(db._app_engines.values()):
                for engine in engines.values():
                    self.reroute_engine(engine)
            self._wrap(db, "_make_engine", lambda made: self.reroute_engine(made))
        else:  # 2.x: engines made on first use, and cached
            self._wrap(db, "create_engine", lambda made: self.reroute_engine(made))
            self._wrap(db, "get_engine", lambda got: self.reroute_engine(got))

    def _wrap(self, owner: Any, name: str, after: Any) -> None:
        original = getattr(owner, name)
        had_own = name in vars(owner)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            return after(original(*args, **kwargs))

        setattr(owner, name, wrapped)
        self._undo.append(lambda: setattr(owner, name, original) if had_own else delattr(owner, name))


def build_environment(hook: Any, paths: tuple[str, ...], driver: Any) -> Any:
    """The Alembic environment of a class: its own hook, then its objects routed to the database being built.

    An ``env.py`` written for the application (Flask-Migrate's: ``db.get_engine()`` in an
    application context) then migrates the test database through the application's own objects.
    """
    if not paths:
        return hook

    @contextmanager
    def environment(url: str) -> Iterator[None]:
        from sqlalchemy.orm import sessionmaker
        from sqlalchemy.pool import NullPool

        from ..compat import new_engine

        engine = new_engine(url, poolclass=NullPool, connect_args=driver.connect_args({}))
        try:
            with hook(url), Routing(paths).routed(engine, sessionmaker(bind=engine)):
                yield
        finally:
            engine.dispose()

    return environment


__all__ = ["ACCEPTED", "Routing", "build_environment", "check_paths"]
