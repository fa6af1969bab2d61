"""Class-level test data (``setUpTestData``), handed to each test as its own copy.

What ``setUpTestData`` stores on the class is wrapped in a descriptor. A
test reading it gets a copy of its own: ORM objects are merged into the
test's session without a query (``merge(load=False)``: the test's instance
is attached to its session and can be changed, refreshed or deleted),
containers are copied element by element, anything else is deep-copied.
So no test sees another test's changes to an object, as in Django's
``setUpTestData``, and the rows themselves are rolled back to their
class-level state after every test.

A value that cannot be deep-copied (a client, a lock, an object whose
``__getattr__`` recurses) is refused in ``setUpClass`` with its name, unless
the class lists it in ``shared_test_data``: then every test reads the one
object as it is.
"""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.exc import NoInspectionAvailable
from sqlalchemy.orm import Session

from ..errors import ConfigurationError


def _is_mapped_instance(value: object) -> bool:
    if isinstance(value, type):
        return False
    try:
        return inspect(value).mapper is not None
    except (NoInspectionAvailable, AttributeError):
        return False
    except (Exception, RecursionError):  # a value whose own attribute lookup fails: not a mapped object
        return False


def copy_for_test(value: Any, session: Session) -> Any:
    if _is_mapped_instance(value):
        return session.merge(value, load=False)
    if isinstance(value, list):
        return [copy_for_test(item, session) for item in value]
    if isinstance(value, tuple):
        return tuple(copy_for_test(item, session) for item in value)
    if isinstance(value, dict):
        return {key: copy_for_test(item, session) for key, item in value.items()}
    return copy.deepcopy(value)


class TestData:
    """A class attribute set in ``setUpTestData``: each test instance reads its own copy."""

    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self.value = value

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self.value
        copies: dict[str, Any] | None = instance.__dict__.get("_pglite_test_data")
        if copies is None:
            # All of the class's data at once, on first use: merging cascades along
            # relationships, so a later merge would overwrite what the test changed.
            session = instance.session
            session = getattr(session, "sync_session", session)
            copies = {}
            instance.__dict__["_pglite_test_data"] = copies
            for name, data in _test_data_of(type(instance)).items():
                copies[name] = copy_for_test(data.value, session)
        return copies[self.name]


def _test_data_of(owner: type) -> dict[str, TestData]:
    found: dict[str, TestData] = {}
    for klass in reversed(owner.__mro__):
        found.update({name: value for name, value in vars(klass).items() if isinstance(value, TestData)})
    return found


def _check_copyable(owner: type, name: str, value: Any) -> None:
    """Copy the value once now, so that one which cannot be copied fails setUpClass, naming it."""
    if _is_mapped_instance(value) or isinstance(value, (list, tuple, dict)) and not value:
        return
    items = value if isinstance(value, (list, tuple)) else value.values() if isinstance(value, dict) else [value]
    for item in items:
        if _is_mapped_instance(item):
            continue
        try:
            copy.deepcopy(item)
        except (Exception, RecursionError) as exc:
            raise ConfigurationError(
                f"{owner.__qualname__}.{name}, set in setUpTestData, cannot be copied for each test "
                f"({type(exc).__name__}: {str(exc)[:200]}). Each test gets its own deep copy of class data; for a "
                f"value that must be shared as it is (a client, a connection, a lock), add its name to "
                f"{owner.__qualname__}.shared_test_data, e.g. shared_test_data = {{{name!r}}}."
            ) from exc


def wrap_new_attributes(owner: type, before: set[str], shared: frozenset[str] = frozenset()) -> None:
    """Turn every class attribute that setUpTestData added into a TestData descriptor (unless shared)."""
    for name in set(owner.__dict__) - before:
        if name.startswith("_") or name in shared:
            continue
        value = owner.__dict__[name]
        _check_copyable(owner, name, value)
        setattr(owner, name, TestData(name, value))


def unwrap_attributes(owner: type) -> None:
    for name, value in list(owner.__dict__.items()):
        if isinstance(value, TestData):
            delattr(owner, name)
