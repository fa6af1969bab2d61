"""The savepoints open on a test's one connection: whose each is, what it holds, when it may end.

In production every session has a connection of its own; in a test they
all share the test's, each session's transaction being a savepoint. Code
that keeps two sessions open at once (a ``scoped_session`` and an ad-hoc
one, two engine connections) then interleaves their savepoints, and
PostgreSQL's savepoints nest: releasing or rolling back an older one ends
every newer one too. So the stack here keeps the order PostgreSQL needs:

- a savepoint released while newer ones of other sessions are open is
  released later, when they have ended (nothing is lost: its work stays);
- a savepoint rolled back while holding nothing of its owner's own (it only
  read, or only holds what other sessions committed inside it) is released
  instead, so others' work survives;
- a rollback that undoes its owner's writes undoes, as in PostgreSQL, what
  other sessions committed inside it;
- only a rollback that would end another session's savepoint that is still
  open is refused, with an error saying so: that session would fail later,
  far from the cause.

Each savepoint also remembers the thread that opened it and whether it holds
the turn other threads wait for (see ``TestTransaction``).

A savepoint opened when nothing has run since the test went back to the
class's savepoint would mark the very same state: it is not sent at all, and
rolling back to it rolls back to the class's savepoint instead. A session's
transaction in a test (its first savepoint) then costs no statement.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import PGliteTestCaseError

CONNECTION = "connection"  # the owner of savepoints opened on self.connection itself

_READS = re.compile(r"^\s*\(?\s*(?:select|show|values|explain|with|fetch|declare|move|close)\b", re.I)


class ConcurrentUseError(PGliteTestCaseError):
    """Two threads, or two interleaved transactions, used the test's connection in a way that cannot be kept apart."""


def writes(statement: str) -> bool:
    """Whether a statement may change data (what a rollback would have to undo)."""
    return _READS.match(statement) is None


@dataclass
class Savepoint:
    name: str
    owner: str  # the SQLAlchemy connection it belongs to (its outermost savepoint's name), or CONNECTION
    thread: int
    holds_turn: bool = False
    wrote: bool = False  # its owner wrote (or failed a statement) while it was open: a rollback must undo that
    holds_others: bool = False  # another owner's work now lives inside it
    misplaced: bool = False  # its owner wrote while another owner's newer savepoint was open: inside that one
    released: bool = False  # released while newer savepoints were open: sent when they have ended
    alias: str | None = None  # never sent: it stands for this savepoint, made at the same state


class SavepointStack:
    def __init__(
        self,
        send: Callable[[str], None],
        release_turn: Callable[[], None],
        same_state_as: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._send = send
        self._release_turn = release_turn
        self._same_state_as = same_state_as  # a savepoint made at the state a new one would mark, if any
        self.open: list[Savepoint] = []

    def clear(self) -> None:
        for savepoint in self.open:
            if savepoint.holds_turn:
                self._release_turn()
        self.open.clear()

    def owned_by_thread(self, thread: int) -> bool:
        return any(savepoint.thread == thread for savepoint in self.open)

    def push(self, name: str, owner: str, *, holds_turn: bool = False) -> None:
        alias = None if self.open else self._same_state_as()
        if alias is None:
            self._send(f"SAVEPOINT {name}")
        self.open.append(Savepoint(name, owner, threading.get_ident(), holds_turn, alias=alias))

    def _index(self, name: str) -> int | None:
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index].name == name:
                return index
        return None

    def statement(self, owner: str, statement: str, failed: bool = False) -> None:
        """A statement ran: whose savepoint now holds its work."""
        if not self.open or not (failed or writes(statement)):
            return
        top = self.open[-1]
        if top.owner == owner:
            top.wrote = True
            return
        top.holds_others = True
        if failed:  # the failure aborted the newest savepoint, someone else's: it must be rolled back
            top.wrote = True
        mine = next((savepoint for savepoint in reversed(self.open) if savepoint.owner == owner), None)
        if mine is not None:  # its owner's work went inside someone else's newer savepoint
            mine.wrote = mine.misplaced = True

    def release(self, name: str) -> None:
        index = self._index(name)
        if index is None:
            return  # ended already, with an older one
        self._check_threads(index)
        self.open[index].released = True
        self._end_released()

    def rollback(self, name: str) -> None:
        index = self._index(name)
        if index is None:
            return
        self._check_threads(index)
        savepoint, newer = self.open[index], self.open[index + 1 :]
        if not savepoint.wrote:
            # Nothing of its owner's to undo: releasing keeps whatever others did inside it.
            self.open[index].released = True
            self._end_released()
            return
        if savepoint.misplaced or any(other.owner != savepoint.owner for other in newer):
            raise ConcurrentUseError(
                "a session (or engine connection) rolled back its writes, but another one's transaction, "
                "begun after it on the test's one connection, "
                + ("is still open: the rollback would end it too. " if newer else "held some of them. ")
                + "In a test every session shares one connection, so let the session begun later finish "
                "(commit, roll back or close it) before the earlier one writes again or rolls back."
            )
        if savepoint.alias is not None:
            self._send(f"ROLLBACK TO SAVEPOINT {savepoint.alias}")
        else:
            self._send(f"ROLLBACK TO SAVEPOINT {savepoint.name}")
            self._send(f"RELEASE SAVEPOINT {savepoint.name}")
        for ended in self.open[index:]:
            if ended.holds_turn:
                self._release_turn()
        del self.open[index:]
        self._end_released()

    def _end_released(self) -> None:
        while self.open and self.open[-1].released:
            ended = self.open.pop()
            if ended.alias is None:
                self._send(f"RELEASE SAVEPOINT {ended.name}")
            if ended.holds_turn:
                self._release_turn()
            if self.open:
                parent = self.open[-1]
                if ended.wrote and ended.owner == parent.owner:
                    parent.wrote = True
                    parent.misplaced = parent.misplaced or ended.misplaced
                elif ended.wrote or ended.holds_others:
                    parent.holds_others = True

    def _check_threads(self, index: int) -> None:
        me, opener = threading.get_ident(), self.open[index].thread
        if any(other.thread not in (me, opener) for other in self.open[index + 1 :]):
            raise ConcurrentUseError(
                "the test's connection was used by two threads at once: this thread ended its transaction "
                "while another thread's, begun inside it, was still open. The test's transaction runs on one "
                "connection, so threads must take turns: let each thread finish its transaction (commit or "
                "roll back) before another ends one, or give concurrent code isolation = 'truncate' on a "
                "real PostgreSQL server."
            )
