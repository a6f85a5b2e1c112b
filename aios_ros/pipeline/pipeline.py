"""Per-frame pipeline: estimator -> tracker -> ring buffers -> fusion -> output filters.

Two output streams per input frame (TEMPORAL_DESIGN.md section 5):

* ``raw``: this frame's people (lag 0) with causal filters only (One-Euro on SO(3), the tracker's
  translation Kalman, per-track betas mean);
* ``fused``: the people of the frame ``lag_frames`` back, fused over a window reaching up to the
  newest frame, then lightly filtered. ``None`` while the first ``lag_frames`` frames are queued;
  :meth:`Pipeline.flush` emits the queued rest at the end of a stream so every input frame yields
  exactly one fused frame.

After fusion changes parameters, joints, 2D keypoints and vertices are recomputed with the
estimator's body model and the camera matrix. No ROS imports here; time is the frame stamp.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from aios_ros.geometry.pinhole import project
from aios_ros.geometry.so3 import exp_map, log_map
from aios_ros.pipeline.types import Bodies, Camera, Estimator, PipelineOutput, StreamFrame, TrackState
from aios_ros.temporal.buffer import FIELDS, IdentityBuffers, Windows
from aios_ros.temporal.config import TemporalConfig
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
        ``fusion.mode: tokens`` or ``tcfm``, ``regress``.
    config : tracker, fusion and filter settings.
    with_vertices : also compute mesh vertices (N, V, 3) for the outputs.
    """

    def __init__(self, estimator: Estimator, config: TemporalConfig, with_vertices: bool = True):
        self.estimator = estimator
        self.config = config
        self.with_vertices = with_vertices
        self.lag_frames = config.fusion.lag_frames
        regress = estimator.regress if config.fusion.mode in ('tokens', 'tcfm') else None
        self._fuser = Fuser(config.fusion, regress)
        #: suspected identity switches whose fusion window and filters were restarted, since
        #: construction (a statistic, kept across :meth:`reset`)
        self.switch_cuts = 0
        self.reset()

    def reset(self) -> None:
        """Forget all identities, buffers, filter states and queued frames."""
        self._tracker = Tracker(self.config.tracker)
        self._buffers = IdentityBuffers(self.config.fusion.buffer_capacity,
                                        self.config.fusion.buffer_horizon_s)
        self._smoother = PoseSmoother({'raw': self.config.filters.raw,
                                       'fused': self.config.filters.fused})
        self._queue: deque[_Pending] = deque()
        self._last_stamp: float | None = None
        self._frames = 0  # frames processed since the reset
        #: latest appearance of each identity: (frame number, stamp, that frame's people, row)
        self._last_seen: dict[int, tuple[int, float, Bodies, int]] = {}

    def process(self, image_bgr: np.ndarray, camera: Camera, stamp_s: float,
                key: object = None) -> PipelineOutput:
        """Run the estimator on one BGR uint8 image (H, W, 3) taken at ``stamp_s`` seconds."""
        return self.process_bodies(self.estimator.estimate(image_bgr, camera), camera, stamp_s, key)

    def process_bodies(self, bodies: Bodies, camera: Camera, stamp_s: float,
                       key: object = None) -> PipelineOutput:
        """Same as :meth:`process` for people already estimated in this frame."""
        stamp_s = float(stamp_s)
        if self._last_stamp is not None and stamp_s <= self._last_stamp:
            raise ValueError(f'frame stamp {stamp_s} s is not newer than the previous frame\'s '
                             f'({self._last_stamp} s); stamps must increase (reset() to restart)')
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
        self._fill_dropouts(people, stamp_s)
        current = _Pending(key, stamp_s, camera, people)
        self._queue.append(current)
        target = self._queue.popleft() if len(self._queue) > self.lag_frames else None
        raw, fused = self._finish([('raw', current, people.pose), self._fuse(target)])
        fused_frame = None if target is None else StreamFrame(target.key, fused)
        return PipelineOutput(StreamFrame(key, raw), fused_frame, self.lag_frames)

    def flush(self) -> list[StreamFrame]:
        """Fused frames still queued (end of stream), oldest first; the queue is left empty."""
        out = []
        while self._queue:
            target = self._queue.popleft()
            out.append(StreamFrame(target.key, self._finish([self._fuse(target)])[0]))
        return out

    def _forget(self, track_id: int) -> None:
        self._buffers.forget(track_id)
        self._smoother.forget(track_id)
        self._last_seen.pop(track_id, None)

    def _fill_dropouts(self, people: Bodies, stamp: float) -> None:
        """Interpolate each confirmed identity that is seen again after missing at most
        ``fusion.fill_gap_frames`` frames into those frames, while they still wait in the fused
        stream's queue (TEMPORAL_DESIGN.md section 5): SLERP of the pose, linear in the rest
        between its two neighbouring appearances, state COASTING. Nothing enters the buffers."""
        max_gap = min(self.config.fusion.fill_gap_frames, len(self._queue))
        self._frames += 1
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
            for p in list(self._queue)[-gap:]:
                alpha = (p.stamp - last_stamp) / (stamp - last_stamp)
                p.bodies = Bodies.concatenate(
                    [p.bodies, _interpolate(last_people, row, people, i, alpha)])

    def _fuse(self, p: _Pending | None) -> tuple[str, _Pending, np.ndarray] | None:
        """Fused parameters of a queued frame: ('fused', frame with fused expression, pose)."""
        if p is None:
            return None
        people = p.bodies
        if not len(people) or self.config.fusion.mode == 'off':
            return 'fused', p, people.pose
        windows = self._buffers.windows(people.track_ids, p.stamp - self.config.fusion.history_s,
                                        np.inf, FUSED_FIELDS)
        hit = (windows.stamps == p.stamp) & (windows.valid > 0)
        windows.target = hit.argmax(axis=1)
        for i in np.flatnonzero(~hit.any(axis=1)):
            _window_of_one(windows, i, people, p.stamp)
        res = self._fuser.fuse(windows, np.full(len(people), p.stamp))
        fused = replace(people, expression=res.expression.astype(np.float32))
        return 'fused', replace(p, bodies=fused), res.pose

    def _finish(self, parts: list[tuple[str, _Pending, np.ndarray] | None]) -> list[Bodies | None]:
        """Filter the poses of every (stream, frame, pose) part, then recompute joints, keypoints
        and vertices for the final parameters; one filter step and one body-model call for all."""
        parts_ = [p for p in parts if p is not None and len(p[1].bodies)]
        if parts_:
            pose = np.concatenate([p[2] for p in parts_]).astype(np.float64)
            if self.config.filters.enabled:
                keys = [(name, int(t)) for name, f, _ in parts_ for t in f.bodies.track_ids]
                stamps = np.concatenate([np.full(len(f.bodies), f.stamp) for _, f, _ in parts_])
                pose = self._smoother.apply(keys, pose, stamps)
            pose = pose.astype(np.float32)
            cat = {k: np.concatenate([getattr(f.bodies, k) for _, f, _ in parts_])
                   for k in ('betas', 'expression', 'transl')}
            joints, verts = self.estimator.body_model.joints_and_vertices(
                pose, cat['betas'], cat['expression'], cat['transl'], self.with_vertices)
        out, start = [], 0
        for part in parts:
            if part is None or not len(part[1].bodies):
                out.append(None if part is None else part[1].bodies)
                continue
            f, sl = part[1], slice(start, start + len(part[1].bodies))
            start = sl.stop
            out.append(replace(f.bodies, pose=pose[sl], joints_3d=joints[sl].astype(np.float32),
                               keypoints_2d=project(joints[sl], f.camera.K).astype(np.float32),
                               vertices=None if verts is None else verts[sl].astype(np.float32)))
        return out


