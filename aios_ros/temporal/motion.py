"""Constant-velocity Kalman filter (filterpy) on metric translation and the body box.

State (14,): [x, y, z, cx, cy, w, h, and their velocities]; x, y, z metres in the camera optical
frame, cx, cy, w, h pixels (box centre and size). Time steps come from frame stamps. The same
filter gives the motion prediction for association, the coasting prediction and the causal
translation output (TEMPORAL_DESIGN.md section 8.2, TRACKING.md section 3.1).
"""
from __future__ import annotations

import numpy as np
from filterpy.kalman import KalmanFilter

_DIM = 7
_PERSON_HEIGHT_M = 1.7  # converts the metric acceleration noise into box heights per s^2
_H = np.hstack([np.eye(_DIM), np.zeros((_DIM, _DIM))])
_POS = np.arange(_DIM)
_VEL = _POS + _DIM


def box_to_cxcywh(box: np.ndarray) -> np.ndarray:
    """(..., 4) xyxy -> (..., 4) centre x, centre y, width, height."""
    return np.concatenate([(box[..., :2] + box[..., 2:]) / 2.0, box[..., 2:] - box[..., :2]], -1)


def cxcywh_to_box(c: np.ndarray) -> np.ndarray:
    """Inverse of :func:`box_to_cxcywh`."""
    return np.concatenate([c[..., :2] - c[..., 2:] / 2.0, c[..., :2] + c[..., 2:] / 2.0], -1)


class MotionFilter:
    """One identity's constant-velocity filter.

    Parameters
    ----------
    transl : (3,) initial translation, metres.
    box : (4,) initial body box, pixels xyxy.
    sigma_accel : process noise, m/s^2 (white acceleration).
    sigma_xy, sigma_z_rel : measurement noise: sigma_xy metres in x and y, sigma_z_rel * z^2 in z.
    """

    def __init__(self, transl: np.ndarray, box: np.ndarray, sigma_accel: float, sigma_xy: float,
                 sigma_z_rel: float):
        self._sigma_accel = sigma_accel
        self._sigma_xy = sigma_xy
        self._sigma_z_rel = sigma_z_rel
        self._kf = KalmanFilter(dim_x=2 * _DIM, dim_z=_DIM)
        self._kf.H = _H
        z = self._measurement(transl, box)
        self._kf.x = np.concatenate([z, np.zeros(_DIM)])
        r = self._noise(z)
        # Velocities are unknown at birth: walking speed for translation, a box-height per s.
        vel_var = np.concatenate([np.full(3, 1.5 ** 2), np.full(4, z[6] ** 2)])
        self._kf.P = np.diag(np.concatenate([np.diag(r), vel_var]))
        self._innovation: np.ndarray | None = None

    @staticmethod
    def _measurement(transl: np.ndarray, box: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(transl, np.float64), box_to_cxcywh(np.asarray(box, np.float64))])

    def _noise(self, z: np.ndarray) -> np.ndarray:
        """Measurement covariance R (7, 7) for measurement ``z``."""
        box_sd = max(z[6], 1.0) / 20.0  # ByteTrack's position noise weight
        sd = [self._sigma_xy, self._sigma_xy, self._sigma_z_rel * max(z[2], 0.1) ** 2] + [box_sd] * 4
        return np.diag(np.square(sd))

    def predict(self, dt: float) -> None:
        """Advance the state by ``dt`` seconds (no-op for dt <= 0)."""
        if dt <= 0.0:
            return
        f = np.eye(2 * _DIM)
        f[_POS, _VEL] = dt
        h = max(self._kf.x[6], 1.0)
        var = np.empty(_DIM)
        var[:3] = self._sigma_accel ** 2
        var[3:] = (self._sigma_accel / _PERSON_HEIGHT_M * h) ** 2
        q = np.zeros((2 * _DIM, 2 * _DIM))  # white-acceleration noise, per axis
        q[_POS, _POS] = var * (dt ** 4 / 4.0)
        q[_POS, _VEL] = q[_VEL, _POS] = var * (dt ** 3 / 2.0)
        q[_VEL, _VEL] = var * dt ** 2
        self._kf.predict(F=f, Q=q)
        self._innovation = None

    def update(self, transl: np.ndarray, box: np.ndarray) -> None:
        """Correct with a detection's translation (3,) metres and body box (4,) xyxy pixels."""
        z = self._measurement(transl, box)
        self._kf.update(z, R=self._noise(z))
        self._innovation = None

    @property
    def mean(self) -> np.ndarray:
        """(7,) current [x, y, z, cx, cy, w, h] estimate (a view: do not modify)."""
        return self._kf.x[:_DIM]

    @property
    def transl(self) -> np.ndarray:
        """(3,) current translation estimate, metres."""
        return self._kf.x[:3].copy()

    @property
    def box(self) -> np.ndarray:
        """(4,) current body box estimate, xyxy pixels."""
        return cxcywh_to_box(self._kf.x[3:_DIM])

    def transl_innovation_cov(self) -> np.ndarray:
        """(3, 3) covariance of a translation measurement around the prediction (P + R)."""
        if self._innovation is None:
            self._innovation = self._kf.P[:3, :3] + self._noise(self._kf.x[:_DIM])[:3, :3]
        return self._innovation
