"""The bundled sample's scripted scene: three people walking in front of a static camera.

Camera: 640 x 480, fx = fy = 500 px, principal point at the image centre, 1.3 m above a flat
floor, looking horizontally. World = camera optical frame (x right, y down, z forward), so
the floor is the plane y = +1.3 m.

* track 1 walks left -> right at depth 4.5 m,
* track 2 walks right -> left at depth 6.5 m; the two cross in the image at t = 5 s, where
  track 1 occludes track 2 (partially for ~0.9 s),
* track 3 walks away from the camera on the left (depth 3.5 -> 8 m) and briefly hides track 1
  (t = 1.5-2 s).

Poses use the AiOS joint order of ``aios_ros.core.types`` (53 rotation matrices).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

WIDTH, HEIGHT = 640, 480
FOCAL_PX = 500.0
K = np.array([[FOCAL_PX, 0.0, WIDTH / 2], [0.0, FOCAL_PX, HEIGHT / 2], [0.0, 0.0, 1.0]])
FLOOR_Y_M = 1.3
RATE_HZ = 10.0
DURATION_S = 10.0

# SMPL-X body joints (= AiOS pose index for 0..21).
L_HIP, R_HIP, L_KNEE, R_KNEE, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW = 1, 2, 4, 5, 16, 17, 18, 19


@dataclass(frozen=True)
class Walker:
    """One scripted person: straight walk from ``start`` to ``end`` (x, z in metres) over the
    whole clip; ``betas`` shape; ``phase`` offset of the gait cycle (rad); ``color`` BGR 0-1."""

    track_id: int
    start: tuple[float, float]
    end: tuple[float, float]
    betas: tuple[float, ...]
    phase: float
    color: tuple[float, float, float]


WALKERS = (
    Walker(1, (-2.6, 4.5), (2.6, 4.5), (0.8, 0.3), 0.0, (0.25, 0.35, 0.85)),
    Walker(2, (2.9, 6.5), (-2.9, 6.5), (1.5, -0.5), 1.7, (0.80, 0.55, 0.20)),
    Walker(3, (-1.5, 3.5), (-1.5, 8.0), (-0.8, 0.8), 3.1, (0.30, 0.70, 0.30)),
)


def num_frames() -> int:
    """Frames in the clip (RATE_HZ x DURATION_S)."""
    return int(round(RATE_HZ * DURATION_S))


def walker_state(walker: Walker, t_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Pose (53, 3, 3) and ground position (x, z) in metres of ``walker`` at time ``t_s``."""
    start, end = np.asarray(walker.start), np.asarray(walker.end)
    xz = start + (end - start) * (t_s / DURATION_S)
    heading = (end - start) / np.linalg.norm(end - start)
    speed = np.linalg.norm(end - start) / DURATION_S
    return walking_pose(2 * np.pi * 0.9 * t_s + walker.phase, heading, speed), xz


def walking_pose(phase: float, heading_xz: np.ndarray, speed_mps: float) -> np.ndarray:
    """(53, 3, 3) rotation matrices of a walk cycle at gait ``phase`` (rad), facing ``heading_xz``.

    SMPL-X rest pose: +y up, face +z, arms out along +-x. The root turns that into the camera
    frame (y down) facing ``heading``; arms hang down and swing against the legs.
    """
    rot = np.tile(np.eye(3), (53, 1, 1))
    dx, dz = heading_xz
    rot[0] = (
        Rotation.from_euler('y', np.arctan2(-dx, -dz)) * Rotation.from_euler('x', np.pi)
    ).as_matrix()
    amp = np.radians(12 + 25 * min(speed_mps, 1.5))
    s = np.sin(phase)

    def rx(a):
        return Rotation.from_euler('x', a).as_matrix()

    rot[L_HIP], rot[R_HIP] = rx(-amp * s), rx(amp * s)
    # The knee bends most while its leg swings forward.
    rot[L_KNEE] = rx(np.radians(8) + amp * max(0.0, np.cos(phase)) * 1.4)
    rot[R_KNEE] = rx(np.radians(8) + amp * max(0.0, -np.cos(phase)) * 1.4)
    for joint, side in ((L_SHOULDER, -1.0), (R_SHOULDER, 1.0)):
        swing = 0.8 * amp * s * (1 if joint == L_SHOULDER else -1)
        rot[joint] = rx(swing) @ Rotation.from_euler('z', side * np.radians(72)).as_matrix()
    rot[L_ELBOW] = Rotation.from_euler('y', np.radians(15)).as_matrix()
    rot[R_ELBOW] = Rotation.from_euler('y', np.radians(-15)).as_matrix()
    return rot.astype(np.float32)
