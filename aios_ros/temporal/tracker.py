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
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aios_ros.pipeline.types import Bodies, TrackState
from aios_ros.temporal import association as assoc
from aios_ros.temporal.config import TrackerConfig
from aios_ros.temporal.motion import MotionFilter, cxcywh_to_box

@dataclass
class Track:
    """One identity. ``betas_mean`` is a confidence-weighted exponentially forgetting mean."""

    track_id: int
    motion: MotionFilter
    last_seen: float
    hits: int = 1
    confirmed: bool = False
    betas_sum: np.ndarray = field(default_factory=lambda: np.zeros(10))
    betas_weight: float = 0.0
    appearance: np.ndarray | None = None

    @property
    def betas_mean(self) -> np.ndarray:
        return self.betas_sum / max(self.betas_weight, 1e-12)


@dataclass
class TrackerResult:
    """Per-detection outcome of one :meth:`Tracker.update` (arrays of length N detections).

    track_ids: (N,) int64, -1 for people left unassigned (dropped low-score candidates).
    states:    (N,) uint8 TrackState of the assigned identity (UNTRACKED if none).
    restarted: ids whose temporal state must be reset (matched after a gap > coast_s).
    deleted:   ids deleted in this frame (their buffers must be cleared).
    """

    track_ids: np.ndarray
    states: np.ndarray
    restarted: list[int]
    deleted: list[int]


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
        for track in self.tracks.values():
            track.motion.predict(stamp - (self._stamp if self._stamp is not None else stamp))
        self._stamp = stamp
        self._gallery = {k: t for k, t in self._gallery.items() if stamp - t.last_seen <= self.cfg.gallery_s}
        emb = _embeddings(bodies)
        pairs, births = self._associate(bodies, emb, stamp)
        ids = np.full(len(bodies), -1, np.int64)
        restarted = [t.track_id for t, _ in pairs if stamp - t.last_seen > self.cfg.coast_s]
        for track, d in pairs:
            if track.track_id in self._gallery:
                self._revive(track, bodies, emb, d, stamp)
            else:
                self._apply_match(track, bodies, emb, d, stamp)
            ids[d] = track.track_id
        deleted = self._expire({t.track_id for t, _ in pairs}, stamp)
        for d in births:
            ids[d] = self._birth(bodies, emb, d, stamp).track_id
        return TrackerResult(ids, self._states(ids), restarted, deleted)

    def _associate(self, bodies: Bodies, emb: np.ndarray | None, stamp: float
                   ) -> tuple[list[tuple[Track, int]], list[int]]:
        """The cascade of the module docstring: (track, detection) pairs and detections to birth.

        Track states do not change during association, so the cost of every live track against
        every candidate is computed once and each stage matches its own sub-matrix.
        """
        c = self.cfg
        high = np.flatnonzero(bodies.scores >= c.high_score)
        low = np.flatnonzero((bodies.scores >= c.low_score) & (bodies.scores < c.high_score))
        tracks = list(self.tracks.values())
        cands = np.flatnonzero(bodies.scores >= c.low_score)
        cost = self.cost(tracks, bodies, emb, cands, stamp) if tracks and len(cands) else None
        rows = {t.track_id: r for r, t in enumerate(tracks)}
        confirmed = [t for t in tracks if t.confirmed]
        tentative = [t for t in tracks if not t.confirmed]

        def stage(group: list[Track], dets: np.ndarray, thr: float) -> list[tuple[Track, int]]:
            if cost is None or not group or len(dets) == 0:
                return []
            sub = cost[np.ix_([rows[t.track_id] for t in group], np.searchsorted(cands, dets))]
            return [(group[r], int(dets[k])) for r, k in assoc.match(sub, thr)]

        pairs = stage(confirmed, high, c.match_cost)
        left = [t for t in confirmed if t.track_id not in {p[0].track_id for p in pairs}]
        pairs += stage(left, low, c.low_cost)
        rest = np.array([d for d in high if d not in {p[1] for p in pairs}], np.int64)
        pairs += stage(tentative, rest, c.tentative_cost)
        coasting = [t for t in confirmed if t.track_id not in {p[0].track_id for p in pairs}]
        unmatched = [d for d in np.r_[high, low] if d not in {p[1] for p in pairs}]
        pairs += self._reidentify(coasting + list(self._gallery.values()), bodies, emb, unmatched, stamp)
        taken = {p[1] for p in pairs}
        births = [int(d) for d in high if d not in taken and bodies.scores[d] >= c.new_track_score]
        return pairs, births

    def cost(self, tracks: list[Track], bodies: Bodies, emb: np.ndarray | None, dets: np.ndarray,
             stamp: float) -> np.ndarray:
        """Association cost (tracks, dets) in [0, 1], INFEASIBLE where the 3D gate rejects."""
        c = self.cfg
        mean = np.stack([t.motion.mean for t in tracks])
        cov = np.stack([t.motion.transl_innovation_cov() for t in tracks])
        maha = assoc.mahalanobis(mean[:, :3], cov, bodies.transl[dets].astype(np.float64))
        iou = assoc.iou_matrix(cxcywh_to_box(mean[:, 3:]), bodies.boxes[dets, 0])
        # The predicted box of a track unseen for longer than coast_s drifts: a poor overlap then
        # counts as "unknown" (0.5) rather than as evidence against the pair.
        stale = np.array([stamp - t.last_seen > c.coast_s for t in tracks])[:, None]
        iou_cost = np.where(stale, np.minimum(1.0 - iou, 0.5), 1.0 - iou)
        shape = self._shape_cost(tracks, bodies.betas[dets])
        total = assoc.combine([(c.w_iou, iou_cost), (c.w_3d, np.minimum(maha / c.gate_sigma, 1.0)),
                               (c.w_shape, shape), (c.w_app, _appearance_cost(tracks, emb, dets))])
        return np.where((maha > c.gate_sigma) | (shape >= 1.0), assoc.INFEASIBLE, total)

    def _shape_cost(self, tracks: list[Track], betas: np.ndarray) -> np.ndarray:
        """min(1, |betas mean - betas| / shape_scale); 1 (saturated) also gates the pair out."""
        mean = np.stack([t.betas_mean for t in tracks])
        dist = np.linalg.norm(mean[:, None] - betas[None].astype(np.float64), axis=-1)
        return np.minimum(dist / self.cfg.shape_scale, 1.0)

    def _apply_match(self, track: Track, bodies: Bodies, emb: np.ndarray | None, d: int,
                     stamp: float, seeded: bool = False) -> None:
        """Fold detection ``d`` into ``track``; ``seeded``: its motion filter already holds it."""
        dt = stamp - track.last_seen
        if not seeded:
            track.motion.update(bodies.transl[d], bodies.boxes[d, 0])
        decay = float(np.exp(-dt / self.cfg.betas_tau_s)) if track.betas_weight > 0 else 0.0
        score = float(bodies.scores[d])
        track.betas_sum = decay * track.betas_sum + score * bodies.betas[d]
        track.betas_weight = decay * track.betas_weight + score
        if emb is not None:
            m = self.cfg.appearance_momentum if track.appearance is not None else 0.0
            new = m * (track.appearance if track.appearance is not None else 0.0) + (1 - m) * emb[d]
            track.appearance = new / max(np.linalg.norm(new), 1e-12)
        track.last_seen = stamp
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

    def _reidentify(self, candidates: list[Track], bodies: Bodies, emb: np.ndarray | None,
                    births: list[int], stamp: float) -> list[tuple[Track, int]]:
        """Match would-be births to coasting or deleted tracks by the identity cues (betas, tokens)
        among tracks within a 3D radius growing with the time since they were last seen."""
        if not candidates or not births:
            return []
        dets = np.array(births, np.int64)
        pred = np.stack([t.motion.transl for t in candidates])
        radius = np.array([self.cfg.d0_m + self.cfg.speed_mps * (stamp - t.last_seen)
                           for t in candidates])
        dist = np.linalg.norm(pred[:, None] - bodies.transl[dets][None].astype(np.float64), axis=-1)
        terms = [(self.cfg.w_shape, self._shape_cost(candidates, bodies.betas[dets])),
                 (self.cfg.w_app, _appearance_cost(candidates, emb, dets))]
        if all(w <= 0 or c is None for w, c in terms):
            return []  # no identity cue: the 3D radius alone would guess
        gated = (dist > radius[:, None]) | (terms[0][1] >= 1.0)
        cost = np.where(gated, assoc.INFEASIBLE, assoc.combine(terms))
        return [(candidates[r], int(dets[c])) for r, c in assoc.match(cost, self.cfg.reid_cost)]

    def _revive(self, track: Track, bodies: Bodies, emb: np.ndarray | None, d: int,
                stamp: float) -> None:
        del self._gallery[track.track_id]
        track.motion = self._new_motion(bodies, d)
        self.tracks[track.track_id] = track
        self._apply_match(track, bodies, emb, d, stamp, seeded=True)

    def _birth(self, bodies: Bodies, emb: np.ndarray | None, d: int, stamp: float) -> Track:
        track = Track(self._next_id, self._new_motion(bodies, d), stamp, hits=0)
        self._next_id += 1
        self.tracks[track.track_id] = track
        self._apply_match(track, bodies, emb, d, stamp, seeded=True)
        return track

    def _new_motion(self, bodies: Bodies, d: int) -> MotionFilter:
        c = self.cfg
        return MotionFilter(bodies.transl[d], bodies.boxes[d, 0], c.sigma_accel, c.sigma_xy_m,
                            c.sigma_z_rel)

    def _states(self, ids: np.ndarray) -> np.ndarray:
        out = np.full(len(ids), TrackState.UNTRACKED, np.uint8)
        for i, tid in enumerate(ids):
            if tid >= 0:
                out[i] = TrackState.CONFIRMED if self.tracks[int(tid)].confirmed else TrackState.TENTATIVE
        return out


def _embeddings(bodies: Bodies) -> np.ndarray | None:
    """(N, 256) L2-normalised body-box tokens (token 0), or None without tokens."""
    if bodies.tokens is None:
        return None
    e = bodies.tokens[:, 0, :].astype(np.float64)
    return e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)


def _appearance_cost(tracks: list[Track], emb: np.ndarray | None, dets: np.ndarray) -> np.ndarray | None:
    if emb is None:
        return None
    cost = np.full((len(tracks), len(dets)), np.nan)
    for i, t in enumerate(tracks):
        if t.appearance is not None:
            cost[i] = (1.0 - emb[dets] @ t.appearance) / 2.0
    return cost
