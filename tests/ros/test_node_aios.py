"""End to end with the real model: the node builds AiosEstimator itself from its ``model.*``
parameters (seeded weights, the synthetic SMPL-X of tests/conftest.py, the smallest input the
network accepts) and turns one published Image into one SmplxBodyArray with the image's header.

Slow on CPU (model build + one frame take tens of seconds on two shared cores), so it is a
single frame; the many-frame behaviour is covered with the test estimator in test_node.py.
"""

from __future__ import annotations

import array
import threading
import time

import numpy as np
import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from aios_ros.msg import BodyModelInfo, SmplxBodyArray
from aios_ros.node.node import AiosNode
from aios_ros.ros import qos

TIMEOUT_S = 240.0
HEIGHT, WIDTH = 240, 320  # the network needs >= 900 encoder tokens: this is about the minimum


def test_real_estimator_end_to_end(smplx_dir):
    torch = pytest.importorskip('torch')
    torch.set_num_threads(2)
    context = Context()
    rclpy.init(context=context)
    node = probe = executor = None
    try:
        node = AiosNode(
            context=context,
            parameter_overrides=[
                Parameter('model.smplx_path', value=str(smplx_dir)),
                Parameter('model.short_side', value=HEIGHT),
                Parameter('model.max_size', value=WIDTH),
                Parameter(
                    'node.fallback_K', value=[300.0, 0.0, 160.0, 0.0, 300.0, 120.0, 0.0, 0.0, 1.0]
                ),
            ],
        )
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS  # loads the model
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        probe = Node('probe', context=context)
        got: dict = {'bodies': [], 'info': []}
        probe.create_subscription(SmplxBodyArray, 'bodies', got['bodies'].append, qos.BODIES)
        probe.create_subscription(
            BodyModelInfo, 'body_model_info', got['info'].append, qos.MODEL_INFO
        )
        pub = probe.create_publisher(
            Image, 'image', QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        )
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        executor.add_node(probe)
        threading.Thread(target=executor.spin, daemon=True).start()
        image = Image(height=HEIGHT, width=WIDTH, encoding='rgb8', step=WIDTH * 3)
        image.header.frame_id = 'cam_optical'
        image.header.stamp.sec, image.header.stamp.nanosec = 7, 8
        pixels = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        image.data = array.array('B', pixels.tobytes())
        deadline = time.monotonic() + TIMEOUT_S
        while not got['bodies'] and time.monotonic() < deadline:
            if node.count_subscribers('bodies') and pub.get_subscription_count():
                pub.publish(image)  # latest-frame policy: re-sending while busy is harmless
            time.sleep(1.0)
        assert got['bodies'], 'no SmplxBodyArray from the real model'
        out = got['bodies'][0]
        assert out.header == image.header
        assert out.intrinsics_source == SmplxBodyArray.INTRINSICS_PARAMETER
        info = got['info'][0]
        assert info.model_type == 'smplx' and len(info.skeleton_parents) == 55
        assert all(len(b.joints_3d) == 3 * len(info.joint_names) for b in out.bodies)
        assert all(len(b.betas) == info.num_betas for b in out.bodies)
    finally:
        if executor is not None:
            executor.shutdown()
        for n in (node, probe):
            if n is not None:
                n.destroy_node()
        rclpy.shutdown(context=context)
