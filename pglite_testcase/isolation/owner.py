"""What an isolation strategy needs of the test class's fixture, as protocols (the fixture is above)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from ..database.pglite import TestDatabase
    from ..drivers import Driver


class StrategySettings(Protocol):
    """The class settings a strategy reads (``testcase.settings.ClassSettings``)."""

    @property
    def driver(self) -> Driver: ...

    @property
    def admin_driver(self) -> Driver: ...

    @property
    def reset_sequences(self) -> bool: ...

    @property
    def debug_connection(self) -> bool: ...


class ClassFixture(Protocol):
    """What a strategy needs of the test class's fixture (``testcase.fixture.ClassFixture``)."""

    @property
    def owner(self) -> type: ...

    @property
    def database(self) -> TestDatabase: ...

    @property
    def settings(self) -> StrategySettings: ...

    def create_class_data(self, connection: Connection) -> None: ...

    def rebuild(self) -> None: ...


__all__ = ["ClassFixture", "StrategySettings"]
