"""SMPL-X layout as AiOS uses it: pose joints, their parameter slices, shape sizes, the skeleton.

Pose joints are kept in AiOS order: ``[global_orient, body 21, left hand 15, right hand 15, jaw]``
= 53 joints (the eyes are always zero in AiOS). The skeleton is the 55-joint SMPL-X kinematic tree
(the 53 pose joints plus both eyes), in the order of ``smplx.joint_names.JOINT_NAMES[:55]``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

NUM_POSE_JOINTS = 53
POSE_SLICES = {
    'global_orient': slice(0, 1),
    'body_pose': slice(1, 22),
    'left_hand_pose': slice(22, 37),
    'right_hand_pose': slice(37, 52),
    'jaw_pose': slice(52, 53),
}
#: AiOS runs SMPL-X with 10 shape and 10 expression coefficients.
NUM_BETAS = 10
NUM_EXPRESSION = 10
#: [body, left hand, right hand, face]: the part boxes of every person, in this order
BOX_NAMES = ('body', 'left_hand', 'right_hand', 'face')
NUM_SKELETON_JOINTS = 55
#: skeleton joints 0..24 (pelvis .. right wrist, jaw, both eyes): their local rotations are the
#: predicted pose itself, whereas SMPL-X adds the model's mean hand pose to the 30 hand joints
NUM_BODY_HEAD_JOINTS = 25
#: their official smplx names, in skeleton order (also the order of the first joints of
#: ``joints_3d``): the joints whose global rotation follows from the predicted pose alone
# fmt: off
BODY_HEAD_JOINTS: tuple[str, ...] = (
    'pelvis', 'left_hip', 'right_hip', 'spine1', 'left_knee', 'right_knee', 'spine2',
    'left_ankle', 'right_ankle', 'spine3', 'left_foot', 'right_foot', 'neck', 'left_collar',
    'right_collar', 'head', 'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist', 'jaw', 'left_eye_smplhf', 'right_eye_smplhf',
)
# fmt: on
#: parent of each skeleton joint, -1 for the root (pelvis)
# fmt: off
SMPLX_PARENTS = np.array(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
     20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
     21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53], dtype=np.int64)
# fmt: on


def check_body_head_joints(names: Sequence[str], purpose: str) -> None:
    """Raise ValueError naming the first of ``names`` not in ``BODY_HEAD_JOINTS`` or repeated.

    purpose: what the joints are chosen for, e.g. ``'TF frames'`` (it goes into the message).
    """
    for i, name in enumerate(names):
        if name not in BODY_HEAD_JOINTS:
            accepted = ', '.join(BODY_HEAD_JOINTS)
            raise ValueError(f'unknown SMPL-X joint {name!r} for {purpose} (accepted: {accepted})')
        if name in names[:i]:
            raise ValueError(f'SMPL-X joint {name!r} is listed twice for {purpose}')
