"""A node process this process did not start: a spare the keeper started and handed over.

It is the keeper's child, not this process's, so this process cannot wait for it the way
``subprocess.Popen`` does: its end is seen through a pidfd (Linux 5.3+), or else by signal 0,
and its exit status is not known here (the keeper reaps it). What ``process.PGliteProcess``
uses of a ``Popen`` is here with the same meaning: ``pid``, ``stdin``, ``stdout``, ``poll``,
``wait``, ``send_signal``, ``returncode``.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from typing import BinaryIO

EXIT_STATUS_UNKNOWN = 255  # what ``returncode`` is once it ended: the keeper, its parent, has the real one


class AdoptedNode:
    def __init__(self, pid: int, stdin_fd: int, stdout_fd: int) -> None:
        self.pid = pid
        self.args = f"node (pid {pid}, started by the keeper)"
        self.stdin: BinaryIO | None = os.fdopen(stdin_fd, "wb")
        self.stdout: BinaryIO | None = os.fdopen(stdout_fd, "rb")
        self.returncode: int | None = None
        self._pidfd: int | None = None
        if hasattr(os, "pidfd_open"):
            try:
                self._pidfd = os.pidfd_open(pid)
            except OSError:  # already gone (ESRCH), or no pidfd in this kernel
                self._pidfd = None
                self._check_by_signal()

    def _ended(self) -> None:
        self.returncode = EXIT_STATUS_UNKNOWN
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def _check_by_signal(self) -> None:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            self._ended()
        except PermissionError:
            pass  # (a process of another user now has the pid: ours is gone)

    def poll(self) -> int | None:
        if self.returncode is None:
            if self._pidfd is not None:
                if select.select([self._pidfd], [], [], 0)[0]:
                    self._ended()
            else:
                self._check_by_signal()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            remaining = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
            if remaining <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            if self._pidfd is not None:
                select.select([self._pidfd], [], [], remaining)
            else:
                time.sleep(remaining)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is not None:
            return
        if self._pidfd is not None and hasattr(signal, "pidfd_send_signal"):
            signal.pidfd_send_signal(self._pidfd, sig)
        else:
            os.kill(self.pid, sig)
