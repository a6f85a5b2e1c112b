"""Ring buffers of recent detections, one per identity, addressed by frame stamps (seconds).

Every identity owns one row of shared pre-allocated arrays (a ring of ``capacity`` entries), so a
frame's people are appended, and their fusion windows read, with one array operation per field
rather than one per person. Memory is bounded twice: at most ``capacity`` entries per identity
(the oldest is overwritten) and nothing older than ``horizon_s`` before its newest stamp. Windows
are defined in seconds, so dropped frames simply leave fewer entries in a window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aios_ros.core.smplx import NUM_POSE_JOINTS
from aios_ros.core.tokens import TOKEN_DIM, TOKENS_PER_PERSON
from aios_ros.temporal.slots import Slots

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


@dataclass
class Windows:
    """Fusion windows of N identities, padded to a common length K, entries in stamp order.

    stamps: (N, K) seconds (0 where not valid); valid: (N, K) 1.0 for real entries, 0.0 for
    padding; data: {field: (N, K, ...)} (padding holds arbitrary finite values); target: (N,) row
    of each window's target entry.
    """

    stamps: np.ndarray
    valid: np.ndarray
    data: dict[str, np.ndarray]
    target: np.ndarray


class IdentityBuffers:
    """Ring buffers of every identity: stamp (s) plus the arrays in :data:`FIELDS` per entry."""

    def __init__(self, capacity: int, horizon_s: float):
        if capacity < 1 or horizon_s <= 0:
            raise ValueError('capacity must be >= 1 and horizon_s > 0')
        self.capacity = capacity
        self.horizon_s = horizon_s
        self._rows = Slots(self._grow)  # track id -> row
        self._stamps = np.zeros((0, capacity))  # NaN: empty entry
        self._has_tokens = np.zeros((0, capacity), bool)
        self._next = np.zeros(0, np.int64)  # ring position of each row's next entry
        self._newest = np.zeros(0)
        self._data: dict[str, np.ndarray] = {
            k: np.zeros((0, capacity) + shape, dt)
            for k, (shape, dt) in FIELDS.items()
            if k != 'tokens'
        }  # tokens (20 kB per entry) on first use

    def __contains__(self, track_id: int) -> bool:
        return int(track_id) in self._rows

    def push(
        self, track_ids: np.ndarray, stamp: float, entries: dict[str, np.ndarray | None]
    ) -> None:
        """Append one entry per identity taken at ``stamp``: ``entries`` {field: (N, ...)} for the
        N ``track_ids`` (keys of :data:`FIELDS`; ``tokens`` may be None)."""
        rows = np.array([self._row_of(int(t)) for t in track_ids], np.int64).reshape(-1)
        if np.any(stamp <= self._newest[rows]):
            raise ValueError(
                f'buffer stamps must increase: {stamp} is not newer than an '
                f"identity's previous entry"
            )
        pos = self._next[rows]
        self._stamps[rows, pos] = stamp
        for key, values in self._data.items():
            if key != 'tokens':
                values[rows, pos] = entries[key]
        tokens = entries.get('tokens')
        self._has_tokens[rows, pos] = tokens is not None
        if tokens is not None:
            if 'tokens' not in self._data:
                shape, dt = FIELDS['tokens']
                self._data['tokens'] = np.zeros(self._stamps.shape + shape, dt)
            self._data['tokens'][rows, pos] = tokens
        self._next[rows] = (pos + 1) % self.capacity
        self._newest[rows] = stamp

    def windows(
        self,
        track_ids: np.ndarray,
        t_lo: float,
        t_hi: float,
        fields: tuple[str, ...] = tuple(FIELDS),
    ) -> Windows:
        """Entries with t_lo <= stamp <= t_hi (and within the horizon) of each identity, in stamp
        order, padded to the longest window; ``target`` is left 0 for the caller to set.

        Only ``fields`` are returned; ``tokens`` only when every returned entry has them. An
        unknown identity gets an empty window (all padding).
        """
        rows = np.array([self._rows.get(int(t)) for t in track_ids], np.int64).reshape(-1)
        known = rows >= 0
        stamps = np.where(known[:, None], self._stamps[np.maximum(rows, 0)], np.nan)
        lo = np.maximum(t_lo, self._newest[np.maximum(rows, 0)] - self.horizon_s)[:, None]
        ok = (stamps >= lo) & (stamps <= t_hi)  # NaN: never
        order = np.argsort(np.where(ok, stamps, np.inf), axis=1, kind='stable')
        k = max(int(ok.sum(axis=1).max(initial=0)), 1)
        idx = order[:, :k]
        valid = np.take_along_axis(ok, idx, axis=1)
        gather = (np.maximum(rows, 0)[:, None], idx)
        with_tokens = 'tokens' in self._data and bool(np.all(self._has_tokens[gather][valid]))
        data = {
            f: self._data[f][gather]
            for f in fields
            if f in self._data and (f != 'tokens' or with_tokens)
        }
        return Windows(
            np.where(valid, np.take_along_axis(stamps, idx, axis=1), 0.0),
            valid.astype(np.float64),
            data,
            np.zeros(len(rows), np.int64),
        )

    def forget(self, track_id: int) -> None:
        """Clear one identity's entries (deleted, or restarted); its row is reused."""
        self._rows.release(int(track_id))

    def _row_of(self, track_id: int) -> int:
        row, new = self._rows.acquire(track_id)
        if new:
            self._stamps[row] = np.nan
            self._next[row], self._newest[row] = 0, -np.inf
        return row

    def _grow(self, old: int, new: int) -> None:
        def grown(a: np.ndarray, fill: float) -> np.ndarray:
            return np.concatenate([a, np.full((new - old,) + a.shape[1:], fill, a.dtype)])

        self._stamps = grown(self._stamps, np.nan)
        self._has_tokens = grown(self._has_tokens, False)
        self._next = grown(self._next, 0)
        self._newest = grown(self._newest, -np.inf)
        self._data = {k: grown(v, 0) for k, v in self._data.items()}
