"""Runs the generated unittest suite in the current directory; prints the PGlite process's peak RSS.

``python -m bench.suite_runner`` — like ``python -m unittest discover``, plus
``node_peak_rss_mb <MB>`` read from /proc before PGlite stops.
"""

from __future__ import annotations

import sys
import unittest


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    suite = unittest.defaultTestLoader.discover(".")
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=0).run(suite)
    if not result.wasSuccessful():
        raise SystemExit(1)
    from pglite_testcase.provision import REGISTRY

    _shared = REGISTRY._shared

    if _shared is not None and _shared.process.process is not None:
        print("node_peak_rss_mb", peak_rss_mb(_shared.process.process.pid))
    print("tests_run", result.testsRun)


if __name__ == "__main__":
    main()
