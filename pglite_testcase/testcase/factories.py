"""Factory Boy and Faker, bound to the running test (``factories = [...]``, ``faker_seed = ...``).

For the duration of a test, each listed ``SQLAlchemyModelFactory`` creates its
objects in the test's session (``self.session``; for async classes its
synchronous core, ``self.session.sync_session``), and gets its previous
session back afterwards. In async classes the factories only add objects (their own flush or
commit would be I/O outside an ``await``): the test awaits
``self.session.flush()`` or ``commit()``. ``faker_seed`` reseeds Factory Boy's and Faker's
random generators before every test, so each test sees the same values on
every run, whatever ran before it. Needs ``pip install 'pglite-testcase[factory]'``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigurationError


def check_factories(value: object, where: str) -> tuple[Any, ...]:
    if not value:
        return ()
    accepted = "a list of factory_boy SQLAlchemyModelFactory subclasses (pip install 'pglite-testcase[factory]')"
    if not isinstance(value, (list, tuple)):
        raise ConfigurationError.refused(value, where, accepted)
    try:
        from factory.alchemy import SQLAlchemyModelFactory
    except ImportError as exc:
        raise ConfigurationError.refused(value, where, accepted) from exc
    for item in value:
        if not (isinstance(item, type) and issubclass(item, SQLAlchemyModelFactory)):
            raise ConfigurationError.refused(value, where, accepted + f" ({item!r} is not one)")
    return tuple(value)


def check_faker_seed(value: object, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError.refused(value, where, "an int, or None")
    return value


class BoundFactories:
    """The factories of one test, pointed at its session until ``release``."""

    def __init__(self, factories: Sequence[Any], session: Any, seed: int | None, *, only_add: bool = False) -> None:
        self._previous = [
            (f, f._meta.sqlalchemy_session, f._meta.sqlalchemy_session_factory, f._meta.sqlalchemy_session_persistence)
            for f in factories
        ]
        for factory_class in factories:
            factory_class._meta.sqlalchemy_session = session
            factory_class._meta.sqlalchemy_session_factory = None
            if only_add:
                # Under asyncio the session's I/O must be awaited: the test flushes.
                factory_class._meta.sqlalchemy_session_persistence = None
        if seed is not None:
            import factory.random

            factory.random.reseed_random(seed)  # type: ignore[no-untyped-call]  # factory-boy is unannotated

    def release(self) -> None:
        for factory_class, session, session_factory, persistence in self._previous:
            factory_class._meta.sqlalchemy_session = session
            factory_class._meta.sqlalchemy_session_factory = session_factory
            factory_class._meta.sqlalchemy_session_persistence = persistence
