"""Rows of preallocated arrays handed out to keys (identities), reused after release.

The per-identity states of the temporal stage (ring buffers, filter states) live in rows of
shared arrays so a frame updates all people with one array operation; this table maps keys to
rows and asks the owner to grow its arrays (doubling) when every row is taken.
"""

from __future__ import annotations

from typing import Callable, Hashable


class Slots:
    """Key -> row table. ``grow(old, new)`` must resize the owner's arrays from old to new rows."""

    def __init__(self, grow: Callable[[int, int], None], initial: int = 16):
        self._grow = grow
        self._initial = initial
        self._rows: dict[Hashable, int] = {}
        self._free: list[int] = []
        self.capacity = 0

    def __contains__(self, key: Hashable) -> bool:
        return key in self._rows

    def get(self, key: Hashable, default: int = -1) -> int:
        return self._rows.get(key, default)

    def acquire(self, key: Hashable) -> tuple[int, bool]:
        """The row of ``key`` and whether it was just assigned (the owner then resets it)."""
        row = self._rows.get(key)
        if row is not None:
            return row, False
        if not self._free:
            new = max(2 * self.capacity, self._initial)
            self._grow(self.capacity, new)
            self._free.extend(range(new - 1, self.capacity - 1, -1))
            self.capacity = new
        row = self._free.pop()
        self._rows[key] = row
        return row, True

    def release(self, key: Hashable) -> None:
        """Free the row of ``key`` (no-op for an unknown key)."""
        row = self._rows.pop(key, None)
        if row is not None:
            self._free.append(row)
