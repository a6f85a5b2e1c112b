"""A child process whose merged stdout and stderr are collected line by line (a reader thread),
for tests that drive the node or the ROS 2 tools as separate processes."""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any


class CollectedProcess:
    def __init__(self, argv: list[str], **popen: Any) -> None:
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return ''.join(self.lines)

    def wait_for(self, text: str, count: int = 1, timeout_s: float = 60.0) -> None:
        """Until ``text`` has appeared in ``count`` lines; fails if the process ends first."""
        deadline = time.monotonic() + timeout_s
        while sum(text in line for line in self.lines) < count:
            assert self.proc.poll() is None, self.output
            assert time.monotonic() < deadline, f'no {text!r} in:\n{self.output}'
            time.sleep(0.05)

    def finish(self, timeout_s: float) -> int:
        """The exit code, once the process has ended and its output is read."""
        code = self.proc.wait(timeout=timeout_s)
        self._reader.join(timeout=5.0)
        return code
