"""Causal output filters: One-Euro on SO(3) in the tangent space, batched over people and joints.

The One-Euro filter (Casiez, Roussel & Vogel, CHI 2012) adapts its cutoff to the speed:
f_c = min_cutoff + beta * |smoothed speed|, alpha = r / (1 + r) with r = 2 pi f_c dt. On SO(3)
the innovation is w = Log(R_hat^T R) (radians), the speed is w / dt (rad/s), and the update is
R_hat <- R_hat Exp(alpha w), i.e. exponential smoothing by geodesic interpolation. Nothing is
ever filtered component-wise on axis-angle.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aios_ros.pipeline.types import NUM_POSE_JOINTS, POSE_SLICES
from aios_ros.temporal.config import StreamFilterConfig
from aios_ros.geometry.so3 import exp_map, log_map


def _alpha(cutoff_hz: np.ndarray, dt: np.ndarray) -> np.ndarray:
    r = 2.0 * np.pi * cutoff_hz * dt
    return r / (1.0 + r)


@dataclass(frozen=True)
class OneEuroParams:
    """Per-joint parameters, each (J,) (or (N, J)) float64: Hz, s/rad, Hz."""

    min_cutoff: np.ndarray
    beta: np.ndarray
    d_cutoff: np.ndarray

    @classmethod
    def for_pose(cls, cfg: StreamFilterConfig) -> 'OneEuroParams':
        """Parameters for the 53 AiOS pose joints from the per-group configuration."""
        groups = {'global_orient': cfg.global_orient, 'body_pose': cfg.body,
                  'left_hand_pose': cfg.hands, 'right_hand_pose': cfg.hands, 'jaw_pose': cfg.jaw}
        arrays = {k: np.zeros(NUM_POSE_JOINTS) for k in ('min_cutoff', 'beta', 'd_cutoff')}
        for name, sl in POSE_SLICES.items():
            for key, arr in arrays.items():
                arr[sl] = getattr(groups[name], key)
        return cls(**arrays)


def one_euro_so3_step(r_hat: np.ndarray, speed_hat: np.ndarray, r: np.ndarray, dt: np.ndarray,
                      params: OneEuroParams) -> tuple[np.ndarray, np.ndarray]:
    """One causal One-Euro step for rotations.

    Parameters
    ----------
    r_hat : (N, J, 3, 3) previous filtered rotations.
    speed_hat : (N, J, 3) previous smoothed angular velocity, rad/s (tangent at r_hat).
    r : (N, J, 3, 3) new measurements.
    dt : (N,) seconds since the previous sample of each person (> 0).
    params : per-joint parameters, (J,) or per person (N, J).

    Returns
    -------
    (new r_hat (N, J, 3, 3), new speed_hat (N, J, 3)).
    """
    dt = np.maximum(np.asarray(dt, dtype=np.float64), 1e-6)[:, None]
    # Tangent vectors are handled component-first, (3, N, J) views: numpy is slow on broadcasts
    # whose innermost axis has length 3.
    innovation = np.moveaxis(log_map(np.swapaxes(r_hat, -1, -2) @ r), -1, 0)
    speed_hat = np.moveaxis(speed_hat, -1, 0)
    speed = speed_hat + _alpha(params.d_cutoff, dt) * (innovation / dt - speed_hat)
    cutoff = params.min_cutoff + params.beta * np.sqrt(np.sum(speed * speed, axis=0))
    step = np.moveaxis(_alpha(cutoff, dt) * innovation, 0, -1)
    return r_hat @ exp_map(step), np.moveaxis(speed, 0, -1)


class PoseSmoother:
    """One-Euro states of several streams' identities, stepped together in one batched call.

    A state is addressed by a key, e.g. ``('raw', track_id)``; each stream has its own parameters.
    """

    def __init__(self, streams: dict[str, StreamFilterConfig]):
        self._stream_index = {name: i for i, name in enumerate(streams)}
        per_stream = [OneEuroParams.for_pose(cfg) for cfg in streams.values()]
        self._table = {f: np.stack([getattr(p, f) for p in per_stream])  # (streams, 53)
                       for f in ('min_cutoff', 'beta', 'd_cutoff')}
        self._state: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, float]] = {}

    def apply(self, keys: list[tuple[str, int]], pose: np.ndarray, stamps: np.ndarray) -> np.ndarray:
        """Filter pose (N, 53, 3, 3) of ``keys`` (N ``(stream, track id)``) taken at ``stamps`` (N,) s.

        A new key (or one whose previous sample is not older) starts from its measurement.
        """
        pose = pose.astype(np.float64)
        out = pose.copy()
        speed = np.zeros(pose.shape[:-1])
        known = np.array([k in self._state and stamps[i] > self._state[k][2] for i, k in enumerate(keys)],
                         bool).reshape(len(keys))
        if known.any():
            rows = np.flatnonzero(known)
            prev = [self._state[keys[i]] for i in rows]
            stream = np.array([self._stream_index[keys[i][0]] for i in rows])
            params = OneEuroParams(**{f: table[stream] for f, table in self._table.items()})
            out[rows], speed[rows] = one_euro_so3_step(
                np.stack([p[0] for p in prev]), np.stack([p[1] for p in prev]), pose[rows],
                stamps[rows] - np.array([p[2] for p in prev]), params)
        for i, k in enumerate(keys):
            self._state[k] = (out[i], speed[i], float(stamps[i]))
        return out

    def forget(self, track_id: int) -> None:
        """Drop every stream's state of one identity (deleted, or re-acquired after a gap)."""
        for name in self._stream_index:
            self._state.pop((name, int(track_id)), None)