def _entries(bodies: Bodies, rows: np.ndarray) -> dict[str, np.ndarray | None]:
    """People ``rows`` (N,) as ring-buffer entries {field: (N, ...)}."""
    entries = {k: getattr(bodies, k)[rows] for k in FIELDS if k not in ('score', 'tokens')}
    return entries | {'score': bodies.scores[rows],
                      'tokens': None if bodies.tokens is None else bodies.tokens[rows]}


def _window_of_one(windows: Windows, i: int, people: Bodies, stamp: float) -> None:
    """Make row ``i`` of ``windows`` a window holding only person ``i`` taken at ``stamp``: the
    identity was reset after that frame, so there is nothing to fuse it with."""
    windows.valid[i] = 0.0
    windows.valid[i, 0], windows.stamps[i, 0], windows.target[i] = 1.0, stamp, 0
    entry = _entries(people, np.array([i]))
    for key, values in list(windows.data.items()):
        if entry[key] is None:  # tokens: no longer available for every window
            del windows.data[key]
        else:
            values[i, 0] = entry[key][0]


def _interpolate(a: Bodies, i: int, b: Bodies, j: int, alpha: float) -> Bodies:
    """Person ``a[i]`` moved ``alpha`` (0..1) of the way to ``b[j]`` (same identity), one row:
    pose by SLERP per joint, the other continuous quantities linearly, betas and identity from
    ``b``, tokens from the nearer of the two, score the lower one, state COASTING."""
    def lerp(x: np.ndarray | None, y: np.ndarray | None) -> np.ndarray | None:
        return None if x is None or y is None else ((1 - alpha) * x[i:i + 1] + alpha * y[j:j + 1])

    pose_a = a.pose[i].astype(np.float64)
    pose = pose_a @ exp_map(alpha * log_map(np.swapaxes(pose_a, -1, -2) @ b.pose[j]))
    tokens = None if a.tokens is None or b.tokens is None else \
        (a.tokens[i:i + 1] if alpha < 0.5 else b.tokens[j:j + 1])
    return Bodies(scores=np.minimum(a.scores[i:i + 1], b.scores[j:j + 1]),
                  boxes=lerp(a.boxes, b.boxes), pose=pose[None].astype(np.float32),
                  betas=b.betas[j:j + 1], expression=lerp(a.expression, b.expression),
                  transl=lerp(a.transl, b.transl), keypoints_2d=lerp(a.keypoints_2d, b.keypoints_2d),
                  joints_3d=lerp(a.joints_3d, b.joints_3d), vertices=lerp(a.vertices, b.vertices),
                  tokens=tokens, track_ids=b.track_ids[j:j + 1],
                  track_states=np.array([TrackState.COASTING], np.uint8))
