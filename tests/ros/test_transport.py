"""The largest frame the node admits crosses a process boundary intact (bundled Fast DDS profile).

In one process Fast DDS hands samples over without a transport, so the camera here is a child
process: it publishes 4096 x 4096 bgr8 frames (``node.max_pixels``, 48 MiB each) reliably, as a
camera driver does, and the node subscribes best effort as it always does. With the earlier
profile (16 MiB segments, 512-fragment port queue) such frames were lost in transport, uncounted.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from aios_ros.app.settings import NodeConfig
from aios_ros.msg import SmplxBodyArray
from aios_ros.node.node import AiosNode
from aios_ros.ros import qos

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimator_double import CountingEstimator  # noqa: E402

from .test_node import start  # noqa: E402

SIDE = 4096
FRAMES = 3
CAMERA = f"""
import array, time
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
rclpy.init()
node = rclpy.create_node('big_camera')
reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
pub = node.create_publisher(Image, '/big/image', reliable)
deadline = time.monotonic() + 30
while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
    time.sleep(0.1)
time.sleep(1.0)  # let the node's endpoint finish matching both ways
data = array.array('B', bytes([100]) * ({SIDE} * {SIDE} * 3))  # blue 100: two people
for i in range({FRAMES}):
    msg = Image(height={SIDE}, width={SIDE}, encoding='bgr8', step={SIDE} * 3, data=data)
    msg.header.stamp.sec = i + 1
    pub.publish(msg)
    time.sleep(1.5)
time.sleep(1.0)
node.destroy_node()
rclpy.shutdown()
"""


def test_frames_of_max_pixels_cross_processes_without_loss():
    assert SIDE * SIDE == NodeConfig().max_pixels
    context = Context()
    rclpy.init(context=context)
    node = start(AiosNode(CountingEstimator(), namespace='big', context=context))
    probe = Node('big_probe', context=context)
    stamps: list[int] = []
    probe.create_subscription(
        SmplxBodyArray, '/big/bodies', lambda m: stamps.append(m.header.stamp.sec), qos.BODIES
    )
    executor = SingleThreadedExecutor(context=context)
    for n in (node, probe):
        executor.add_node(n)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        camera = subprocess.run(
            [sys.executable, '-c', CAMERA], capture_output=True, text=True, timeout=90
        )
        assert camera.returncode == 0, camera.stderr
        deadline = time.monotonic() + 10
        while len(stamps) < FRAMES and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stamps == list(range(1, FRAMES + 1))
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()
        rclpy.shutdown(context=context)
        spinner.join(timeout=5.0)
