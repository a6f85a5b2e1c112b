"""Hand-over of received frames from the subscription callbacks to a worker thread.

The callbacks must stay O(1) so they never block the executor (timers, parameter services), so
they only put the message here; the worker takes frames out at its own pace. Every camera has a
*lane* of its own; the worker takes a *round*: the next frame of every lane that has one, so the
frames of several cameras go through the model together and a silent camera never holds back
the others.

* ``latest`` (live cameras): one slot per lane. A new frame replaces one the worker has not
  started on, so the worker always runs on the freshest image and latency does not grow.
* ``every_frame`` (bag replay): a FIFO of ``capacity`` frames per lane so that every frame is
  processed when the producer is not much faster than the worker; when it is full the oldest
  frame is dropped, which keeps memory bounded.
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Literal


class FrameQueue:
    """Thread-safe bounded frame buffers, one per lane, with a drop policy (module docstring)."""

    def __init__(
        self, policy: Literal['latest', 'every_frame'], capacity: int, lanes: int = 1
    ) -> None:
        if capacity < 1 or lanes < 1:
            raise ValueError('capacity and lanes must be >= 1')
        size = 1 if policy == 'latest' else capacity
        self._lanes = [collections.deque(maxlen=size) for _ in range(lanes)]
        self._cond = threading.Condition()
        self._closed = False

    def put(self, item: Any, lane: int = 0) -> bool:
        """Add ``item`` to ``lane``; True if an older, unprocessed item had to be dropped for it."""
        with self._cond:
            items = self._lanes[lane]
            dropped = len(items) == items.maxlen
            items.append(item)
            self._cond.notify()
        return dropped

    def take(self, timeout_s: float) -> list[tuple[int, Any]]:
        """A round: (lane, oldest item) of every lane that has one, waiting up to ``timeout_s``
        for the first; empty on timeout or after :meth:`close`."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or any(self._lanes), timeout_s)
            if self._closed:
                return []
            return [(lane, items.popleft()) for lane, items in enumerate(self._lanes) if items]

    def clear(self) -> None:
        """Drop every waiting item."""
        with self._cond:
            for items in self._lanes:
                items.clear()

    def close(self) -> None:
        """Wake every waiting :meth:`take` and make all further ones return nothing."""
        with self._cond:
            self._closed = True
            self.clear()
            self._cond.notify_all()
