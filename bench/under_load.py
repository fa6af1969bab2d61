"""The suite under load: ``python -m bench.under_load [--runs 3] [--burners 2] [-- unittest args]``.

Runs the README's test command ``--runs`` times in a row while ``--burners`` CPU-bound processes
spin beside it (on this 2-core machine kind: every core busy), and prints each run's outcome and
time. No test may depend on the machine's speed, so every run must pass; the exit status is the
number of failed runs. The burners are ended whatever happens.
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import time


def _burn() -> None:
    while True:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.under_load")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--burners", type=int, default=2)
    parser.add_argument("unittest_args", nargs="*", default=["discover"], help="after --: what unittest runs")
    args = parser.parse_args(argv)
    burners = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(args.burners)]
    for burner in burners:
        burner.start()
    failed = 0
    try:
        for run in range(1, args.runs + 1):
            started = time.monotonic()
            outcome = subprocess.run(
                [sys.executable, "-m", "unittest", *args.unittest_args], capture_output=True, text=True
            )
            elapsed = time.monotonic() - started
            summary = [line for line in outcome.stderr.splitlines() if line.startswith(("Ran ", "OK", "FAILED"))]
            print(f"run {run}: exit {outcome.returncode} in {elapsed:.0f} s: {' / '.join(summary)}", flush=True)
            if outcome.returncode != 0:
                failed += 1
                print(outcome.stderr[-6000:], flush=True)
    finally:
        for burner in burners:
            burner.terminate()
            burner.join()
    print(f"{args.runs - failed} of {args.runs} runs passed beside {args.burners} CPU-bound processes")
    return failed


if __name__ == "__main__":
    sys.exit(main())
