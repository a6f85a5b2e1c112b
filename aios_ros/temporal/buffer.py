"""Per-identity ring buffer of recent detections, addressed by frame stamps (seconds).

Memory is bounded twice: at most ``capacity`` entries (pre-allocated arrays, the oldest entry is
overwritten) and nothing older than ``horizon_s`` before the newest stamp. Windows are defined
in seconds, so dropped frames simply leave fewer entries in a window.
"""
from __future__ import annotations

import bisect

import numpy as np

from aios_ros.pipeline.types import NUM_POSE_JOINTS, TOKEN_DIM, TOKENS_PER_PERSON

#: field name -> (per-entry shape, dtype). ``tokens`` is allocated on first use.
FIELDS: dict[str, tuple[tuple[int, ...], type]] = {
    'score': ((), np.float32),
    'boxes': ((4, 4), np.float32),
    'pose': ((NUM_POSE_JOINTS, 3, 3), np.float32),
    'betas': ((10,), np.float32),
    'expression': ((10,), np.float32),
    'transl': ((3,), np.float32),
    'tokens': ((TOKENS_PER_PERSON, TOKEN_DIM), np.float16),
}


class RingBuffer:
    """Entries of one identity: stamp (s) plus the arrays in :data:`FIELDS`.

    The stamps of the live entries are also kept as a short chronological Python list, so a
    window is found by bisection and, unless it wraps around the ring, read as array views.
    """

    def __init__(self, capacity: int, horizon_s: float):
        if capacity < 1 or horizon_s <= 0:
            raise ValueError('capacity must be >= 1 and horizon_s > 0')
        self.capacity = capacity
        self.horizon_s = horizon_s
        self._stamps = np.zeros(capacity)
        self._data = {k: np.zeros((capacity,) + shape, dt) for k, (shape, dt) in FIELDS.items()
                      if k != 'tokens'}
        self._next = 0
        self._live: list[float] = []        # stamps of the live entries, oldest first
        self._has_tokens: list[bool] = []   # parallel to _live

    def push(self, stamp: float, entry: dict[str, np.ndarray]) -> None:
        """Append one entry (keys of :data:`FIELDS`; ``tokens`` may be missing or None)."""
        if self._live and stamp <= self._live[-1]:
            raise ValueError(f'buffer stamps must increase: {stamp} after {self._live[-1]}')
        i = self._next
        self._stamps[i] = stamp
        for key, values in self._data.items():
            if key != 'tokens':
                values[i] = entry[key]
        tokens = entry.get('tokens')
        if tokens is not None:
            if 'tokens' not in self._data:
                shape, dt = FIELDS['tokens']
                self._data['tokens'] = np.zeros((self.capacity,) + shape, dt)
            self._data['tokens'][i] = tokens
        self._next = (i + 1) % self.capacity
        self._live.append(stamp)
        self._has_tokens.append(tokens is not None)
        drop = max(len(self._live) - self.capacity,
                   bisect.bisect_left(self._live, stamp - self.horizon_s))
        del self._live[:drop], self._has_tokens[:drop]

    def window(self, t_lo: float, t_hi: float, fields: tuple[str, ...] = tuple(FIELDS)
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Entries with t_lo <= stamp <= t_hi in stamp order: (stamps (K,), {field: (K, ...)}).

        Only ``fields`` are returned; ``tokens`` only when every entry of the window has them.
        The arrays may be views of the buffer: use them before the next :meth:`push`.
        """
        lo = bisect.bisect_left(self._live, t_lo)
        hi = bisect.bisect_right(self._live, t_hi)
        start = (self._next - len(self._live) + lo) % self.capacity
        if start + hi - lo <= self.capacity:
            sel: slice | np.ndarray = slice(start, start + hi - lo)
        else:
            sel = (start + np.arange(hi - lo)) % self.capacity
        with_tokens = 'tokens' in self._data and all(self._has_tokens[lo:hi])
        out = {k: self._data[k][sel] for k in fields
               if k in self._data and (k != 'tokens' or with_tokens)}
        return self._stamps[sel], out
