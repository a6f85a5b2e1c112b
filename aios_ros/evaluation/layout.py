"""The per-person table used for both predictions and ground truth, and its .npz file layout.

``.npz`` layout (one row per person per frame; P rows, T frames, J joints, V vertices):

============== ============ ===============================================================
key            shape/dtype  meaning
============== ============ ===============================================================
stamps_ns      (T,) int64   every frame of the sequence (also frames without people), ns
frame          (P,) int64   index into ``stamps_ns`` of the frame the row belongs to
track_id       (P,) int64   person identity (ground truth: the true identity)
keypoints_2d   (P, J, 2)    projected SMPL-X joints, pixels of the input image
joints_3d      (P, J, 3)    SMPL-X joints in the camera optical frame, metres
boxes          (P, 4)       optional body box xyxy, pixels (default: keypoint extent)
vertices       (P, V, 3)    optional mesh in the camera optical frame, metres
============== ============ ===============================================================

Extra keys (e.g. the SMPL-X parameters the sample's ground truth also stores) are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from aios_ros.geometry.boxes import boxes_from_keypoints

REQUIRED = ('stamps_ns', 'frame', 'track_id', 'keypoints_2d', 'joints_3d')


@dataclass
class PersonTable:
    """People of a whole sequence, one row per person per frame (module docstring)."""

    stamps_ns: np.ndarray
    frame: np.ndarray
    track_id: np.ndarray
    keypoints_2d: np.ndarray
    joints_3d: np.ndarray
    boxes: np.ndarray
    vertices: Optional[np.ndarray] = None

    def rows_of(self, frame_index: int) -> np.ndarray:
        """Row indices of the people in frame ``frame_index``."""
        return np.nonzero(self.frame == frame_index)[0]


def make_table(
    stamps_ns, frame, track_id, keypoints_2d, joints_3d, boxes=None, vertices=None
) -> PersonTable:
    """Validate shapes and build a :class:`PersonTable` (boxes default to the keypoint extent)."""
    kp = np.asarray(keypoints_2d, np.float64)
    joints = np.asarray(joints_3d, np.float64)
    if kp.ndim != 3 or joints.ndim != 3 or len(kp) != len(frame) or len(joints) != len(frame):
        raise ValueError(
            f'keypoints_2d {kp.shape} / joints_3d {joints.shape} must be (P, J, 2) '
            f'/ (P, J, 3) with P = {len(frame)} rows'
        )
    if kp.shape[1] != joints.shape[1]:
        raise ValueError(f'keypoints_2d has {kp.shape[1]} joints, joints_3d {joints.shape[1]}')
    boxes = boxes_from_keypoints(kp) if boxes is None else np.asarray(boxes, np.float64)
    verts = None if vertices is None else np.asarray(vertices, np.float64)
    frame = np.asarray(frame, np.int64)
    stamps = np.asarray(stamps_ns, np.int64)
    if len(frame) and (frame.min() < 0 or frame.max() >= len(stamps)):
        raise ValueError('frame indices must index stamps_ns')
    return PersonTable(
        stamps, frame, np.asarray(track_id, np.int64), kp, joints, boxes.reshape(-1, 4), verts
    )


def load_table(path: str | Path) -> PersonTable:
    """Read the npz layout of the module docstring; a clear error names missing keys."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: no such file')
    with np.load(path) as data:
        missing = [k for k in REQUIRED if k not in data]
        if missing:
            raise ValueError(
                f'{path}: missing array(s) {", ".join(missing)} '
                f'(layout: aios_ros/evaluation/layout.py)'
            )
        opt = {k: data[k] for k in ('boxes', 'vertices') if k in data}
        return make_table(*(data[k] for k in REQUIRED), **opt)


def save_table(path: str | Path, table: PersonTable, **extra: np.ndarray) -> None:
    """Write ``table`` (plus ``extra`` arrays) in the npz layout."""
    arrays = {k: getattr(table, k) for k in REQUIRED + ('boxes',)}
    if table.vertices is not None:
        arrays['vertices'] = table.vertices
    np.savez_compressed(path, **arrays, **extra)
