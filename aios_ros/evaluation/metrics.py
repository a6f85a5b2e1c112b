"""Multi-person SMPL-X accuracy metrics (AGORA-style matching, MPJPE/MVE per part, accel).

Protocol (AGORA): in every frame, predictions are assigned to ground-truth people by the
Hungarian algorithm on the mean 2D distance of the projected body joints; a pair whose body boxes
overlap with IoU < ``min_iou`` (0.1) is rejected. Unmatched ground truth counts as a false
negative, unmatched predictions as false positives. Errors are averaged over matched pairs after
aligning each part at its root joint (pelvis for all/body, wrists for hands, neck for the face);
NMVE/NMJE divide MVE/MPJPE by the F1 score so that missing people are penalised.

All 3D inputs are metres; every reported error is millimetres.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy.optimize import linear_sum_assignment

from aios_ros.geometry.boxes import iou_matrix

PELVIS, NECK, LEFT_WRIST, RIGHT_WRIST = 0, 12, 20, 21
NUM_BODY_JOINTS = 22  # SMPL-X joints 0..21 (pelvis .. wrists)


@dataclass(frozen=True)
class Part:
    """Indices of one evaluated part and the root index it is aligned at."""

    indices: np.ndarray
    root: int


def joint_parts(num_joints: int) -> dict[str, Part]:
    """Joint subsets of the SMPL-X joint layout produced by ``smplx`` (55 / 127 / 144 joints).

    55 skeleton joints, then (127+) 5 face + 6 feet + 10 finger-tip vertex joints and 51 facial
    landmarks (+17 contour points for 144). Hands exclude the wrist they are aligned at.
    """
    parts = {'all': Part(np.arange(num_joints), PELVIS)}
    if num_joints < 55:
        return parts
    parts['body'] = Part(np.arange(NUM_BODY_JOINTS), PELVIS)
    left, right, face = np.arange(25, 40), np.arange(40, 55), np.arange(22, 25)
    if num_joints >= 127:
        left, right = np.r_[left, 66:71], np.r_[right, 71:76]
        face = np.arange(76, 127)
    parts.update(
        left_hand=Part(left, LEFT_WRIST), right_hand=Part(right, RIGHT_WRIST), face=Part(face, NECK)
    )
    return parts


def vertex_parts(
    num_vertices: int, segments: Optional[dict[str, np.ndarray]] = None
) -> dict[str, Part]:
    """Vertex subsets; ``segments`` maps left_hand/right_hand/face to vertex index arrays
    (e.g. the official SMPL-X MANO/FLAME correspondences). Roots are joint indices."""
    parts = {'all': Part(np.arange(num_vertices), PELVIS)}
    if not segments:
        return parts
    used = np.zeros(num_vertices, bool)
    roots = {'left_hand': LEFT_WRIST, 'right_hand': RIGHT_WRIST, 'face': NECK}
    for name, root in roots.items():
        idx = np.asarray(segments[name], np.int64)
        parts[name] = Part(idx, root)
        used[idx] = True
    parts['body'] = Part(np.nonzero(~used)[0], PELVIS)
    return parts


def match_people(
    gt_kp: np.ndarray,
    gt_boxes: np.ndarray,
    pred_kp: np.ndarray,
    pred_boxes: np.ndarray,
    min_iou: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """AGORA-style one-to-one matching of one frame.

    gt_kp (G, J, 2) / pred_kp (P, J, 2) projected joints in pixels (the first 22 body joints are
    used when available); boxes (G, 4) / (P, 4) xyxy. Returns index arrays (gt_idx, pred_idx).
    """
    if not len(gt_kp) or not len(pred_kp):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    j = min(gt_kp.shape[1], pred_kp.shape[1], NUM_BODY_JOINTS)
    cost = np.linalg.norm(gt_kp[:, None, :j] - pred_kp[None, :, :j], axis=3).mean(axis=2)
    iou = iou_matrix(gt_boxes, pred_boxes)
    big = 1e3 * (cost.max() + 1.0)
    rows, cols = linear_sum_assignment(np.where(iou >= min_iou, cost, big))
    ok = iou[rows, cols] >= min_iou
    return rows[ok].astype(np.int64), cols[ok].astype(np.int64)


def prf1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 of detection counts (0 when undefined)."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def root_aligned_error(
    pred: np.ndarray, gt: np.ndarray, pred_root: np.ndarray, gt_root: np.ndarray
) -> np.ndarray:
    """(P, K, 3) points, (P, 3) roots (m) -> (P,) mean per-point error after root alignment, mm."""
    diff = (pred - pred_root[:, None]) - (gt - gt_root[:, None])
    return 1000.0 * np.linalg.norm(diff, axis=2).mean(axis=1)


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """pred (K, 3) moved by the similarity transform (scale, rotation, shift) best fitting gt."""
    mu_p, mu_g = pred.mean(axis=0), gt.mean(axis=0)
    p, g = pred - mu_p, gt - mu_g
    u, s, vt = np.linalg.svd(p.T @ g)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.array([1.0, 1.0, d])
    rot = (u * fix) @ vt  # applied as p @ rot
    scale = (s * fix).sum() / max((p**2).sum(), 1e-12)
    return scale * p @ rot + mu_g


def pa_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(P, K, 3) -> (P,) mean per-point error after per-person Procrustes alignment, mm."""
    return np.array(
        [
            1000.0 * np.linalg.norm(procrustes_align(p, g) - g, axis=1).mean()
            for p, g in zip(pred, gt)
        ]
    )


def accel_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(T, J, 3) pelvis-centred joint tracks (m) of one person -> (T-2,) errors, mm/frame^2.

    Error of the second finite difference X[t-1] - 2 X[t] + X[t+1], mean over joints.
    """

    def acc(x):
        return x[:-2] - 2 * x[1:-1] + x[2:]

    return 1000.0 * np.linalg.norm(acc(pred) - acc(gt), axis=2).mean(axis=1)
