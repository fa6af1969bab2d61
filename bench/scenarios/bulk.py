"""10 bulk loading: executemany and COPY of 100,000 rows through plain psycopg, on the database a
test class gets: PGlite (PostgreSQL 17 and 18) and the real server, in alternation."""

from __future__ import annotations

from ..context import PGLITE_18, Context, scratch
from ..measure import Row, paired, run_python, value

SCENARIO = "10 bulk loading"
BACKENDS = {
    "pglite": ("PGlite (PostgreSQL 17)", {"PGLITE_TESTCASE_POSTGRES_VERSION": "17"}),
    "pglite18": ("PGlite (PostgreSQL 18)", PGLITE_18),
}


def run(context: Context) -> list[Row]:
    rows_loaded = context.size(100_000, 10_000)
    directory = scratch("bulk")
    backends = dict(BACKENDS)
    if context.server_url:
        backends["server"] = ("PostgreSQL server", {"PGLITE_TESTCASE_DATABASE_URL": context.server_url})
    rows: dict[tuple[str, str], Row] = {}
    for backend, (label, _) in backends.items():
        for how in ("executemany", "copy"):
            rows[backend, how] = Row(
                f"bulk.{backend}.{how}",
                SCENARIO,
                f"{how} of {rows_loaded:,} rows, plain psycopg, {label}",
                "s",
                compare_to=f"bulk.pglite.{how}" if backend != "pglite" else "",
            )
    for _ in range(context.repeat):
        for backend, (_, env) in backends.items():
            out = run_python(["-m", "bench.bulk_probe", str(rows_loaded)], directory, env)[1]
            for how in ("executemany", "copy"):
                rows[backend, how].samples.append(value(out, how))
    result = list(rows.values())
    if "server" in backends:
        for how in ("executemany", "copy"):
            result.append(
                paired(
                    f"bulk.{how}.ratio",
                    SCENARIO,
                    f"{how}: PGlite (PostgreSQL 17) / the server, run by run",
                    "x",
                    rows["pglite", how],
                    rows["server", how],
                    lambda a, b: a / b,
                )
            )
    return result
