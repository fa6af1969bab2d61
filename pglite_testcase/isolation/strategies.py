"""The isolation strategies, by name and by the kind of test class: chosen once per class.

``transaction`` (the default, ``transaction.py``): each test in a transaction that is rolled back.
``truncate`` (``truncate.py``): tests commit for real; after each, the tables are emptied.
Each has a face for sync classes and one for async classes (a connection per test).
"""

from __future__ import annotations

from .owner import ClassFixture, StrategySettings
from .transaction import AsyncTransactionIsolation, TransactionIsolation
from .truncate import AsyncTruncateIsolation, TruncateIsolation

Strategy = TransactionIsolation | TruncateIsolation

STRATEGIES: dict[tuple[str, bool], type[TransactionIsolation] | type[TruncateIsolation]] = {
    ("transaction", False): TransactionIsolation,
    ("transaction", True): AsyncTransactionIsolation,
    ("truncate", False): TruncateIsolation,
    ("truncate", True): AsyncTruncateIsolation,
}
"""(isolation, is the class async) -> the strategy's class."""


__all__ = [
    "STRATEGIES",
    "AsyncTransactionIsolation",
    "AsyncTruncateIsolation",
    "ClassFixture",
    "Strategy",
    "StrategySettings",
    "TransactionIsolation",
    "TruncateIsolation",
]
