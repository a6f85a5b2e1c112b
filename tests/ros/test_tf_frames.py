"""TF transforms per tracked person (aios_ros.ros.tf_frames) from real SMPL-X forward kinematics,
checked after a real CDR round trip."""

from __future__ import annotations

import numpy as np
import pytest
from geometry_msgs.msg import TransformStamped
from rclpy.serialization import deserialize_message, serialize_message
from smplx.joint_names import JOINT_NAMES
from std_msgs.msg import Header

from aios_ros.app.settings import Settings
from aios_ros.body.body_model import SmplxBodyModel
from aios_ros.core.config import ConfigError, build
from aios_ros.core.smplx import (
    BODY_HEAD_JOINTS,
    NUM_BODY_HEAD_JOINTS,
    SMPLX_PARENTS,
    check_body_head_joints,
)
from aios_ros.core.types import Bodies
from aios_ros.geometry.kinematic_chain import smplx_body_head_rotations
from aios_ros.geometry.so3 import exp_map, rotation_about
from aios_ros.ros.messages import body_array
from aios_ros.ros.tf_frames import person_transforms

Z = np.array([0.0, 0.0, 1.0])
BETAS = np.random.default_rng(100).normal(size=(1, 10)).astype(np.float32)


@pytest.fixture(scope='module')
def body_model(smplx_dir):
    return SmplxBodyModel.from_smplx_folder(smplx_dir)


def _header():
    h = Header(frame_id='front_color_optical_frame')
    h.stamp.sec, h.stamp.nanosec = 1700000000, 123456789
    return h


def _bodies(body_model, pose, betas, track_ids):
    n = len(pose)
    transl = np.tile(np.array([0.1, -0.2, 3.0], np.float32), (n, 1))
    expression = np.zeros((n, 10), np.float32)
    joints, _ = body_model.joints_and_vertices(pose, betas, expression, transl, False)
    return Bodies(
        scores=np.full(n, 0.9, np.float32),
        boxes=np.zeros((n, 4, 4), np.float32),
        pose=pose.astype(np.float32),
        betas=betas,
        expression=expression,
        transl=transl,
        keypoints_2d=np.zeros((n, joints.shape[1], 2), np.float32),
        joints_3d=joints,
        track_ids=None if track_ids is None else np.asarray(track_ids, np.int64),
        track_states=None if track_ids is None else np.full(n, 2, np.uint8),
    )


def _random_bodies(body_model, n, seed, track_ids):
    rng = np.random.default_rng(seed)
    pose = exp_map(rng.normal(scale=0.6, size=(n, 53, 3)))
    betas = np.tile(BETAS, (n, 1))  # one shape for every pose: the bones stay the same
    return _bodies(body_model, pose, betas, track_ids)


def _matrix(q):
    """Rotation matrix of a geometry_msgs Quaternion (x, y, z, w), written out independently."""
    x, y, z, w = q.x, q.y, q.z, q.w
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _round_trip(transforms):
    return [deserialize_message(serialize_message(t), TransformStamped) for t in transforms]


def _translation(t):
    v = t.transform.translation
    return np.array([v.x, v.y, v.z])


def test_joint_names_are_the_official_smplx_skeleton_names():
    assert BODY_HEAD_JOINTS == tuple(JOINT_NAMES[:NUM_BODY_HEAD_JOINTS])
    assert {'pelvis', 'head', 'jaw', 'left_wrist'} <= set(BODY_HEAD_JOINTS)


def test_one_transform_per_person_and_joint(body_model):
    bodies = _random_bodies(body_model, 3, seed=0, track_ids=[7, 2**32 + 9, 12])
    joints = ['pelvis', 'head', 'right_wrist', 'jaw']
    header = _header()
    out = _round_trip(person_transforms(bodies, header, joints, 'aios/'))
    assert [t.child_frame_id for t in out] == [
        f'aios/{track}/{joint}' for track in (7, 9, 12) for joint in joints
    ]  # the uint32 ids of SmplxBody.track_id
    assert all(t.header == header for t in out)
    rotations = smplx_body_head_rotations(bodies.pose.astype(np.float64))
    msg = body_array(bodies, header, 0, 0, 0)
    for k, t in enumerate(out):
        person, joint = divmod(k, len(joints))
        j = BODY_HEAD_JOINTS.index(joints[joint])
        published = np.reshape(msg.bodies[person].joints_3d, (-1, 3))[j]
        np.testing.assert_allclose(_translation(t), published, rtol=0, atol=1e-4)
        q = t.transform.rotation
        assert abs(np.linalg.norm([q.x, q.y, q.z, q.w]) - 1.0) < 1e-9
        np.testing.assert_allclose(_matrix(q), rotations[person, j], atol=1e-5)


