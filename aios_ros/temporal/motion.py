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
#: translation innovations beyond this Mahalanobis distance are down-weighted (Huber); about 3 %
#: of Gaussian 3D innovations lie beyond it
HUBER_K = 3.0


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


def measurement_cov(z: np.ndarray, sigma_xy: float, sigma_z_rel: float) -> np.ndarray:
    """Measurement covariance R (..., 7, 7) of measurements ``z`` (..., 7).

    Translation: a monocular estimate gets its depth from the person's apparent size, so its
    large error is a scale error along the viewing ray (x, y and z scaled together), not along
    the optical axis: sigma_xy metres across the ray, and along it the spread that gives
    sigma_z_rel * z^2 metres in depth (sigma_z_rel * z * |t| along the ray). Box: h / 20 pixels
    (ByteTrack's position noise weight), independent per axis.
    """
    z = np.asarray(z, np.float64)
    t = z[..., :3]
    depth = np.maximum(t[..., 2], 0.1)
    rng = np.maximum(np.linalg.norm(t, axis=-1), depth)
    ray = t / rng[..., None]
    along = (sigma_z_rel * depth * rng) ** 2 - sigma_xy**2
    cov = np.zeros(z.shape + (7,))
    idx = np.arange(3)
    cov[..., idx, idx] = sigma_xy**2
    cov[..., :3, :3] += (
        np.maximum(along, 0.0)[..., None, None] * ray[..., :, None] * ray[..., None, :]
    )
    box = np.arange(3, 7)
    cov[..., box, box] = (np.maximum(z[..., 6:7], 1.0) / 20.0) ** 2
    return cov


class MotionFilter:
    """One identity's constant-velocity filter.

    Parameters
    ----------
    z : (7,) initial measurement, see :func:`measurement`.
    r : (7, 7) its noise covariance, see :func:`measurement_cov`.
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
        self.P = np.zeros((2 * _DIM, 2 * _DIM))
        self.P[:_DIM, :_DIM] = r
        self.P[_VEL, _VEL] = vel_var

    def predict(self, dt: float) -> None:
        """Advance the state by ``dt`` seconds (no-op for dt <= 0)."""
        if dt <= 0.0:
            return
        f, q_metric, q_box = _transition(float(dt), self._sigma_accel)
        h = max(self.x[6], 1.0)
        self.x, self.P = kalman.predict(self.x, self.P, f, q_metric + q_box * (h * h))

    def update(self, z: np.ndarray, r: np.ndarray) -> None:
        """Correct with a detection's measurement ``z`` (7,) of noise covariance ``r`` (7, 7).

        Innovation gating (Huber): a translation that lies d > ``HUBER_K`` Mahalanobis units
        from the prediction (a depth jump of a per-frame estimator) counts with weight
        HUBER_K / d, i.e. its covariance is inflated by d / HUBER_K, so one bad frame moves the
        state (and its velocity) by a bounded step instead of in proportion to its error.
        """
        nu = z[:3] - self.x[:3]
        d2 = float(nu @ np.linalg.solve(self.P[:3, :3] + r[:3, :3], nu))
        if d2 > HUBER_K * HUBER_K:
            r = r.copy()
            r[:3, :3] *= np.sqrt(d2) / HUBER_K
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
