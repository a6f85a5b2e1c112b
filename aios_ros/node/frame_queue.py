"""Hand-over of received frames from the subscription callback to the inference worker thread.

The callback must stay O(1) so it never blocks the executor (timers, parameter services), so it
only puts the message here; the worker takes frames out at its own pace.

* ``latest`` (live cameras): one slot. A new frame replaces one the worker has not started on,
  so the worker always runs on the freshest image and latency does not grow.
* ``every_frame`` (bag replay): a FIFO of ``capacity`` frames so that every frame is processed
  when the producer is not much faster than the worker; when it is full the oldest frame is
  dropped, which keeps memory bounded.
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Literal, Optional


class FrameQueue:
    """Thread-safe bounded frame buffer with a drop policy (module docstring)."""

    def __init__(self, policy: Literal['latest', 'every_frame'], capacity: int) -> None:
        if capacity < 1:
            raise ValueError('capacity must be >= 1')
        self._items: collections.deque = collections.deque(
            maxlen=1 if policy == 'latest' else capacity
        )
        self._cond = threading.Condition()
        self._closed = False

    def put(self, item: Any) -> bool:
        """Add ``item``; True if an older, unprocessed item had to be dropped for it."""
        with self._cond:
            dropped = len(self._items) == self._items.maxlen
            self._items.append(item)
            self._cond.notify()
        return dropped

    def get(self, timeout_s: float) -> Optional[Any]:
        """The oldest item, waiting up to ``timeout_s``; None on timeout or after :meth:`close`."""
        with self._cond:
            self._cond.wait_for(lambda: self._items or self._closed, timeout_s)
            if self._closed or not self._items:
                return None
            return self._items.popleft()

    def close(self) -> None:
        """Wake every waiting :meth:`get` and make all further ones return None."""
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()
