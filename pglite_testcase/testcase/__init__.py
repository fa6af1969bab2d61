"""The test case classes and what they hand each test.

``sync_case`` and ``async_case`` are thin adapters over one ``fixture.ClassFixture`` (for async
classes ``async_fixture.AsyncClassFixture``, which changes only what asyncio forces), which reads
the class's ``settings``, provisions the database, opens an isolation strategy and runs the class
data (``class_data``). ``queries``, ``helpers`` and ``factories`` are the conveniences of each test.

Importing ``pglite_testcase.testcase`` gives the synchronous classes, as before this was a package.
"""

from __future__ import annotations

from .sync_case import PGliteDatabaseMixin, PGliteMixin, PGliteTestCase

__all__ = ["PGliteDatabaseMixin", "PGliteMixin", "PGliteTestCase"]
