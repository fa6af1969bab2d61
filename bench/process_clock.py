"""When this process started, from /proc: start-up rows count from there, interpreter start included."""

from __future__ import annotations

import os
import time


def process_started_at() -> float:
    """This process's start, in time.time() terms (from /proc/self/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/self/stat") as stat:
        start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as uptime:
        booted_at = time.time() - float(uptime.read().split()[0])
    return booted_at + start_ticks / ticks
