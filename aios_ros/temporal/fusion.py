"""STAF-style temporal fusion over per-identity windows (docs/temporal.md §4).

Weights (SRWA) for entry j of a window around the target stamp t*:

    w_j ∝ score_j * exp(-(t_j - t*)^2 / (2 sigma^2)) * exp((s_j - 1) / tau) * [s_j >= s_min]

then the residual blend w <- (1 - blend) * onehot(target) + blend * w. With tau = sigma = inf,
s_min = -1, blend = 1 and equal scores this is APM's uniform window mean.

* ``params`` mode: s_j = cos(mean geodesic angle to the target) over the block's joints; rotations
  are averaged per joint with the weighted chordal mean, expression linearly.
* ``tokens`` mode: s_j = cosine of the flattened token block (body 21 tokens, hands 15, face 8),
  each block's weighted token mean is re-regressed with ``Estimator.regress``; a guard falls back
  to ``params`` for a person whose fused major joints move more than guard_angle_rad from raw.
* Global orientation always comes from a short, similarity-free time window (no turning lag);
  translation and betas are not fused here (tracker Kalman and per-track betas mean).

The windows of all people come padded to a common length and are fused in one batched call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from aios_ros.core.smplx import POSE_SLICES
from aios_ros.core.tokens import WHOLE_BODY_LAYOUT as _L
from aios_ros.geometry.so3 import angle_from_trace, chordal_mean, geodesic_angle
from aios_ros.temporal.buffer import Windows
from aios_ros.temporal.config import FusionConfig

# Token slots fused as one block per part (docs/temporal.md §1): the part's box and
# keypoint tokens plus the body box; the body block also holds the hand and face boxes.
assert _L.lhand_kps is not None and _L.rhand_kps is not None and _L.face_kps is not None
BODY_TOKENS = np.array([_L.body_box, *_L.body_kps, _L.lhand_box, _L.rhand_box, _L.face_box])
HAND_TOKENS = np.array([_L.body_box, _L.lhand_box, _L.rhand_box, *_L.lhand_kps, *_L.rhand_kps])
FACE_TOKENS = np.array([_L.body_box, _L.face_box, *_L.face_kps])
#: hips, knees, shoulders, elbows (SMPL-X joint ids = pose rows) checked by the safety guard.
MAJOR_JOINTS = np.array([1, 2, 4, 5, 16, 17, 18, 19])
_BODY_JOINTS = POSE_SLICES['body_pose']
_HAND_JOINTS = slice(POSE_SLICES['left_hand_pose'].start, POSE_SLICES['right_hand_pose'].stop)
#: Newton stopping step of the chordal-mean projection: leaves an orthogonality error below
#: 5e-10, far under the float32 resolution the fused pose is published in, and saves a step.
_PROJECT_TOL = 3e-5

Regress = Callable[[np.ndarray], dict[str, np.ndarray]]
#: ring-buffer fields a fusion window needs
FUSED_FIELDS = ('score', 'pose', 'expression', 'tokens')


@dataclass
class FusionResult:
    """pose (N, 53, 3, 3) and expression (N, 10) per window; fallback (N,) bool (guard fired)."""

    pose: np.ndarray
    expression: np.ndarray
    fallback: np.ndarray


def srwa_weights(
    dt: np.ndarray,
    score: np.ndarray,
    sim: np.ndarray | None,
    valid: np.ndarray,
    target: np.ndarray,
    sigma: float | np.ndarray,
    tau: float,
    s_min: float,
    blend: float,
) -> np.ndarray:
    """Normalised weights (..., N, K) from stamp offsets dt (N, K) s, scores and validity (N, K),
    target rows (N,) and similarities (..., N, K) (None: no similarity term).

    Leading axes batch several weightings of the same windows (e.g. one per joint group); sigma
    broadcasts against them, e.g. (G, 1, 1) for G groups.
    """
    w: np.ndarray = score * np.exp(-0.5 * (dt / sigma) ** 2) * valid
    if sim is not None:
        w = w * np.exp((sim - 1.0) / tau) * (sim >= s_min)
    rows = np.arange(w.shape[-2])
    w[..., rows, target] = np.maximum(w[..., rows, target], 1e-12)  # the target always counts
    w = w / w.sum(axis=-1, keepdims=True)
    if blend == 1.0:
        return w
    onehot = np.zeros_like(w)
    onehot[..., rows, target] = 1.0
    return (1.0 - blend) * onehot + blend * w


class Fuser:
    """Batched fusion of the windows of all people of one target frame."""

    def __init__(self, cfg: FusionConfig, regress: Regress | None = None):
        if cfg.mode == 'tokens' and regress is None:
            raise ValueError(f'fusion.mode "{cfg.mode}" needs an estimator with regress()')
        self.cfg = cfg
        self._regress = regress

    def fuse(self, windows: Windows, t_target: np.ndarray) -> FusionResult:
        """Fuse N windows; ``t_target`` (N,) are the target stamps in seconds."""
        pad = windows.data | {'stamps': windows.stamps, 'valid': windows.valid}
        dt = windows.stamps - t_target[:, None]
        target = windows.target
        result = self._fuse_params(pad, dt, target)
        if self.cfg.mode == 'tokens' and 'tokens' in pad:
            self._fuse_tokens(pad, dt, target, result)
        return result

    def _weights(
        self,
        pad: dict,
        dt: np.ndarray,
        target: np.ndarray,
        sim: np.ndarray | None,
        sigma: float | np.ndarray,
    ) -> np.ndarray:
        c = self.cfg
        return srwa_weights(
            dt, pad['score'], sim, pad['valid'], target, sigma, c.tau, c.s_min, c.blend
        )

    def _fuse_params(self, pad: dict, dt: np.ndarray, target: np.ndarray) -> FusionResult:
        c = self.cfg
        pose = pad['pose'].astype(np.float64)
        n = len(pose)
        # angle between R_target and R_j of every entry and joint (N, K, 53), from one pass
        angle = angle_from_trace(np.einsum('nkjab,njab->nkj', pose, pose[np.arange(n), target]))
        # one weighting per joint group: root (time prior only: similarity 1), body, hands + jaw
        sim = np.stack(
            [
                np.ones(dt.shape),
                _pose_similarity(angle, _BODY_JOINTS),
                _pose_similarity(angle, _HAND_JOINTS),
            ]
        )
        sigma = np.array([c.orient_sigma_s, c.sigma_s, c.hand_sigma_s])[:, None, None]
        w_orient, w_body, w_hand = self._weights(pad, dt, target, sim, sigma)
        w = np.empty(angle.shape)  # per-joint weights (N, K, 53)
        w[:, :, 0] = w_orient
        w[:, :, 1:22] = w_body[..., None]
        w[:, :, 22:] = w_hand[..., None]
        # all joints at once; the swapped views keep einsum's memory order (and result bits)
        out = chordal_mean(np.swapaxes(pose, 1, 2), np.swapaxes(w, 1, 2), _PROJECT_TOL)
        expression = np.einsum('nk,nkd->nd', w_hand, pad['expression'].astype(np.float64))
        return FusionResult(out, expression, np.zeros(n, bool))

    def _fuse_tokens(
        self, pad: dict, dt: np.ndarray, target: np.ndarray, result: FusionResult
    ) -> None:
        c = self.cfg
        tokens = pad['tokens'].astype(np.float32)
        n = len(tokens)
        fused = []
        for block, sigma in (
            (BODY_TOKENS, c.sigma_s),
            (HAND_TOKENS, c.hand_sigma_s),
            (FACE_TOKENS, c.hand_sigma_s),
        ):
            w = self._weights(pad, dt, target, _token_similarity(tokens, target, block), sigma)
            fused.append(np.einsum('nk,nktd->ntd', w.astype(np.float32), tokens))
        assert self._regress is not None  # mode 'tokens' requires it (__init__)
        out = self._regress(np.concatenate(fused, axis=0))
        pose = result.pose.copy()
        pose[:, 1:22] = out['pose'][:n, 1:22]
        pose[:, 22:52] = out['pose'][n : 2 * n, 22:52]
        pose[:, 52:] = out['pose'][2 * n :, 52:]
        self._guarded_write(pad, target, pose, out['expression'][2 * n :], result)

    def _guarded_write(
        self,
        pad: dict,
        target: np.ndarray,
        pose: np.ndarray,
        expression: np.ndarray,
        result: FusionResult,
    ) -> None:
        """Write re-regressed pose (N, 53, 3, 3) and expression (N, 10) into ``result`` for the
        people whose major joints stay within guard_angle_rad of their raw pose; the others keep
        the parameter-space fusion and are flagged in ``result.fallback``."""
        raw = pad['pose'][np.arange(len(pose)), target].astype(np.float64)
        angle = geodesic_angle(pose[:, MAJOR_JOINTS], raw[:, MAJOR_JOINTS]).max(axis=1)
        ok = angle <= self.cfg.guard_angle_rad
        result.pose[ok] = pose[ok]
        result.expression[ok] = expression[ok]
        result.fallback = ~ok


def _pose_similarity(angle: np.ndarray, joints: slice) -> np.ndarray:
    """cos(mean geodesic angle over ``joints``) of each entry to the target pose (N, K), from
    the angle (radians) between each entry and the target per joint (N, K, 53)."""
    similarity: np.ndarray = np.cos(angle[:, :, joints].mean(axis=-1))
    return similarity


def _token_similarity(tokens: np.ndarray, target: np.ndarray, block: np.ndarray) -> np.ndarray:
    """Cosine of flattened token blocks (N, K, 39, 256) against the target entry -> (N, K)."""
    flat = tokens[:, :, block].reshape(tokens.shape[0], tokens.shape[1], -1)
    flat = flat / np.maximum(np.linalg.norm(flat, axis=-1, keepdims=True), 1e-6)
    ref = flat[np.arange(len(flat)), target]
    similarity: np.ndarray = np.einsum('nkd,nd->nk', flat, ref)
    return similarity
