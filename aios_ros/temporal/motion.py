"""Constant-velocity Kalman filter (filterpy) on metric translation and the body box.

State (14,): [x, y, z, cx, cy, w, h, and their velocities]; x, y, z metres in the camera optical
frame, cx, cy, w, h pixels (box centre and size). Time steps come from frame stamps. The same
filter gives the motion prediction for association, the coasting prediction and the causal
translation output (docs/temporal.md §2.3, §8.2).

filterpy's functional ``predict``/``update`` run on the per-track state (the same equations as
its ``KalmanFilter`` class, without the per-call bookkeeping); the transition matrix and the
shape of the process noise depend on the time step only and are shared by all tracks.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from filterpy import kalman

_DIM = 7
_PERSON_HEIGHT_M = 1.7  # converts the metric acceleration noise into box heights per s^2
_H = np.hstack([np.eye(_DIM), np.zeros((_DIM, _DIM))])
_POS = np.arange(_DIM)
_VEL = _POS + _DIM


@lru_cache(maxsize=16)
def _transition(dt: float, sigma_accel: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F (14, 14) and the process noise Q = q_metric + q_box * h^2 (both (14, 14)) of a step of
    ``dt`` s, h the box height in pixels (the box axes' acceleration scales with it).

    White acceleration couples each position only with its own velocity.
    """
    f = np.eye(2 * _DIM)
    f[_POS, _VEL] = dt
    pattern = np.zeros((2 * _DIM, 2 * _DIM))
    pattern[_POS, _POS] = dt**4 / 4.0
    pattern[_POS, _VEL] = pattern[_VEL, _POS] = dt**3 / 2.0
    pattern[_VEL, _VEL] = dt**2
    metric = np.tile(np.arange(_DIM) < 3, 2)  # rows of x, y, z and their velocities
    q_metric = pattern * np.where(metric, sigma_accel**2, 0.0)[:, None]
    q_box = pattern * np.where(metric, 0.0, (sigma_accel / _PERSON_HEIGHT_M) ** 2)[:, None]
    for m in (f, q_metric, q_box):
        m.flags.writeable = False  # shared by every track
    return f, q_metric, q_box


def box_to_cxcywh(box: np.ndarray) -> np.ndarray:
    """(..., 4) xyxy -> (..., 4) centre x, centre y, width, height."""
    return np.concatenate([(box[..., :2] + box[..., 2:]) / 2.0, box[..., 2:] - box[..., :2]], -1)


def cxcywh_to_box(c: np.ndarray) -> np.ndarray:
    """Inverse of :func:`box_to_cxcywh`."""
    return np.concatenate([c[..., :2] - c[..., 2:] / 2.0, c[..., :2] + c[..., 2:] / 2.0], -1)


def measurement(transl: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Translation (..., 3) metres and body box (..., 4) xyxy pixels -> measurement (..., 7)
    float64 [x, y, z, cx, cy, w, h]."""
    return np.concatenate(
        [np.asarray(transl, np.float64), box_to_cxcywh(np.asarray(box, np.float64))], -1
    )


def measurement_var(z: np.ndarray, sigma_xy: float, sigma_z_rel: float) -> np.ndarray:
    """Diagonal (..., 7) of the measurement covariance R for measurements ``z`` (..., 7).

    sigma_xy metres in x and y, sigma_z_rel * z^2 metres in depth, h / 20 pixels for the box
    (ByteTrack's position noise weight).
    """
    z = np.asarray(z)
    sd = np.empty(z.shape)
    sd[..., :2] = sigma_xy
    sd[..., 2] = sigma_z_rel * np.maximum(z[..., 2], 0.1) ** 2
    sd[..., 3:] = np.maximum(z[..., 6:7], 1.0) / 20.0
    return sd * sd


class MotionFilter:
    """One identity's constant-velocity filter.

    Parameters
    ----------
    z : (7,) initial measurement, see :func:`measurement`.
    r : (7,) its noise variances, see :func:`measurement_var`.
    sigma_accel : process noise, m/s^2 (white acceleration).

    Attributes
    ----------
    x : (14,) state estimate (see the module docstring); P : (14, 14) its covariance.
    """

    def __init__(self, z: np.ndarray, r: np.ndarray, sigma_accel: float):
        self._sigma_accel = sigma_accel
        self.x = np.concatenate([z, np.zeros(_DIM)])
        # Velocities are unknown at birth: walking speed for translation, a box-height per s.
        vel_var = np.concatenate([np.full(3, 1.5**2), np.full(4, z[6] ** 2)])
        self.P = np.diag(np.concatenate([r, vel_var]))

    def predict(self, dt: float) -> None:
        """Advance the state by ``dt`` seconds (no-op for dt <= 0)."""
        if dt <= 0.0:
            return
        f, q_metric, q_box = _transition(float(dt), self._sigma_accel)
        h = max(self.x[6], 1.0)
        self.x, self.P = kalman.predict(self.x, self.P, f, q_metric + q_box * (h * h))

    def update(self, z: np.ndarray, r: np.ndarray) -> None:
        """Correct with a detection's measurement ``z`` (7,) of noise variances ``r`` (7,)."""
        self.x, self.P = kalman.update(self.x, self.P, z, np.diag(r), _H)

    @property
    def mean(self) -> np.ndarray:
        """(7,) current [x, y, z, cx, cy, w, h] estimate (a view: do not modify)."""
        return self.x[:_DIM]

    @property
    def transl(self) -> np.ndarray:
        """(3,) current translation estimate, metres."""
        return self.x[:3].copy()

    @property
    def box(self) -> np.ndarray:
        """(4,) current body box estimate, xyxy pixels."""
        return cxcywh_to_box(self.x[3:_DIM])

    @property
    def transl_cov(self) -> np.ndarray:
        """(3, 3) covariance of the translation estimate (a view: do not modify)."""
        return self.P[:3, :3]
