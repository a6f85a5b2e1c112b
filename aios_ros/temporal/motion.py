"""Constant-velocity Kalman filter (filterpy) on metric translation and the body box.

State (14,): [x, y, z, cx, cy, w, h, and their velocities]; x, y, z metres in the camera optical
frame, cx, cy, w, h pixels (box centre and size). Time steps come from frame stamps. The same
filter gives the motion prediction for association, the coasting prediction and the causal
translation output (TEMPORAL_DESIGN.md section 8.2, TRACKING.md section 3.1).

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
def _transition(dt: float) -> tuple[np.ndarray, np.ndarray]:
    """(F (14, 14), Q pattern (14, 14)) for a step of ``dt`` s: Q = pattern * variance per row.

    The white-acceleration noise couples each position only with its own velocity.
    """
    f = np.eye(2 * _DIM)
    f[_POS, _VEL] = dt
    q = np.zeros((2 * _DIM, 2 * _DIM))
    q[_POS, _POS] = dt ** 4 / 4.0
    q[_POS, _VEL] = q[_VEL, _POS] = dt ** 3 / 2.0
    q[_VEL, _VEL] = dt ** 2
    f.flags.writeable = q.flags.writeable = False  # shared by every track
    return f, q


def box_to_cxcywh(box: np.ndarray) -> np.ndarray:
    """(..., 4) xyxy -> (..., 4) centre x, centre y, width, height."""
    return np.concatenate([(box[..., :2] + box[..., 2:]) / 2.0, box[..., 2:] - box[..., :2]], -1)


def cxcywh_to_box(c: np.ndarray) -> np.ndarray:
    """Inverse of :func:`box_to_cxcywh`."""
    return np.concatenate([c[..., :2] - c[..., 2:] / 2.0, c[..., :2] + c[..., 2:] / 2.0], -1)


def measurement(transl: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Translation (..., 3) metres and body box (..., 4) xyxy pixels -> measurement (..., 7)
    float64 [x, y, z, cx, cy, w, h]."""
    return np.concatenate([np.asarray(transl, np.float64),
                           box_to_cxcywh(np.asarray(box, np.float64))], -1)


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
    sigma_accel : process noise, m/s^2 (white acceleration).
    sigma_xy, sigma_z_rel : measurement noise, see :func:`measurement_var`.

    Attributes
    ----------
    x : (14,) state estimate (see the module docstring); P : (14, 14) its covariance.
    """

    def __init__(self, z: np.ndarray, sigma_accel: float, sigma_xy: float, sigma_z_rel: float):
        self._sigma_accel = sigma_accel
        self._sigma_xy = sigma_xy
        self._sigma_z_rel = sigma_z_rel
        self.x = np.concatenate([z, np.zeros(_DIM)])
        # Velocities are unknown at birth: walking speed for translation, a box-height per s.
        vel_var = np.concatenate([np.full(3, 1.5 ** 2), np.full(4, z[6] ** 2)])
        self.P = np.diag(np.concatenate([measurement_var(z, sigma_xy, sigma_z_rel), vel_var]))

    def predict(self, dt: float) -> None:
        """Advance the state by ``dt`` seconds (no-op for dt <= 0)."""
        if dt <= 0.0:
            return
        f, q_pattern = _transition(float(dt))
        h = max(self.x[6], 1.0)
        var = np.empty(2 * _DIM)  # white-acceleration variance of each state row's axis
        var[:3] = var[_DIM:_DIM + 3] = self._sigma_accel ** 2
        var[3:_DIM] = var[_DIM + 3:] = (self._sigma_accel / _PERSON_HEIGHT_M * h) ** 2
        self.x, self.P = kalman.predict(self.x, self.P, f, q_pattern * var[:, None])

    def update(self, z: np.ndarray) -> None:
        """Correct with a detection's measurement ``z`` (7,), see :func:`measurement`."""
        r = np.diag(measurement_var(z, self._sigma_xy, self._sigma_z_rel))
        self.x, self.P = kalman.update(self.x, self.P, z, r, _H)

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
