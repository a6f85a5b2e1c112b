"""Pure builders: core data (``Bodies``, body model) -> ``aios_ros.msg`` messages.

No node state is used here, so the live node and the offline replay tool publish identical
messages for identical input. Large variable-length arrays are assigned as ``array.array``
(fast, and accepted when ``ROS_PYTHON_CHECK_FIELDS=1``; numpy arrays are not); fixed-size
arrays as float32 numpy arrays of exactly the declared size.
"""

from __future__ import annotations

import array
from typing import Optional

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from aios_ros.core.smplx import NUM_BETAS, NUM_EXPRESSION, POSE_SLICES
from aios_ros.core.types import Bodies, BodyModel, IntrinsicsSource, TrackState
from aios_ros.geometry.so3 import log_map
from aios_ros.msg import BodyModelInfo, SmplxBody, SmplxBodyArray

STREAM_RAW = SmplxBodyArray.STREAM_RAW
STREAM_FUSED = SmplxBodyArray.STREAM_FUSED
# AiOS runs SMPL-X with full axis-angle hands and the model's mean hand pose added.
USE_PCA = False
FLAT_HAND_MEAN = False


def copy_header(header: Header) -> Header:
    """A new Header with the same stamp and frame_id.

    rclpy assigns nested messages by reference, so ``out.header = msg.header`` would share one
    object between the input and every output built from it.
    """
    out = Header(frame_id=str(header.frame_id))
    out.stamp.sec, out.stamp.nanosec = int(header.stamp.sec), int(header.stamp.nanosec)
    return out


def bgr_image(image: np.ndarray, header: Header) -> Image:
    """A ``bgr8`` Image message of (H, W, 3) uint8 ``image`` with a copy of ``header``."""
    msg = Image(
        header=copy_header(header),
        height=image.shape[0],
        width=image.shape[1],
        encoding='bgr8',
        is_bigendian=0,
        step=image.shape[1] * 3,
    )
    msg.data = array.array('B', image.tobytes())
    return msg


def _floats(values: np.ndarray) -> array.array:
    return array.array('f', np.ascontiguousarray(values, np.float32).tobytes())


def _fixed(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, np.float32).reshape(-1)


def body_array(
    bodies: Bodies,
    header: Header,
    stream: int,
    lag_frames: int,
    intrinsics_source: IntrinsicsSource,
    with_vertices: bool = False,
) -> SmplxBodyArray:
    """One ``SmplxBodyArray`` for the people of one frame (N may be 0).

    Parameters
    ----------
    bodies: the people, arrays in the units and frames of :class:`Bodies` (rotation matrices
        are converted to axis-angle, radians).
    header: header of the input image these bodies were estimated on (copied, not aliased).
    stream: ``STREAM_RAW`` or ``STREAM_FUSED``; lag_frames: output delay in input frames.
    intrinsics_source: where the camera matrix used for these bodies came from.
    with_vertices: fill ``vertices`` when ``bodies.vertices`` is available.
    """
    msg = SmplxBodyArray(
        header=copy_header(header),
        stream=int(stream),
        lag_frames=int(lag_frames),
        intrinsics_source=int(intrinsics_source),
    )
    axis_angle = log_map(np.asarray(bodies.pose, np.float64)).astype(np.float32)  # (N, 53, 3)
    vertices = bodies.vertices if with_vertices else None
    msg.bodies = [_body(bodies, i, axis_angle[i], vertices) for i in range(len(bodies))]
    return msg


def _body(
    bodies: Bodies, i: int, axis_angle: np.ndarray, vertices: Optional[np.ndarray]
) -> SmplxBody:
    """SmplxBody for person ``i``; ``axis_angle`` is its (53, 3) pose."""
    body = SmplxBody(score=float(bodies.scores[i]))
    if bodies.track_ids is not None:
        body.track_id = int(bodies.track_ids[i]) & 0xFFFFFFFF
        body.track_state = int(bodies.track_states[i])
    else:
        body.track_state = int(TrackState.UNTRACKED)
    boxes = bodies.boxes[i]
    body.body_box, body.left_hand_box = _fixed(boxes[0]), _fixed(boxes[1])
    body.right_hand_box, body.face_box = _fixed(boxes[2]), _fixed(boxes[3])
    for name, part in POSE_SLICES.items():
        setattr(body, name, _fixed(axis_angle[part]))
    body.betas = _floats(bodies.betas[i])
    body.expression = _floats(bodies.expression[i])
    body.translation = _fixed(bodies.transl[i])
    body.keypoints_2d = _floats(bodies.keypoints_2d[i])
    body.joints_3d = _floats(bodies.joints_3d[i])
    if vertices is not None:
        body.vertices = _floats(vertices[i])
    return body


def body_model_info(
    body_model: BodyModel, marker_faces: np.ndarray, header: Header
) -> BodyModelInfo:
    """The static ``BodyModelInfo`` (published once, transient-local).

    marker_faces: (F', 3) vertex indices of the decimated mesh drawn in RViz.
    """
    faces = np.asarray(body_model.faces)
    return BodyModelInfo(
        header=copy_header(header),
        model_type='smplx',
        num_betas=NUM_BETAS,
        num_expression=NUM_EXPRESSION,
        use_pca=USE_PCA,
        flat_hand_mean=FLAT_HAND_MEAN,
        joint_names=[str(n) for n in body_model.joint_names],
        num_vertices=int(faces.max()) + 1 if faces.size else 0,
        faces=array.array('I', faces.astype(np.uint32).tobytes()),
        marker_faces=array.array('I', np.asarray(marker_faces, np.uint32).tobytes()),
        skeleton_parents=array.array(
            'i', np.asarray(body_model.skeleton_parents(), np.int32).tobytes()
        ),
    )
