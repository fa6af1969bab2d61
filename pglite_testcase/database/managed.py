"""Databases on the package's own PostgreSQL server (``backend = "postgres"``).

A managed server is a server: what runs on it is ``server``'s, as on a server of the user's own —
one template database per schema (``pglite_testcase_tpl_<key>``, named from the schema's
fingerprint, as the PGlite snapshots are), and a database of each test process's own made from it
with ``CREATE DATABASE ... TEMPLATE``, so a class whose schema was built once starts with a copy.
The server itself is ``runtime.postgres_cluster``'s (started when first needed, stopped when the
last test process is gone).

Because the package owns this server, it also keeps it tidy, as the snapshot store keeps the cache:

- at a process's first use, the databases of processes that no longer run (killed before their
  exit could drop them) are dropped, and the half-built templates of such processes;
- each template carries, as its comment, when a process last used it; beyond
  ``PGLITE_TESTCASE_SNAPSHOTS_KEPT`` (12) templates, the least recently used are dropped, never
  one used in the last ``SPARED_SECONDS`` (a concurrent process may need it again: a class whose
  test escaped its transaction is rebuilt from it) nor one being built.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from .. import environment
from ..drivers import Driver
from ..runtime.node_packages import pid_alive
from ..runtime.postgres_cluster import ManagedServer, attach
from .server import RUN_PREFIX, TEMPLATE_PREFIX, _admin, admin_connection

log = logging.getLogger("pglite_testcase")

# What a process names its databases: pglite_testcase_run_<pid>_<hex>, pglite_testcase_tpl_new_<pid>_<hex>.
_OWNED_BY_PID = re.compile(rf"^(?:{RUN_PREFIX}|{TEMPLATE_PREFIX}new_)(\d+)_[0-9a-f]+$")
_USED = "pglite_testcase: last used "
SPARED_SECONDS = 3600.0


class ManagedPostgres:
    """This process's use of the package's PostgreSQL server."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.server: ManagedServer = attach(where)
        self.url: URL = make_url(self.server.url_text())
        self._lock = threading.Lock()
        self._tidied = False
        self._used: set[str] = set()

    def tidy(self, driver: Driver) -> None:
        """Once per process: drop what processes that no longer run left on the server."""
        with self._lock:
            if self._tidied:
                return
            self._tidied = True
            with admin_connection(self.url, driver) as connection:
                names = connection.scalars(
                    text(
                        "SELECT datname FROM pg_database d WHERE left(datname, length(:prefix)) = :prefix "
                        "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)"
                    ),
                    {"prefix": "pglite_testcase_"},
                ).all()
                for name in names:
                    owner = _OWNED_BY_PID.match(name)
                    if owner is not None and not pid_alive(int(owner.group(1))):
                        log.info("pglite_testcase: dropping %s, left by a process that no longer runs", name)
                        _admin(connection, "DROP DATABASE IF EXISTS {}", name)

    def used_template(self, template: str, driver: Driver) -> None:
        """Record that ``template`` was used now; drop the least recently used beyond the number kept."""
        with self._lock:
            if template in self._used:
                return
            self._used.add(template)
        with admin_connection(self.url, driver) as connection:
            _admin(connection, f"COMMENT ON DATABASE {{}} IS '{_USED}{time.time():.0f}'", template)
            rows = connection.execute(
                text(
                    "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
                    "WHERE left(datname, length(:prefix)) = :prefix AND datname NOT LIKE :building"
                ),
                {"prefix": TEMPLATE_PREFIX, "building": TEMPLATE_PREFIX + "new\\_%"},
            ).all()
            now = time.time()
            by_use = sorted(rows, key=lambda row: _when(_last_used(row[1]), now), reverse=True)
            for name, comment in by_use[environment.snapshots_kept() :]:
                used = _last_used(comment)
                if name in self._used or used is None or used > now - SPARED_SECONDS:
                    continue
                try:
                    _admin(connection, "DROP DATABASE IF EXISTS {}", name)
                except Exception as exc:  # another process is copying it right now: next time
                    log.debug("pglite_testcase: template %s not dropped now: %s", name, exc)

    def release(self) -> None:
        self.server.release()


def _last_used(comment: str | None) -> float | None:
    """When a template was last used, from its comment (None: not recorded yet, the process that built
    it is about to)."""
    if comment and comment.startswith(_USED):
        try:
            return float(comment[len(_USED) :])
        except ValueError:
            pass
    return None


def _when(used: float | None, now: float) -> float:
    return now if used is None else used
