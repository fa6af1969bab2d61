"""This machine's processes, from /proc: who descends from whom, and what each runs."""

from __future__ import annotations

import os


def stat_fields(pid: int) -> tuple[str, list[str]]:
    """The command name of ``pid`` and the fields of /proc/<pid>/stat after it (state, ppid, ...)."""
    with open(f"/proc/{pid}/stat") as stat_file:
        stat = stat_file.read()
    return stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()


def descendants(pid: int) -> dict[int, str]:
    """Every living process descending from ``pid`` (not ``pid`` itself), with its command name."""
    parents: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                command, fields = stat_fields(int(entry))
            except (OSError, ValueError):
                continue
            if fields[0] != "Z":  # a zombie has ended; only its exit status waits for its parent
                parents[int(entry)] = (int(fields[1]), command)
    found: dict[int, str] = {}
    generation = {pid}
    while generation:
        generation = {child for child, (parent, _) in parents.items() if parent in generation} - found.keys()
        found.update({child: parents[child][1] for child in generation})
    return found
