"""The results table, from the rows as the results JSON holds them (older files included)."""

from __future__ import annotations

import math
from typing import Any


def figure(number: float | None, unit: str) -> str:
    if number is None or math.isnan(number):
        return "-"
    digits = 3 if unit in ("s", "ms") else 2
    return f"{number:.{digits}f}"


def target_text(row: dict[str, Any]) -> str:
    target = row.get("target")
    if not target:
        return ""
    verdict = {True: "met", False: "missed", None: "reported"}[met(row)]
    if row.get("median") is None:
        verdict = "not measured (its runs failed)"
    return verdict if target.get("limit") is None else f"<= {target['limit']:g} {row['unit']}: {verdict}"


def met(row: dict[str, Any]) -> bool | None:
    """Whether the row's median is within its target's limit (None: no limit to meet)."""
    target = row.get("target")
    if not target or target.get("limit") is None or row.get("median") is None:
        return None
    return bool(row["median"] <= target["limit"])


def table(rows: list[dict[str, Any]]) -> str:
    with_targets = any(row.get("target") for row in rows)
    header = "| scenario | variant | median | min-max | runs | vs pglite_testcase |"
    lines = [header + (" target |" if with_targets else ""), "|---" * (7 if with_targets else 6) + "|"]
    for row in rows:
        unit = row["unit"]
        if row["median"] is None:  # its runs failed or hung: the note says how
            measured = f"not measured | - | 0 | {row.get('note', '')}"
        else:
            spread = f"{figure(row['min'], unit)}-{figure(row['max'], unit)}"
            measured = f"{figure(row['median'], unit)} {unit} | {spread} | {len(row['samples'])} | {row.get('vs', '')}"
        line = f"| {row['scenario']} | {row['variant']} | {measured} |"
        lines.append(line + (f" {target_text(row)} |" if with_targets else ""))
    return "\n".join(lines)
