"""Seeded sample messages and a field-by-field comparison, shared by the tests and their child
processes (tests/ros/message_peer.py)."""

from __future__ import annotations

import array

import numpy as np
from sensor_msgs.msg import Image

from aios_ros.msg import BodyModelInfo, SmplxBody, SmplxBodyArray

NUM_JOINTS = 127  # SMPL-X joints as smplx returns them (55 skeleton + 72 extra)
NUM_BETAS = 10
NUM_EXPRESSION = 10


def packed(values: np.ndarray, typecode: str) -> array.array:
    """A variable-length field value: with ROS_PYTHON_CHECK_FIELDS=1 such fields accept
    array.array (or lists of Python numbers), not numpy arrays; fixed-size fields take numpy."""
    return array.array(typecode, np.ascontiguousarray(values).tobytes())


def make_body(rng: np.random.Generator, track_id: int, num_vertices: int = 0) -> SmplxBody:
    """One body with every field set to seeded values (vertices only if num_vertices > 0)."""

    def floats(n: int, scale: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(n) * scale).astype(np.float32)

    body = SmplxBody()
    body.track_id = track_id
    body.track_state = SmplxBody.TRACK_CONFIRMED
    body.score = float(np.float32(rng.random()))
    body.body_box, body.left_hand_box, body.right_hand_box, body.face_box = (
        (rng.random(4) * 640).astype(np.float32) for _ in range(4)
    )
    body.global_orient = floats(3)
    body.body_pose = floats(63, 0.3)
    body.left_hand_pose = floats(45, 0.3)
    body.right_hand_pose = floats(45, 0.3)
    body.jaw_pose = floats(3, 0.1)
    body.betas = packed(floats(NUM_BETAS), 'f')
    body.expression = packed(floats(NUM_EXPRESSION), 'f')
    body.translation = floats(3)
    body.keypoints_2d = packed(floats(NUM_JOINTS * 2, 300.0), 'f')
    body.joints_3d = packed(floats(NUM_JOINTS * 3), 'f')
    body.vertices = packed(floats(num_vertices * 3), 'f')
    return body


def make_body_array(seed: int, num_bodies: int, num_vertices: int = 0) -> SmplxBodyArray:
    """A fused-stream array of num_bodies seeded bodies; header.stamp is left for the caller."""
    rng = np.random.default_rng(seed)
    msg = SmplxBodyArray()
    msg.header.frame_id = 'camera_color_optical_frame'
    msg.stream = SmplxBodyArray.STREAM_FUSED
    msg.lag_frames = 4
    msg.intrinsics_source = SmplxBodyArray.INTRINSICS_CAMERA_INFO
    msg.bodies = [
        make_body(rng, track_id=2**32 - 1 - i, num_vertices=num_vertices) for i in range(num_bodies)
    ]
    return msg


def make_model_info(seed: int, num_vertices: int = 10475, num_faces: int = 20908) -> BodyModelInfo:
    """A model description the size of SMPL-X (faces alone are 250 kB)."""
    rng = np.random.default_rng(seed)
    msg = BodyModelInfo()
    msg.header.frame_id = 'camera_color_optical_frame'
    msg.model_type = 'smplx'
    msg.num_betas, msg.num_expression = NUM_BETAS, NUM_EXPRESSION
    msg.use_pca, msg.flat_hand_mean = False, True
    msg.joint_names = [f'joint_{i:03d}' for i in range(NUM_JOINTS)]
    msg.num_vertices = num_vertices
    faces = rng.integers(0, num_vertices, num_faces * 3).astype(np.uint32)
    msg.faces = packed(faces, 'I')
    msg.marker_faces = packed(faces[: num_faces // 4 * 3], 'I')
    msg.skeleton_parents = packed(np.r_[-1, rng.integers(0, 54, 54)].astype(np.int32), 'i')
    return msg


def make_image(seed: int, height: int = 480, width: int = 640) -> Image:
    """A bgr8 image of seeded noise (incompressible, like a worst-case camera frame)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    msg = Image()
    msg.header.frame_id = 'camera_color_optical_frame'
    msg.height, msg.width, msg.encoding, msg.step = height, width, 'bgr8', width * 3
    msg.data = pixels.tobytes()
    return msg


def differences(actual, expected, path: str = 'msg', ignore: tuple[str, ...] = ()) -> list[str]:
    """Paths of the fields whose values differ (exact comparison; arrays element-wise)."""
    if hasattr(expected, 'get_fields_and_field_types'):
        if type(actual) is not type(expected):
            return [f'{path}: type {type(actual).__name__} != {type(expected).__name__}']
        found = []
        for name in expected.get_fields_and_field_types():
            field_path = f'{path}.{name}'
            if field_path not in ignore:
                found += differences(
                    getattr(actual, name), getattr(expected, name), field_path, ignore
                )
        return found
    if isinstance(expected, (np.ndarray, array.array, bytes)):
        a, e = np.asarray(actual), np.asarray(expected)
        same = a.dtype == e.dtype and a.shape == e.shape and np.array_equal(a, e)
        return [] if same else [f'{path}: arrays differ ({a.dtype}{a.shape} vs {e.dtype}{e.shape})']
    if isinstance(expected, list):
        if len(actual) != len(expected):
            return [f'{path}: length {len(actual)} != {len(expected)}']
        return [
            d
            for i, (a, e) in enumerate(zip(actual, expected))
            for d in differences(a, e, f'{path}[{i}]', ignore)
        ]
    return [] if actual == expected else [f'{path}: {actual!r} != {expected!r}']
