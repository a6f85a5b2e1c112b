"""Axis-aligned boxes in pixels, ``xyxy`` = (x_min, y_min, x_max, y_max)."""

from __future__ import annotations

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a (M, 4) and b (N, 4), xyxy -> (M, N)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0.0, None), axis=-1)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0.0, None), axis=-1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0.0, None), axis=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def boxes_from_keypoints(keypoints_2d: np.ndarray) -> np.ndarray:
    """(N, J, 2) pixels -> (N, 4) xyxy tight boxes."""
    if keypoints_2d.size == 0:
        return np.zeros((len(keypoints_2d), 4))
    return np.concatenate([keypoints_2d.min(axis=1), keypoints_2d.max(axis=1)], axis=1)
