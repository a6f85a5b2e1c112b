"""The aios_ros messages through real rclpy and Fast DDS: layout, one process, two processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from message_samples import differences, make_body_array, make_model_info

HERE = Path(__file__).resolve().parent


def test_constants_match_the_documented_values():
    from aios_ros.msg import SmplxBody, SmplxBodyArray

    assert (
        SmplxBody.TRACK_UNTRACKED,
        SmplxBody.TRACK_TENTATIVE,
        SmplxBody.TRACK_CONFIRMED,
        SmplxBody.TRACK_COASTING,
    ) == (0, 1, 2, 3)
    assert (SmplxBodyArray.STREAM_RAW, SmplxBodyArray.STREAM_FUSED) == (0, 1)
    assert (
        SmplxBodyArray.INTRINSICS_CAMERA_INFO,
        SmplxBodyArray.INTRINSICS_PARAMETER,
        SmplxBodyArray.INTRINSICS_MODEL_DEFAULT,
    ) == (0, 1, 2)


def test_fixed_arrays_have_the_smplx_sizes_and_fields_are_checked():
    from aios_ros.msg import SmplxBody

    body = SmplxBody()
    sizes = {
        'body_box': 4,
        'left_hand_box': 4,
        'right_hand_box': 4,
        'face_box': 4,
        'global_orient': 3,
        'body_pose': 63,
        'left_hand_pose': 45,
        'right_hand_pose': 45,
        'jaw_pose': 3,
        'translation': 3,
    }
    for name, size in sizes.items():
        value = getattr(body, name)
        assert value.dtype == np.float32 and value.shape == (size,), name
    for name in ('betas', 'expression', 'keypoints_2d', 'joints_3d', 'vertices'):
        assert len(getattr(body, name)) == 0, name
    # ROS_PYTHON_CHECK_FIELDS=1 (conftest, env.sh): without it both would pass silently
    # (the array truncated, the id serialized as 0).
    with pytest.raises(AssertionError):
        body.body_pose = np.zeros(66, np.float32)
    with pytest.raises(AssertionError):
        body.track_id = 2**32


def _spin_until(executor, condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)


def test_round_trip_in_one_process(ros_context):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from aios_ros.msg import SmplxBodyArray

    node = rclpy.create_node('round_trip', context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    received = []
    node.create_subscription(SmplxBodyArray, 'round_trip/bodies', received.append, qos)
    publisher = node.create_publisher(SmplxBodyArray, 'round_trip/bodies', qos)
    _spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    sent = [
        make_body_array(seed=1, num_bodies=3, num_vertices=500),
        make_body_array(seed=2, num_bodies=0),
    ]
    for msg in sent:
        msg.header.stamp.sec, msg.header.stamp.nanosec = 1_700_000_000, 999_999_999
        publisher.publish(msg)
    _spin_until(executor, lambda: len(received) == len(sent))
    executor.shutdown()
    node.destroy_node()

    assert len(received) == len(sent)
    for got, want in zip(received, sent):
        assert differences(got, want) == []
    assert len(received[0].bodies[0].vertices) == 500 * 3 and received[1].bodies == []


def test_model_info_reaches_a_late_subscriber(ros_context):
    """BodyModelInfo is published once, transient-local: a subscriber created later gets it."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    from aios_ros.msg import BodyModelInfo

    latched = QoSProfile(
        depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
    )
    publisher_node = rclpy.create_node('model_info_pub', context=ros_context)
    sent = make_model_info(seed=3)
    publisher_node.create_publisher(BodyModelInfo, 'round_trip/model_info', latched).publish(sent)
    subscriber_node = rclpy.create_node('model_info_sub', context=ros_context)
    received = []
    subscriber_node.create_subscription(
        BodyModelInfo, 'round_trip/model_info', received.append, latched
    )
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(publisher_node)
    executor.add_node(subscriber_node)
    _spin_until(executor, lambda: received)
    executor.shutdown()

    assert len(received) == 1
    assert differences(received[0], sent) == []


def test_round_trip_across_two_processes(tmp_path, capsys):
    """10-person SmplxBodyArray + 640x480 bgr8 Image per frame, publisher and subscriber in two
    processes (loopback only, private domain: see conftest.py). Prints the latencies; for more
    frames run message_peer.py pair directly."""
    frames = 60
    out = tmp_path / 'result.json'
    command = [
        sys.executable,
        str(HERE / 'message_peer.py'),
        'pair',
        '--frames',
        str(frames),
        '--prefix',
        f'two_proc_{os.getpid()}',
        '--out',
        str(out),
        '--timeout',
        '40',
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())

    assert result['received'] == {'bodies': frames, 'image': frames}
    assert result['mismatches'] == []
    with capsys.disabled():
        print('\n' + run.stdout.strip())
