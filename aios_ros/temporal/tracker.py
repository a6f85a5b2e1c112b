"""Identity tracker: ByteTrack-style cascade on AiOS people with 3D, shape and token cues.

Per frame (stamps in seconds, no other clock):

1. predict every live track to the frame stamp (constant-velocity Kalman, ``motion.py``);
2. one cost for every stage: IoU of predicted and detected body boxes, Mahalanobis 3D distance
   (pairs beyond gate_sigma are excluded), betas distance to the track's running mean (pairs
   farther apart than shape_scale are excluded), and
   token appearance when tokens exist; the IoU cost of a track unseen for longer than coast_s
   is capped at 0.5 (its predicted box has drifted). Stages differ in who meets whom:
   stage 1: high-score people vs confirmed tracks (threshold match_cost);
   stage 2: low-score candidates vs the confirmed tracks left (low_cost);
   stage 3: tentative tracks vs the high-score people left (tentative_cost);
3. re-identification: people still unmatched vs unmatched (coasting) tracks and the gallery of
   recently deleted ones, by the identity cues only (betas, tokens) within a 3D radius growing
   with the time since the track was last seen;
4. births: high-score people left with score >= new_track_score start TENTATIVE tracks.
   TENTATIVE -> CONFIRMED after n_init matches; unmatched TENTATIVE tracks die at once;
   confirmed tracks coast and are deleted max_age_s after their last match.

A track matched after a gap longer than coast_s, or at a cost above switch_cut_ratio times its
stage's threshold (a suspected identity switch, docs/temporal.md §6), is reported as
restarted: the pipeline then clears its fusion window and output filters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from aios_ros.core.types import Bodies, TrackState
from aios_ros.geometry.boxes import iou_matrix
from aios_ros.temporal import association as assoc
from aios_ros.temporal.config import TrackerConfig
from aios_ros.temporal.motion import MotionFilter, cxcywh_to_box, measurement, measurement_cov


@dataclass
class Track:
    """One identity. ``betas_mean`` is a confidence-weighted exponentially forgetting mean
    (``betas_sum / betas_weight``, kept up to date by the tracker)."""

    track_id: int
    motion: MotionFilter
    last_seen: float
    hits: int = 1
    confirmed: bool = False
    betas_sum: np.ndarray = field(default_factory=lambda: np.zeros(10))
    betas_weight: float = 0.0
    betas_mean: np.ndarray = field(default_factory=lambda: np.zeros(10))
    appearance: np.ndarray | None = None


@dataclass
class TrackerResult:
    """Per-detection outcome of one :meth:`Tracker.update` (arrays of length N detections).

    track_ids: (N,) int64, -1 for people left unassigned (dropped low-score candidates).
    states:    (N,) uint8 TrackState of the assigned identity (UNTRACKED if none).
    restarted: ids whose temporal state must be reset: matched after a gap > coast_s, or at a
               cost above switch_cut_ratio times their stage's threshold (a suspected identity
               switch: fusing across it would blend two people into one mesh).
    deleted:   ids deleted in this frame (their buffers must be cleared).
    suspected: how many of ``restarted`` are suspected switches (diagnostics).
    """

    track_ids: np.ndarray
    states: np.ndarray
    restarted: list[int]
    deleted: list[int]
    suspected: int = 0


@dataclass
class _Frame:
    """One frame's people and the cues derived from them once per frame.

    z: (N, 7) Kalman measurements and r: (N, 7, 7) their noise covariances
    (``motion.measurement``, ``motion.measurement_cov``); emb: (N, 256) L2-normalised body-box
    tokens or None; stamp: s.
    """

    bodies: Bodies
    z: np.ndarray
    r: np.ndarray
    emb: np.ndarray | None
    stamp: float


class Tracker:
    """Online multi-person tracker; see the module docstring for the cascade."""

    def __init__(self, cfg: TrackerConfig):
        self.cfg = cfg
        self.tracks: dict[int, Track] = {}
        self._gallery: dict[int, Track] = {}
        self._next_id = 1
        self._stamp: float | None = None

    def update(self, bodies: Bodies, stamp: float) -> TrackerResult:
        """Associate the people of one frame taken at ``stamp`` seconds (must not decrease)."""
        if self._stamp is not None and stamp < self._stamp:
            raise ValueError(f'frame stamp {stamp} is older than the previous one {self._stamp}')
        dt = stamp - (self._stamp if self._stamp is not None else stamp)
        for track in self.tracks.values():
            track.motion.predict(dt)
        self._stamp = stamp
        self._gallery = {
            k: t for k, t in self._gallery.items() if stamp - t.last_seen <= self.cfg.gallery_s
        }
        z = measurement(bodies.transl, bodies.boxes[:, 0])
        r = measurement_cov(z, self.cfg.sigma_xy_m, self.cfg.sigma_z_rel)
        frame = _Frame(bodies, z, r, _embeddings(bodies), stamp)
        matches, births = self._associate(frame)
        pairs = [(t, d) for t, d, _ in matches]
        ids = np.full(len(bodies), -1, np.int64)
        gap = [t.track_id for t, _ in pairs if stamp - t.last_seen > self.cfg.coast_s]
        suspect = [
            t.track_id
            for t, _, ratio in matches
            if ratio > self.cfg.switch_cut_ratio and t.track_id not in gap
        ]
        for track, d in pairs:
            if track.track_id in self._gallery:
                self._revive(track, frame, d)
            else:
                self._apply_match(track, frame, d)
            ids[d] = track.track_id
        deleted = self._expire({t.track_id for t, _ in pairs}, stamp)
        for d in births:
            ids[d] = self._birth(frame, d).track_id
        return TrackerResult(ids, self._states(ids), gap + suspect, deleted, len(suspect))

    def _associate(self, frame: _Frame) -> tuple[list[tuple[Track, int, float]], list[int]]:
        """The cascade of the module docstring: (track, detection, cost / stage threshold)
        matches and detections to birth.

        Track states do not change during association, so the cost of every live track against
        every candidate is computed once and each stage matches its own sub-matrix.
        """
        c, scores = self.cfg, frame.bodies.scores
        high = np.flatnonzero(scores >= c.high_score)
        low = np.flatnonzero((scores >= c.low_score) & (scores < c.high_score))
        tracks = list(self.tracks.values())
        cands = np.flatnonzero(scores >= c.low_score)
        cost = self.cost(tracks, frame, cands) if tracks and len(cands) else None
        rows = {t.track_id: r for r, t in enumerate(tracks)}
        confirmed = [t for t in tracks if t.confirmed]
        tentative = [t for t in tracks if not t.confirmed]

        def stage(
            group: list[Track], dets: np.ndarray, thr: float
        ) -> list[tuple[Track, int, float]]:
            if cost is None or not group or len(dets) == 0:
                return []
            track_rows = np.array([rows[t.track_id] for t in group], np.int64)
            sub = cost[np.ix_(track_rows, np.searchsorted(cands, dets))]
            return [(group[r], int(dets[k]), sub[r, k] / thr) for r, k in assoc.match(sub, thr)]

        def free_tracks(group: list[Track]) -> list[Track]:
            used = {t.track_id for t, _, _ in pairs}
            return [t for t in group if t.track_id not in used]

        def free_dets(dets: np.ndarray) -> np.ndarray:
            used = {d for _, d, _ in pairs}
            return np.array([d for d in dets if d not in used], np.int64)

        pairs = stage(confirmed, high, c.match_cost)
        pairs += stage(free_tracks(confirmed), low, c.low_cost)
        pairs += stage(tentative, free_dets(high), c.tentative_cost)
        lost = free_tracks(confirmed) + list(self._gallery.values())
        if lost:
            pairs += self._reidentify(lost, frame, list(free_dets(np.r_[high, low])))
        births = [int(d) for d in free_dets(high) if scores[d] >= c.new_track_score]
        return pairs, births

    def cost(self, tracks: list[Track], frame: _Frame, dets: np.ndarray) -> np.ndarray:
        """Association cost (tracks, dets) in [0, 1], INFEASIBLE where the 3D gate rejects."""
        c = self.cfg
        mean = np.stack([t.motion.mean for t in tracks])
        # innovation covariance of a translation measurement around the prediction: P + R
        cov = np.stack([t.motion.transl_cov for t in tracks])
        cov += measurement_cov(mean, c.sigma_xy_m, c.sigma_z_rel)[:, :3, :3]
        maha = assoc.mahalanobis(mean[:, :3], cov, frame.z[dets, :3])
        iou = iou_matrix(cxcywh_to_box(mean[:, 3:]), frame.bodies.boxes[dets, 0])
        # The predicted box of a track unseen for longer than coast_s drifts: a poor overlap then
        # counts as "unknown" (0.5) rather than as evidence against the pair.
        stale = np.array([frame.stamp - t.last_seen > c.coast_s for t in tracks])[:, None]
        iou_cost = np.where(stale, np.minimum(1.0 - iou, 0.5), 1.0 - iou)
        shape = self._shape_cost(tracks, frame.bodies.betas[dets])
        app = _appearance_cost(tracks, frame.emb, dets)
        total = assoc.combine(
            [
                (c.w_iou, iou_cost),
                (c.w_3d, np.minimum(maha / c.gate_sigma, 1.0)),
                (c.w_shape, shape),
                (c.w_app, app),
            ]
        )
        return np.where((maha > c.gate_sigma) | (shape >= 1.0), assoc.INFEASIBLE, total)

    def _shape_cost(self, tracks: list[Track], betas: np.ndarray) -> np.ndarray:
        """min(1, |betas mean - betas| / shape_scale); 1 (saturated) also gates the pair out."""
        mean = np.stack([t.betas_mean for t in tracks])
        dist = np.linalg.norm(mean[:, None] - betas[None].astype(np.float64), axis=-1)
        cost: np.ndarray = np.minimum(dist / self.cfg.shape_scale, 1.0)
        return cost

    def _apply_match(self, track: Track, frame: _Frame, d: int, seeded: bool = False) -> None:
        """Fold detection ``d`` into ``track``; ``seeded``: its motion filter already holds it."""
        dt = frame.stamp - track.last_seen
        if not seeded:
            track.motion.update(frame.z[d], frame.r[d])
        decay = math.exp(-dt / self.cfg.betas_tau_s) if track.betas_weight > 0 else 0.0
        score = float(frame.bodies.scores[d])
        track.betas_sum = decay * track.betas_sum + score * frame.bodies.betas[d]
        track.betas_weight = decay * track.betas_weight + score
        track.betas_mean = track.betas_sum / max(track.betas_weight, 1e-12)
        if frame.emb is not None:
            m = self.cfg.appearance_momentum if track.appearance is not None else 0.0
            old = track.appearance if track.appearance is not None else 0.0
            new = m * old + (1 - m) * frame.emb[d]
            track.appearance = new / max(np.linalg.norm(new), 1e-12)
        track.last_seen = frame.stamp
        track.hits += 1
        track.confirmed = track.confirmed or track.hits >= self.cfg.n_init

    def _expire(self, matched: set[int], stamp: float) -> list[int]:
        deleted = []
        for tid, track in list(self.tracks.items()):
            if tid in matched:
                continue
            if not track.confirmed or stamp - track.last_seen > self.cfg.max_age_s:
                del self.tracks[tid]
                deleted.append(tid)
                if track.confirmed:
                    self._gallery[tid] = track
        return deleted

    def _reidentify(
        self, candidates: list[Track], frame: _Frame, births: list[int]
    ) -> list[tuple[Track, int, float]]:
        """Match would-be births to coasting or deleted tracks by the identity cues (betas, tokens)
        among tracks within a 3D radius growing with the time since they were last seen."""
        if not candidates or not births:
            return []
        dets = np.array(births, np.int64)
        pred = np.stack([t.motion.mean[:3] for t in candidates])
        radius = np.array(
            [self.cfg.d0_m + self.cfg.speed_mps * (frame.stamp - t.last_seen) for t in candidates]
        )
        dist = np.linalg.norm(pred[:, None] - frame.z[dets, :3][None], axis=-1)
        shape_cost = self._shape_cost(candidates, frame.bodies.betas[dets])
        terms = [
            (self.cfg.w_shape, shape_cost),
            (self.cfg.w_app, _appearance_cost(candidates, frame.emb, dets)),
        ]
        if all(w <= 0 or c is None for w, c in terms):
            return []  # no identity cue: the 3D radius alone would guess
        gated = (dist > radius[:, None]) | (shape_cost >= 1.0)
        cost = np.where(gated, assoc.INFEASIBLE, assoc.combine(terms))
        return [
            (candidates[r], int(dets[c]), cost[r, c] / self.cfg.reid_cost)
            for r, c in assoc.match(cost, self.cfg.reid_cost)
        ]

    def _revive(self, track: Track, frame: _Frame, d: int) -> None:
        del self._gallery[track.track_id]
        track.motion = self._new_motion(frame, d)
        self.tracks[track.track_id] = track
        self._apply_match(track, frame, d, seeded=True)

    def _birth(self, frame: _Frame, d: int) -> Track:
        track = Track(self._next_id, self._new_motion(frame, d), frame.stamp, hits=0)
        self._next_id += 1
        self.tracks[track.track_id] = track
        self._apply_match(track, frame, d, seeded=True)
        return track

    def _new_motion(self, frame: _Frame, d: int) -> MotionFilter:
        return MotionFilter(frame.z[d], frame.r[d], self.cfg.sigma_accel)

    def _states(self, ids: np.ndarray) -> np.ndarray:
        return np.array(
            [
                TrackState.UNTRACKED
                if tid < 0
                else TrackState.CONFIRMED
                if self.tracks[tid].confirmed
                else TrackState.TENTATIVE
                for tid in ids.tolist()
            ],
            np.uint8,
        ).reshape(len(ids))


def _embeddings(bodies: Bodies) -> np.ndarray | None:
    """(N, 256) L2-normalised body-box tokens (token 0), or None without tokens."""
    if bodies.tokens is None:
        return None
    e = bodies.tokens[:, 0, :].astype(np.float64)
    unit: np.ndarray = e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)
    return unit


def _appearance_cost(
    tracks: list[Track], emb: np.ndarray | None, dets: np.ndarray
) -> np.ndarray | None:
    if emb is None:
        return None
    cost = np.full((len(tracks), len(dets)), np.nan)
    for i, t in enumerate(tracks):
        if t.appearance is not None:
            cost[i] = (1.0 - emb[dets] @ t.appearance) / 2.0
    return cost
