"""TF frames per tracked person: ``geometry_msgs/TransformStamped`` for chosen SMPL-X joints.

Each transform goes from the camera optical frame (the image header's ``frame_id``) to
``<prefix><track_id>/<joint>``: its translation is the joint's position exactly as the body
messages publish it (``joints_3d``), its rotation the joint's global rotation from the SMPL-X
kinematic chain (:func:`aios_ros.geometry.kinematic_chain.smplx_body_head_rotations`). The
caller wraps the list in a ``tf2_msgs/TFMessage``; this module never imports ``tf2_msgs``, which
is missing where ROS 2 comes from PyPI only.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from geometry_msgs.msg import TransformStamped
from std_msgs.msg import Header

from aios_ros.core.smplx import BODY_HEAD_JOINTS, check_body_head_joints
from aios_ros.core.types import Bodies
from aios_ros.geometry.kinematic_chain import smplx_body_head_rotations
from aios_ros.geometry.rotations import rotmat_to_quaternion
from aios_ros.ros.messages import copy_header


def person_transforms(
    bodies: Bodies, header: Header, joints: Sequence[str], prefix: str
) -> list[TransformStamped]:
    """One transform per tracked person and joint, person by person in ``joints`` order.

    bodies: the people of one frame; without track ids (``track_ids is None``) nobody gets a
        frame. A person with any non-finite position or rotation among ``joints`` is left out.
    header: the input image's header: parent frame and stamp of every transform (copied); an
        empty ``frame_id`` is a ValueError (a transform needs a parent frame).
    joints: names from ``BODY_HEAD_JOINTS`` (ValueError otherwise); prefix: e.g. ``'aios/'``.
    Child frames are ``f'{prefix}{track_id}/{joint}'`` with the uint32 track id of the body
    messages; rotations are unit quaternions.
    """
    check_body_head_joints(joints, 'TF frames')
    if not header.frame_id:
        raise ValueError('the image header has no frame_id: TF frames need the camera frame')
    if bodies.track_ids is None or len(bodies) == 0 or not joints:
        return []
    index = [BODY_HEAD_JOINTS.index(name) for name in joints]
    positions = bodies.joints_3d[:, index]
    rotations = smplx_body_head_rotations(bodies.pose)[:, index]
    wxyz = rotmat_to_quaternion(rotations)
    wxyz /= np.linalg.norm(wxyz, axis=-1, keepdims=True)
    finite = np.isfinite(positions).all(axis=(1, 2)) & np.isfinite(wxyz).all(axis=(1, 2))
    out = []
    for person in np.flatnonzero(finite):
        track = int(bodies.track_ids[person]) & 0xFFFFFFFF  # the id SmplxBody.track_id carries
        for k, name in enumerate(joints):
            t = TransformStamped(
                header=copy_header(header), child_frame_id=f'{prefix}{track}/{name}'
            )
            x, y, z = (float(v) for v in positions[person, k])
            t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (
                x,
                y,
                z,
            )
            w, qx, qy, qz = (float(v) for v in wxyz[person, k])
            q = t.transform.rotation
            q.x, q.y, q.z, q.w = qx, qy, qz, w
            out.append(t)
    return out
