"""Global joint rotations along a kinematic tree (SMPL-X forward kinematics without translation).

A joint's global rotation is its parent's global rotation times its own rotation relative to the
parent, ``G_j = G_parent(j) @ R_j``, with ``G_root = R_root``: the rotation part of the rigid
transforms SMPL-X (``smplx.lbs.batch_rigid_transform``) applies to each joint. In SMPL-X the root
rotation is ``global_orient``, which is relative to the camera optical frame, so ``G_j`` is the
orientation of joint ``j``'s frame in the camera optical frame.
"""

from __future__ import annotations

import numpy as np

from aios_ros.core.smplx import NUM_BODY_HEAD_JOINTS, POSE_SLICES, SMPLX_PARENTS


def global_rotations(local: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """Compose local rotations along a tree.

    local:   (..., J, 3, 3) rotation of each joint relative to its parent.
    parents: (J,) int parent index of each joint, -1 for a root; every parent precedes its
             children (``parents[j] < j``), as in ``SMPLX_PARENTS``.
    Returns (..., J, 3, 3) float64 global rotations ``G_j = G_parent(j) @ local_j``.
    """
    parents = np.asarray(parents)
    if local.shape[-3:] != (len(parents), 3, 3):
        raise ValueError(f'local rotations {local.shape} do not fit {len(parents)} joints')
    if np.any(parents >= np.arange(len(parents))):
        raise ValueError('every parent must precede its children (parents[j] < j)')
    out = np.array(local, dtype=np.float64)
    for j, parent in enumerate(parents):
        if parent >= 0:
            out[..., j, :, :] = out[..., parent, :, :] @ out[..., j, :, :]
    return out


def smplx_body_head_rotations(pose: np.ndarray) -> np.ndarray:
    """Global rotations of SMPL-X skeleton joints 0..24 (body, jaw, eyes) in the camera frame.

    pose: (..., 53, 3, 3) rotation matrices in AiOS joint order (:mod:`aios_ros.core.smplx`:
          global_orient, body 21, left hand 15, right hand 15, jaw).
    Returns (..., 25, 3, 3) float64 in SMPL-X skeleton order (pelvis .. right_wrist, jaw,
    left eye, right eye). The eye rotations relative to the head are identity (AiOS predicts
    none). The hand joints are not covered: their rotations include the model's mean hand pose.
    """
    if pose.shape[-3:] != (53, 3, 3):
        raise ValueError(f'pose has shape {pose.shape}, expected (..., 53, 3, 3)')
    eyes = np.broadcast_to(np.eye(3), pose.shape[:-3] + (2, 3, 3))
    local = np.concatenate(
        [
            pose[..., POSE_SLICES['global_orient'], :, :],
            pose[..., POSE_SLICES['body_pose'], :, :],
            pose[..., POSE_SLICES['jaw_pose'], :, :],
            eyes,
        ],
        axis=-3,
    )
    return global_rotations(local, SMPLX_PARENTS[:NUM_BODY_HEAD_JOINTS])
