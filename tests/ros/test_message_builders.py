"""Bodies -> SmplxBodyArray / BodyModelInfo builders (aios_ros.ros.messages), checked field by
field after a real CDR round trip."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header

from aios_ros.core.types import Camera, IntrinsicsSource, TrackState
from aios_ros.geometry.so3 import exp_map
from aios_ros.msg import BodyModelInfo, SmplxBody, SmplxBodyArray
from aios_ros.ros.messages import STREAM_FUSED, body_array, body_model_info, copy_header

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimator_double import CountingEstimator  # noqa: E402

CAMERA = Camera(
    np.array([[100.0, 0, 32], [0, 100.0, 24], [0, 0, 1]]), 64, 48, IntrinsicsSource.CAMERA_INFO
)


def round_trip(msg):
    return deserialize_message(serialize_message(msg), type(msg))


@pytest.fixture
def bodies():
    estimator = CountingEstimator()
    b = estimator.estimate(np.full((48, 64, 3), 100, np.uint8), CAMERA)
    rng = np.random.default_rng(3)
    b.pose = exp_map(rng.normal(scale=0.5, size=(2, 53, 3))).astype(np.float32)
    b.track_ids = np.array([5, 2**32 + 6])
    b.track_states = np.array([TrackState.CONFIRMED, TrackState.COASTING], np.uint8)
    b.betas = rng.normal(size=(2, 10)).astype(np.float32)
    return b


def test_body_array_fields(bodies):
    h = Header(frame_id='cam')
    h.stamp.sec, h.stamp.nanosec = 12, 34
    msg = round_trip(body_array(bodies, h, STREAM_FUSED, 2, IntrinsicsSource.CAMERA_INFO, True))
    assert msg.header == h and msg.stream == SmplxBodyArray.STREAM_FUSED and msg.lag_frames == 2
    assert msg.intrinsics_source == SmplxBodyArray.INTRINSICS_CAMERA_INFO
    assert [b.track_id for b in msg.bodies] == [5, 6]  # uint32 wraps explicitly
    assert msg.bodies[1].track_state == SmplxBody.TRACK_COASTING
    aa = np.concatenate(
        [
            msg.bodies[0].global_orient,
            msg.bodies[0].body_pose,
            msg.bodies[0].left_hand_pose,
            msg.bodies[0].right_hand_pose,
            msg.bodies[0].jaw_pose,
        ]
    ).reshape(53, 3)
    np.testing.assert_allclose(exp_map(aa.astype(np.float64)), bodies.pose[0], atol=1e-5)
    body = msg.bodies[0]
    np.testing.assert_array_equal(body.betas, bodies.betas[0])
    np.testing.assert_array_equal(body.translation, bodies.transl[0])
    np.testing.assert_array_equal(body.body_box, bodies.boxes[0, 0])
    np.testing.assert_array_equal(np.reshape(body.joints_3d, (-1, 3)), bodies.joints_3d[0])
    np.testing.assert_array_equal(np.reshape(body.keypoints_2d, (-1, 2)), bodies.keypoints_2d[0])
    np.testing.assert_array_equal(np.reshape(body.vertices, (-1, 3)), bodies.vertices[0])
    assert body.score == pytest.approx(0.9)


def test_vertices_only_when_asked_and_untracked_people(bodies):
    bodies.track_ids = bodies.track_states = None
    msg = round_trip(body_array(bodies, Header(), 0, 0, IntrinsicsSource.PARAMETER, False))
    assert all(
        len(b.vertices) == 0 and b.track_state == SmplxBody.TRACK_UNTRACKED for b in msg.bodies
    )


def test_zero_people_and_header_is_copied(bodies):
    h = Header(frame_id='x')
    msg = body_array(bodies.select(np.zeros(2, bool)), h, 0, 0, IntrinsicsSource.MODEL_DEFAULT)
    assert msg.bodies == [] and msg.header == h and msg.header is not h
    h.stamp.sec = 99
    assert msg.header.stamp.sec == 0
    assert copy_header(h).stamp is not h.stamp


def test_model_info():
    model = CountingEstimator().body_model
    info = round_trip(body_model_info(model, model.faces[:10], Header(frame_id='cam')))
    assert isinstance(info, BodyModelInfo) and info.model_type == 'smplx'
    assert info.num_betas == 10 and info.num_expression == 10 and not info.use_pca
    assert info.num_vertices == len(model.vertices)
    np.testing.assert_array_equal(np.reshape(info.faces, (-1, 3)), model.faces)
    np.testing.assert_array_equal(np.reshape(info.marker_faces, (-1, 3)), model.faces[:10])
    np.testing.assert_array_equal(info.skeleton_parents, model.skeleton_parents())
    assert list(info.joint_names) == model.joint_names
