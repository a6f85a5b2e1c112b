"""SIGINT and SIGTERM end the node cleanly, whenever they arrive.

rclpy's own handlers shut the context down from inside the signal, so the worker thread's next
publish fails (``RCLError``), and a second SIGINT (``ros2 launch`` forwards one after the
terminal's) lands as ``KeyboardInterrupt`` in ``thread.join``. Instead the node installs these
handlers and keeps rclpy's off: the first signal only records the request, and the main thread
stops everything in order (lifecycle shutdown, workers joined, node destroyed, rclpy shut down).
While the main thread does start-up work that may take long (imports, model load and warm-up),
the first signal also raises :class:`StopRequested` there, so the stop does not wait for it.
Later signals are ignored. The process then exits 0: a stop is the normal end of a node.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Iterator, Optional

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(BaseException):
    """A stop signal arrived during interruptible start-up work (a BaseException, like
    ``KeyboardInterrupt``, so that no ``except Exception`` on the way swallows it)."""


class StopSignals:
    """The process's SIGINT/SIGTERM handling (call :meth:`install` in the main thread)."""

    def __init__(self) -> None:
        self.received: Optional[str] = None  # name of the first stop signal
        self._interruptible = False

    def install(self) -> StopSignals:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)
        return self

    def ignore_further(self) -> None:
        """From now on stop signals are ignored: the process is exiting, and rclpy's shutdown
        resets the handlers it found at init to the default (a late SIGINT would kill it)."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)

    @property
    def requested(self) -> bool:
        return self.received is not None

    def _handle(self, signum: int, frame: object) -> None:
        # Only attribute writes here: the handler runs between two bytecodes of the main thread,
        # which may hold any lock at that moment.
        if self.received is not None:
            return
        self.received = signal.Signals(signum).name
        if self._interruptible:
            raise StopRequested(self.received)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Main-thread work that the first stop signal aborts with :class:`StopRequested`."""
        self._interruptible = True
        try:
            if self.received is not None:
                raise StopRequested(self.received)
            yield
        finally:
            self._interruptible = False
