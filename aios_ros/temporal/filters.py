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

from aios_ros.core.smplx import NUM_POSE_JOINTS, POSE_SLICES
from aios_ros.geometry.so3 import compose_cf, exp_map_cf, log_map_cf
from aios_ros.temporal.config import StreamFilterConfig
from aios_ros.temporal.slots import Slots


def _alpha(cutoff_hz: np.ndarray, dt: np.ndarray) -> np.ndarray:
    r: np.ndarray = 2.0 * np.pi * cutoff_hz * dt
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
        groups = {
            'global_orient': cfg.global_orient,
            'body_pose': cfg.body,
            'left_hand_pose': cfg.hands,
            'right_hand_pose': cfg.hands,
            'jaw_pose': cfg.jaw,
        }
        arrays = {k: np.zeros(NUM_POSE_JOINTS) for k in ('min_cutoff', 'beta', 'd_cutoff')}
        for name, sl in POSE_SLICES.items():
            for key, arr in arrays.items():
                arr[sl] = getattr(groups[name], key)
        return cls(**arrays)


def one_euro_so3_step(
    r_hat: np.ndarray, speed_hat: np.ndarray, r: np.ndarray, dt: np.ndarray, params: OneEuroParams
) -> tuple[np.ndarray, np.ndarray]:
    """One causal One-Euro step for rotations, in the component-first layout of
    ``geometry/so3.py`` (contiguous arrays: numpy is slow on trailing axes of length 3).

    Parameters
    ----------
    r_hat : (3, 3, N, J) previous filtered rotations.
    speed_hat : (3, N, J) previous smoothed angular velocity, rad/s (tangent at r_hat).
    r : (3, 3, N, J) new measurements.
    dt : (N,) seconds since the previous sample of each person (> 0).
    params : per-joint parameters, (J,) or per person (N, J).

    Returns
    -------
    (new r_hat (3, 3, N, J), new speed_hat (3, N, J)).
    """
    dt = np.maximum(np.asarray(dt, dtype=np.float64), 1e-6)[:, None]
    innovation = log_map_cf(compose_cf(r_hat, r, transpose_a=True))
    speed = speed_hat + _alpha(params.d_cutoff, dt) * (innovation / dt - speed_hat)
    cutoff = params.min_cutoff + params.beta * np.sqrt(np.sum(speed * speed, axis=0))
    return compose_cf(r_hat, exp_map_cf(_alpha(cutoff, dt) * innovation)), speed


class PoseSmoother:
    """One-Euro states of several streams' identities, stepped together in one batched call.

    A state is addressed by a key, e.g. ``('raw', track_id)``; each stream has its own parameters.
    States live in slots of preallocated arrays (rotation, speed, stamp, stream), so a frame's
    step gathers and scatters them with one index instead of per-key Python objects.
    """

    def __init__(self, streams: dict[str, StreamFilterConfig]):
        self._stream_index = {name: i for i, name in enumerate(streams)}
        per_stream = [OneEuroParams.for_pose(cfg) for cfg in streams.values()]
        self._table = {
            f: np.stack([getattr(p, f) for p in per_stream])  # (streams, 53)
            for f in ('min_cutoff', 'beta', 'd_cutoff')
        }
        self._slots = Slots(self._grow)  # (stream, track id) -> slot
        self._rot = np.zeros((3, 3, 0, NUM_POSE_JOINTS))  # component-first, see one_euro_so3_step
        self._speed = np.zeros((3, 0, NUM_POSE_JOINTS))
        self._stamp = np.zeros(0)
        self._stream = np.zeros(0, np.int64)

    def apply(
        self, keys: list[tuple[str, int]], pose: np.ndarray, stamps: np.ndarray
    ) -> np.ndarray:
        """Filter pose (N, 53, 3, 3) of ``keys`` (N ``(stream, track id)``) taken at ``stamps``
        (N,) s.

        A new key (or one whose previous sample is not older) starts from its measurement.
        """
        stamps = np.asarray(stamps, np.float64)
        slots = np.array([self._slot_of(k) for k in keys], np.int64).reshape(len(keys))
        known = stamps > self._stamp[slots]  # False for new slots (stamp NaN)
        out = np.ascontiguousarray(np.moveaxis(pose, (-2, -1), (0, 1)), np.float64)  # (3, 3, N, 53)
        speed = np.zeros((3,) + pose.shape[:-2])
        if known.any():
            rows, sl = np.flatnonzero(known), slots[known]
            params = OneEuroParams(
                **{f: table[self._stream[sl]] for f, table in self._table.items()}
            )
            out[:, :, rows], speed[:, rows] = one_euro_so3_step(
                self._rot[:, :, sl],
                self._speed[:, sl],
                out[:, :, rows],
                stamps[rows] - self._stamp[sl],
                params,
            )
        self._rot[:, :, slots], self._speed[:, slots], self._stamp[slots] = out, speed, stamps
        return np.ascontiguousarray(np.moveaxis(out, (0, 1), (-2, -1)))

    def forget(self, track_id: int) -> None:
        """Drop every stream's state of one identity (deleted, or re-acquired after a gap)."""
        for name in self._stream_index:
            self._slots.release((name, int(track_id)))

    def _slot_of(self, key: tuple[str, int]) -> int:
        slot, new = self._slots.acquire(key)
        if new:
            self._stamp[slot] = np.nan
            self._stream[slot] = self._stream_index[key[0]]
        return slot

    def _grow(self, old: int, new: int) -> None:
        self._rot = np.concatenate(
            [self._rot, np.zeros((3, 3, new - old, NUM_POSE_JOINTS))], axis=2
        )
        self._speed = np.concatenate(
            [self._speed, np.zeros((3, new - old, NUM_POSE_JOINTS))], axis=1
        )
        self._stamp = np.concatenate([self._stamp, np.full(new - old, np.nan)])
        self._stream = np.concatenate([self._stream, np.zeros(new - old, np.int64)])