def test_frames_are_the_skeletons_bones_in_any_pose(body_model):
    # In its parent's frame a child joint sits at the rest-pose bone, whatever the pose: the
    # transforms are a consistent SMPL-X skeleton, not just positions with some rotation.
    pairs = [(j, int(SMPLX_PARENTS[j])) for j in range(1, NUM_BODY_HEAD_JOINTS)]
    names = list(BODY_HEAD_JOINTS)

    def bones(seed):
        out = person_transforms(_random_bodies(body_model, 1, seed, [1]), _header(), names, '')
        frames = {t.child_frame_id.split('/')[1]: t for t in out}
        result = []
        for child, parent in pairs:
            p, c = frames[BODY_HEAD_JOINTS[parent]], frames[BODY_HEAD_JOINTS[child]]
            result.append(_matrix(p.transform.rotation).T @ (_translation(c) - _translation(p)))
        return np.array(result)

    first, second = bones(1), bones(2)
    np.testing.assert_allclose(first, second, atol=2e-5)
    assert np.linalg.norm(first, axis=1).min() > 0.005  # every bone has a length


def test_hand_computed_root_rotation(body_model):
    pose = np.broadcast_to(np.eye(3), (1, 53, 3, 3)).copy()
    pose[0, 0] = rotation_about(Z, np.pi / 2)
    bodies = _bodies(body_model, pose, np.zeros((1, 10), np.float32), [3])
    (pelvis, head) = person_transforms(bodies, _header(), ['pelvis', 'head'], 'p/')
    for t in (pelvis, head):  # nothing but the root turns
        q = t.transform.rotation
        np.testing.assert_allclose(
            [q.x, q.y, q.z, q.w], [0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)], atol=1e-6
        )


def test_untracked_and_non_finite_people_give_no_frames(body_model):
    bodies = _random_bodies(body_model, 3, seed=3, track_ids=None)
    assert person_transforms(bodies, _header(), ['pelvis'], 'aios/') == []
    bodies = _random_bodies(body_model, 3, seed=3, track_ids=[1, 2, 3])
    bodies.pose[0, 3] = np.nan  # spine1: in the head's chain
    bodies.joints_3d[2, BODY_HEAD_JOINTS.index('pelvis'), 1] = np.inf
    out = person_transforms(bodies, _header(), ['pelvis', 'head'], 'aios/')
    assert [t.child_frame_id for t in out] == ['aios/2/pelvis', 'aios/2/head']
    # a NaN outside the chosen joints' chains does not hide the person
    bodies.pose[1, 30] = np.nan  # a left-hand joint
    assert len(person_transforms(bodies, _header(), ['pelvis', 'head'], 'aios/')) == 2
    assert person_transforms(Bodies.empty(144), _header(), ['pelvis'], 'aios/') == []


def test_unknown_or_repeated_joints_and_missing_frame_are_rejected(body_model):
    check_body_head_joints(['pelvis', 'head'], 'TF frames')
    check_body_head_joints([], 'TF frames')
    with pytest.raises(ValueError, match="unknown SMPL-X joint 'left_index1'"):
        check_body_head_joints(['pelvis', 'left_index1'], 'TF frames')
    with pytest.raises(ValueError, match="'head' is listed twice"):
        check_body_head_joints(['head', 'pelvis', 'head'], 'TF frames')
    bodies = _random_bodies(body_model, 1, seed=4, track_ids=[1])
    with pytest.raises(ValueError, match="unknown SMPL-X joint 'nose'"):
        person_transforms(bodies, _header(), ['nose'], 'aios/')
    with pytest.raises(ValueError, match='frame_id'):
        person_transforms(bodies, Header(), ['pelvis'], 'aios/')


def test_the_module_does_not_need_tf2_msgs():
    # tf2_msgs is not on PyPI: the node wraps these transforms in a TFMessage behind a guard
    import ast

    import aios_ros.ros.tf_frames as module

    tree = ast.parse(open(module.__file__).read())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or '' for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert names and not any(name.split('.')[0] == 'tf2_msgs' for name in names)


def test_node_tf_frames_parameter_is_checked_when_the_settings_are_built():
    assert build(Settings, {'node': {'tf': {'frames': ['jaw']}}}).node.tf.frames == ('jaw',)
    with pytest.raises(ConfigError, match="node.tf: unknown SMPL-X joint 'left_index1'"):
        build(Settings, {'node': {'tf': {'frames': ['pelvis', 'left_index1']}}})
