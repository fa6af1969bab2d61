"""What every driver is: the ``Driver`` base class, and what a driver needs of the test transaction."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import URL

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


class JoinedTransaction(Protocol):
    """What a driver's connections call on the test transaction they join
    (``isolation.join_test_transaction.TestTransaction``)."""

    lock: threading.RLock
    on_cancel: Callable[[], None] | None

    def take_queue(self) -> list[str]: ...

    def forget_queue(self) -> None: ...

    def observe(self, statement: str, run: Callable[[], Any]) -> Any: ...

    def cancel(self) -> None: ...


class Driver:
    """One DBAPI driver as the library uses it."""

    name: str  # the value of the class attribute (``driver`` / ``async_driver``)
    dialect: str  # SQLAlchemy's driver name in the URL: postgresql+<dialect>
    package: str  # what must be importable
    extra: str | None = None  # the pip extra that installs it
    is_async = False

    def __repr__(self) -> str:
        return f"<driver {self.name}{' (asyncio)' if self.is_async else ''}>"

    def url(self, url: URL) -> URL:
        return url.set(drivername=f"postgresql+{self.dialect}")

    def connect_args(self, server_settings: Mapping[str, str]) -> dict[str, Any]:
        """Connect arguments that give every new session ``server_settings`` (libpq ``options``)."""
        if not server_settings:
            return {}
        return {"options": " ".join(f"-c {name}={value}" for name, value in server_settings.items())}

    def missing(self) -> str | None:
        """Why this driver cannot be used here, or None."""
        if importlib.util.find_spec(self.package) is None:
            extra = f"pip install 'pglite-testcase[{self.extra}]'" if self.extra else f"pip install {self.package}"
            return f"needs the {self.package} package, which is not installed: {extra}"
        return None

    def idle(self, driver_connection: Any) -> bool:
        """Whether ``driver_connection`` is outside any transaction block, fit to run a clean-up that commits."""
        return False

    # -- the test transaction's driver-specific half ---------------------------------------

    def carry_queue(self, engine: Engine, transaction: JoinedTransaction) -> None:
        """Make ``engine``'s DBAPI connections flush ``transaction``'s queue before anything else."""
        raise NotImplementedError

    def watch_notices(self, driver_connection: Any, heard: Callable[[str, str], None]) -> None:
        """Call ``heard(severity, message)`` for each notice the server sends this connection."""
        raise NotImplementedError


__all__ = ["Driver", "JoinedTransaction"]
