"""Pinhole camera projection (numpy), shared by the pipeline and the synthetic detections."""

from __future__ import annotations

import numpy as np


def project(points: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Pinhole projection of camera-frame points (..., 3) metres with K (3, 3) -> pixels
    (..., 2)."""
    z = np.maximum(points[..., 2], 1e-6)
    u, v = points[..., 0] / z, points[..., 1] / z  # per coordinate: no length-2 inner broadcasts
    return np.stack(
        [k[0, 0] * u + k[0, 1] * v + k[0, 2], k[1, 0] * u + k[1, 1] * v + k[1, 2]], axis=-1
    )
