"""Per-frame pipeline: estimator -> tracker -> ring buffers -> fusion -> output filters.

Two output streams per input frame (docs/temporal.md §5):

* ``raw``: this frame's people (lag 0) with causal filters only (One-Euro on SO(3), the tracker's
  translation Kalman, per-track betas mean);
* ``fused``: the people of the frame ``lag_frames`` back, fused over a window reaching up to the
  newest frame (not filtered: a causal filter after the window mean only adds lag). ``None``
  while the first ``lag_frames`` frames are queued; :meth:`Pipeline.flush` emits the queued rest
  at the end of a stream so every input frame yields exactly one fused frame.

After fusion changes parameters, joints, 2D keypoints and vertices are recomputed with the
estimator's body model and the camera matrix. No ROS imports here; time is the frame stamp.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import cast

import numpy as np

from aios_ros.core.types import Bodies, Camera, Estimator, PipelineOutput, StreamFrame, TrackState
from aios_ros.geometry.pinhole import project
from aios_ros.temporal.buffer import FIELDS, IdentityBuffers, Windows
from aios_ros.temporal.config import TemporalConfig
from aios_ros.temporal.dropouts import DropoutFiller
from aios_ros.temporal.filters import PoseSmoother
from aios_ros.temporal.fusion import FUSED_FIELDS, Fuser
from aios_ros.temporal.tracker import Tracker


@dataclass
class _Pending:
    """A processed frame waiting for its fused output: its published people (raw parameters)."""

    key: object
    stamp: float
    camera: Camera
    bodies: Bodies


class Pipeline:
    """Streaming temporal stage around a per-frame :class:`Estimator`.

    Parameters
    ----------
    estimator : provides ``estimate`` (for :meth:`process`), ``body_model`` and, for
        ``fusion.mode: tokens``, ``regress``.
    config : tracker, fusion and filter settings.

    Every call that emits frames takes ``with_vertices``: also compute the mesh vertices
    (N, V, 3) of its outputs (costly; only needed to publish or draw meshes).
    """

    def __init__(self, estimator: Estimator, config: TemporalConfig):
        self.estimator = estimator
        self.config = config
        self.lag_frames = config.fusion.lag_frames
        regress = estimator.regress if config.fusion.mode == 'tokens' else None
        self._fuser = Fuser(config.fusion, regress)
        #: suspected identity switches whose fusion window and filters were restarted, since
        #: construction (a statistic, kept across :meth:`reset`)
        self.switch_cuts = 0
        self.reset()

    def reset(self) -> None:
        """Forget all identities, buffers, filter states and queued frames."""
        self._tracker = Tracker(self.config.tracker)
        self._buffers = IdentityBuffers(
            self.config.fusion.buffer_capacity, self.config.fusion.buffer_horizon_s
        )
        self._smoother = PoseSmoother({'raw': self.config.filters.raw})
        self._queue: deque[_Pending] = deque()
        self._last_stamp: float | None = None
        self._dropouts = DropoutFiller(self.config.fusion.fill_gap_frames)

    def process(
        self,
        image_bgr: np.ndarray,
        camera: Camera,
        stamp_s: float,
        key: object = None,
        with_vertices: bool = False,
    ) -> PipelineOutput:
        """Run the estimator on one BGR uint8 image (H, W, 3) taken at ``stamp_s`` seconds."""
        return self.process_bodies(
            self.estimator.estimate(image_bgr, camera), camera, stamp_s, key, with_vertices
        )

    def process_bodies(
        self,
        bodies: Bodies,
        camera: Camera,
        stamp_s: float,
        key: object = None,
        with_vertices: bool = False,
    ) -> PipelineOutput:
        """Same as :meth:`process` for people already estimated in this frame."""
        stamp_s = float(stamp_s)
        if self._last_stamp is not None and stamp_s <= self._last_stamp:
            raise ValueError(
                f"frame stamp {stamp_s} s is not newer than the previous frame's "
                f'({self._last_stamp} s); stamps must increase (reset() to restart)'
            )
        self._last_stamp = stamp_s
        result = self._tracker.update(bodies, stamp_s)
        for tid in result.deleted + result.restarted:
            self._forget(tid)
        self.switch_cuts += result.suspected
        matched = np.flatnonzero(result.track_ids >= 0)
        self._buffers.push(result.track_ids[matched], stamp_s, _entries(bodies, matched))
        publish = result.track_ids >= 0
        if not self.config.tracker.publish_tentative:
            publish &= result.states == TrackState.CONFIRMED
        people = bodies.select(publish)
        people.track_ids = result.track_ids[publish]
        people.track_states = result.states[publish]
        if len(people):  # published shape and translation: per-track betas mean, Kalman estimate
            tracks = [self._tracker.tracks[int(t)] for t in people.track_ids]
            people.betas = np.stack([t.betas_mean for t in tracks]).astype(np.float32)
            people.transl = np.stack([t.motion.transl for t in tracks]).astype(np.float32)
        self._dropouts.fill(people, stamp_s, self._queue)
        current = _Pending(key, stamp_s, camera, people)
        self._queue.append(current)
        target = self._queue.popleft() if len(self._queue) > self.lag_frames else None
        raw, fused = self._finish(
            [(current, self._filter_raw(current)), self._fuse(target)], with_vertices
        )
        # _finish gives None only for a None part: raw is never None, fused not when target isn't
        fused_frame = None if target is None else StreamFrame(target.key, cast(Bodies, fused))
        return PipelineOutput(StreamFrame(key, cast(Bodies, raw)), fused_frame, self.lag_frames)

    def flush(self, with_vertices: bool = False) -> list[StreamFrame]:
        """Fused frames still queued (end of stream), oldest first; the queue is left empty."""
        out = []
        while self._queue:
            target = self._queue.popleft()
            out.append(  # the part of a queued frame is never None
                StreamFrame(
                    target.key, cast(Bodies, self._finish([self._fuse(target)], with_vertices)[0])
                )
            )
        return out

    def _forget(self, track_id: int) -> None:
        self._buffers.forget(track_id)
        self._smoother.forget(track_id)
        self._dropouts.forget(track_id)

    def _filter_raw(self, p: _Pending) -> np.ndarray:
        """The raw stream's pose of a frame: each identity's pose One-Euro filtered."""
        people = p.bodies
        if not self.config.filters.enabled or not len(people):
            return people.pose
        keys = [('raw', int(t)) for t in cast(np.ndarray, people.track_ids)]  # tracked people
        stamps = np.full(len(people), p.stamp)
        return self._smoother.apply(keys, people.pose.astype(np.float64), stamps)

    def _fuse(self, p: _Pending | None) -> tuple[_Pending, np.ndarray] | None:
        """Fused parameters of a queued frame: (frame with fused expression, pose)."""
        if p is None:
            return None
        people = p.bodies
        if not len(people) or self.config.fusion.mode == 'off':
            return p, people.pose
        assert people.track_ids is not None  # queued people are tracked
        windows = self._buffers.windows(
            people.track_ids, p.stamp - self.config.fusion.history_s, np.inf, FUSED_FIELDS
        )
        hit = (windows.stamps == p.stamp) & (windows.valid > 0)
        windows.target = hit.argmax(axis=1)
        for i in np.flatnonzero(~hit.any(axis=1)):
            _window_of_one(windows, i, people, p.stamp)
        res = self._fuser.fuse(windows, np.full(len(people), p.stamp))
        fused = replace(people, expression=res.expression.astype(np.float32))
        return replace(p, bodies=fused), res.pose

    def _finish(
        self, parts: list[tuple[_Pending, np.ndarray] | None], with_vertices: bool
    ) -> list[Bodies | None]:
        """Joints, keypoints and vertices for the final parameters of every (frame, pose) part;
        one body-model call for all."""
        parts_ = [p for p in parts if p is not None and len(p[0].bodies)]
        if parts_:
            pose = np.concatenate([p for _, p in parts_]).astype(np.float32)
            cat = {
                k: np.concatenate([getattr(f.bodies, k) for f, _ in parts_])
                for k in ('betas', 'expression', 'transl')
            }
            joints, verts = self.estimator.body_model.joints_and_vertices(
                pose, cat['betas'], cat['expression'], cat['transl'], with_vertices
            )
        out, start = [], 0
        for part in parts:
            if part is None or not len(part[0].bodies):
                out.append(None if part is None else part[0].bodies)
                continue
            f, sl = part[0], slice(start, start + len(part[0].bodies))
            start = sl.stop
            out.append(
                replace(
                    f.bodies,
                    pose=pose[sl],
                    joints_3d=joints[sl].astype(np.float32),
                    keypoints_2d=project(joints[sl], f.camera.K).astype(np.float32),
                    vertices=None if verts is None else verts[sl].astype(np.float32),
                )
            )
        return out


def _entries(bodies: Bodies, rows: np.ndarray) -> dict[str, np.ndarray | None]:
    """People ``rows`` (N,) as ring-buffer entries {field: (N, ...)}."""
    entries = {k: getattr(bodies, k)[rows] for k in FIELDS if k not in ('score', 'tokens')}
    return entries | {
        'score': bodies.scores[rows],
        'tokens': None if bodies.tokens is None else bodies.tokens[rows],
    }


def _window_of_one(windows: Windows, i: int | np.integer, people: Bodies, stamp: float) -> None:
    """Make row ``i`` of ``windows`` a window holding only person ``i`` taken at ``stamp``: the
    identity was reset after that frame, so there is nothing to fuse it with."""
    windows.valid[i] = 0.0
    windows.valid[i, 0], windows.stamps[i, 0], windows.target[i] = 1.0, stamp, 0
    entry = _entries(people, np.array([i]))
    for key, values in list(windows.data.items()):
        new = entry[key]
        if new is None:  # tokens: no longer available for every window
            del windows.data[key]
        else:
            values[i, 0] = new[0]
