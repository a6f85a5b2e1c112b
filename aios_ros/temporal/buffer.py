"""Per-identity ring buffer of recent detections, addressed by frame stamps (seconds).

Memory is bounded twice: at most ``capacity`` entries (pre-allocated arrays, the oldest entry is
overwritten) and nothing older than ``horizon_s`` before the newest stamp. Windows are defined
in seconds, so dropped frames simply leave fewer entries in a window.
"""
from __future__ import annotations

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
    """Entries of one identity: stamp (s) plus the arrays in :data:`FIELDS`."""

    def __init__(self, capacity: int, horizon_s: float):
        if capacity < 1 or horizon_s <= 0:
            raise ValueError('capacity must be >= 1 and horizon_s > 0')
        self.capacity = capacity
        self.horizon_s = horizon_s
        self._stamps = np.full(capacity, np.nan)
        self._has_tokens = np.zeros(capacity, bool)
        self._data = {k: np.zeros((capacity,) + shape, dt) for k, (shape, dt) in FIELDS.items()
                      if k != 'tokens'}
        self._next = 0
        self._newest = -np.inf

    def push(self, stamp: float, entry: dict[str, np.ndarray]) -> None:
        """Append one entry (keys of :data:`FIELDS`; ``tokens`` may be missing or None)."""
        if stamp <= self._newest:
            raise ValueError(f'buffer stamps must increase: {stamp} after {self._newest}')
        i = self._next
        self._stamps[i] = stamp
        self._newest = stamp
        for key, values in self._data.items():
            if key != 'tokens':
                values[i] = entry[key]
        tokens = entry.get('tokens')
        self._has_tokens[i] = tokens is not None
        if tokens is not None:
            if 'tokens' not in self._data:
                shape, dt = FIELDS['tokens']
                self._data['tokens'] = np.zeros((self.capacity,) + shape, dt)
            self._data['tokens'][i] = tokens
        self._next = (i + 1) % self.capacity
        self._stamps[self._stamps < stamp - self.horizon_s] = np.nan

    def window(self, t_lo: float, t_hi: float, fields: tuple[str, ...] = tuple(FIELDS)
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Entries with t_lo <= stamp <= t_hi in stamp order: (stamps (K,), {field: (K, ...)}).

        Only ``fields`` are returned; ``tokens`` only when every entry of the window has them.
        """
        sel = np.flatnonzero((self._stamps >= t_lo) & (self._stamps <= t_hi))  # NaN: never
        sel = sel[np.argsort(self._stamps[sel])]
        out = {k: self._data[k][sel] for k in fields if k in self._data
               and (k != 'tokens' or bool(np.all(self._has_tokens[sel])))}
        return self._stamps[sel], out
