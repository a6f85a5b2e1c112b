"""Short dropouts of an identity filled in the fused stream (docs/temporal.md §5.4).

A confirmed identity that is seen again after missing at most ``fusion.fill_gap_frames`` frames
is interpolated into those frames while they still wait in the fused stream's queue: SLERP of
the pose, linear in the rest between its two neighbouring appearances, state COASTING. Nothing
enters the ring buffers, and the raw stream never invents anyone.
"""

from __future__ import annotations

from typing import Protocol, Sequence, overload

import numpy as np

from aios_ros.core.types import Bodies, TrackState
from aios_ros.geometry.so3 import exp_map, log_map


class Queued(Protocol):
    """A frame waiting in the fused stream's queue: its stamp (s) and its published people."""

    stamp: float
    bodies: Bodies


class DropoutFiller:
    """Remembers the latest appearance of every identity and fills its short gaps."""

    def __init__(self, max_gap_frames: int) -> None:
        self.max_gap_frames = max_gap_frames
        self._frames = 0  # frames seen
        #: latest appearance of each identity: (frame number, stamp, that frame's people, row)
        self._last_seen: dict[int, tuple[int, float, Bodies, int]] = {}

    def forget(self, track_id: int) -> None:
        """The identity was deleted or restarted: its old appearance must not be interpolated."""
        self._last_seen.pop(track_id, None)

    def fill(self, people: Bodies, stamp: float, queue: Sequence[Queued]) -> None:
        """Record this frame's ``people`` (taken at ``stamp``) and add each identity that comes
        back after a short gap to the queued frames it missed (``queue``: oldest first, this
        frame not included)."""
        max_gap = min(self.max_gap_frames, len(queue))
        self._frames += 1
        assert people.track_ids is not None and people.track_states is not None  # tracked people
        states = people.track_states.tolist()
        for i, tid in enumerate(people.track_ids.tolist()):
            last = self._last_seen.get(tid)
            self._last_seen[tid] = (self._frames, stamp, people, i)
            if last is None or states[i] != TrackState.CONFIRMED:
                continue
            frame, last_stamp, last_people, row = last
            gap = self._frames - frame - 1
            if not 1 <= gap <= max_gap:
                continue
            for p in list(queue)[-gap:]:
                alpha = (p.stamp - last_stamp) / (stamp - last_stamp)
                p.bodies = Bodies.concatenate(
                    [p.bodies, _interpolate(last_people, row, people, i, alpha)]
                )


def _interpolate(a: Bodies, i: int, b: Bodies, j: int, alpha: float) -> Bodies:
    """Person ``a[i]`` moved ``alpha`` (0..1) of the way to ``b[j]`` (same identity), one row:
    pose by SLERP per joint, the other continuous quantities linearly, betas and identity from
    ``b``, tokens from the nearer of the two, score the lower one, state COASTING."""

    @overload
    def lerp(x: np.ndarray, y: np.ndarray) -> np.ndarray: ...
    @overload
    def lerp(x: np.ndarray | None, y: np.ndarray | None) -> np.ndarray | None: ...
    def lerp(x: np.ndarray | None, y: np.ndarray | None) -> np.ndarray | None:
        return (
            None if x is None or y is None else ((1 - alpha) * x[i : i + 1] + alpha * y[j : j + 1])
        )

    assert b.track_ids is not None  # tracked people
    pose_a = a.pose[i].astype(np.float64)
    pose = pose_a @ exp_map(alpha * log_map(np.swapaxes(pose_a, -1, -2) @ b.pose[j]))
    tokens = (
        None
        if a.tokens is None or b.tokens is None
        else (a.tokens[i : i + 1] if alpha < 0.5 else b.tokens[j : j + 1])
    )
    return Bodies(
        scores=np.minimum(a.scores[i : i + 1], b.scores[j : j + 1]),
        boxes=lerp(a.boxes, b.boxes),
        pose=pose[None].astype(np.float32),
        betas=b.betas[j : j + 1],
        expression=lerp(a.expression, b.expression),
        transl=lerp(a.transl, b.transl),
        keypoints_2d=lerp(a.keypoints_2d, b.keypoints_2d),
        joints_3d=lerp(a.joints_3d, b.joints_3d),
        vertices=lerp(a.vertices, b.vertices),
        tokens=tokens,
        track_ids=b.track_ids[j : j + 1],
        track_states=np.array([TrackState.COASTING], np.uint8),
    )
