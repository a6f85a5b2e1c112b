"""The largest frame the node admits crosses a process boundary intact (bundled Fast DDS profile).

In one process Fast DDS hands samples over without a transport, so the camera here is a child
process: it publishes 4096 x 4096 bgr8 frames (``node.max_pixels``, 48 MiB each) reliably, as a
camera driver does, and the node subscribes best effort as it always does. With the earlier
profile (16 MiB segments, 512-fragment port queue) such frames were lost in transport; a camera
that still uses such a profile loses them, and the node counts what the middleware reports lost.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
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
CAMERA = (
    """
import array, sys, time
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
ns, first, frames, period = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
rclpy.init()
node = rclpy.create_node('big_camera')
reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
pub = node.create_publisher(Image, f'/{ns}/image', reliable)
deadline = time.monotonic() + 30
while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
    time.sleep(0.1)
time.sleep(1.0)  # let the node's endpoint finish matching both ways
side = %d
data = array.array('B', bytes([100]) * (side * side * 3))  # blue 100: two people
for i in range(frames):
    msg = Image(height=side, width=side, encoding='bgr8', step=side * 3, data=data)
    msg.header.stamp.sec = first + i
    pub.publish(msg)
    time.sleep(period)
time.sleep(1.0)
node.destroy_node()
rclpy.shutdown()
"""
    % SIDE
)


class Stack:
    """The node (test estimator) under ``ns`` and a probe recording the stamps of its bodies."""

    def __init__(self, ns: str) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = start(AiosNode(CountingEstimator(), namespace=ns, context=self.context))
        self.fqn = self.node.get_fully_qualified_name()
        self.probe = Node(f'{ns}_probe', context=self.context)
        self.stamps: list[int] = []
        self.diagnostics: list = []
        self.probe.create_subscription(
            DiagnosticArray, '/diagnostics', self.diagnostics.append, qos.DIAGNOSTICS
        )
        self.probe.create_subscription(
            SmplxBodyArray,
            f'/{ns}/bodies',
            lambda m: self.stamps.append(m.header.stamp.sec),
            qos.BODIES,
        )
        self.executor = SingleThreadedExecutor(context=self.context)
        for n in (self.node, self.probe):
            self.executor.add_node(n)
        self.spinner = threading.Thread(target=self.executor.spin, daemon=True)
        self.spinner.start()

    def camera(self, ns: str, first: int, frames: int, period_s: float, env=None) -> None:
        """Run the camera process to its end: ``frames`` frames stamped ``first``, ``first+1``.."""
        camera = subprocess.run(
            [sys.executable, '-c', CAMERA, ns, str(first), str(frames), str(period_s)],
            capture_output=True,
            text=True,
            timeout=90,
            env=env,
        )
        assert camera.returncode == 0, camera.stderr

    def statuses(self) -> list[DiagnosticStatus]:
        return [s for a in self.diagnostics for s in a.status if s.hardware_id == self.fqn]

    def latest_status(self) -> dict[str, str]:
        """The values of the node's latest /diagnostics status."""
        return {kv.key: kv.value for kv in self.statuses()[-1].values}

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.probe.destroy_node()
        rclpy.shutdown(context=self.context)
        self.spinner.join(timeout=5.0)


def test_frames_of_max_pixels_cross_processes_without_loss():
    assert SIDE * SIDE == NodeConfig().max_pixels
    stack = Stack('big')
    try:
        stack.camera('big', 1, FRAMES, 1.5)
        deadline = time.monotonic() + 10
        while len(stack.stamps) < FRAMES and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stack.stamps == list(range(1, FRAMES + 1))
        time.sleep(1.5)  # one more diagnostics period
        assert 'dropped.transport_lost' not in stack.latest_status()
        assert all('lost in transport' not in s.message for s in stack.statuses())
    finally:
        stack.close()


def test_frames_a_small_camera_profile_loses_are_counted(tmp_path):
    """The camera's own profile decides: 16 MiB segments (the earlier bundled profile) cannot
    hold a 48 MiB frame, so frames sent in a burst are lost on the way; the middleware reports
    them to the best-effort subscription, and the node counts them and warns."""
    small = tmp_path / 'small_profile.xml'
    small.write_text(
        Path(os.environ['FASTDDS_DEFAULT_PROFILES_FILE'])
        .read_text()
        .replace('<segment_size>67108864<', '<segment_size>16777216<')
        .replace('<port_queue_capacity>2048<', '<port_queue_capacity>512<')
    )
    stack = Stack('lossy')
    env = os.environ | {'FASTDDS_DEFAULT_PROFILES_FILE': str(small)}
    frames, sent, lost = 12, 0, 0
    try:
        # A burst is lost in part nearly always, but how much of it the middleware notices
        # varies; a few bursts make a reported loss certain enough.
        while not lost and sent < 3 * frames:
            stack.camera('lossy', sent + 1, frames, 0.02, env=env)
            sent += frames
            time.sleep(2.5)  # the last frames' processing and one more diagnostics period
            lost = int(stack.latest_status().get('dropped.transport_lost', 0))
        received = int(stack.latest_status()['frames_received'])
        assert lost >= 1 and received + lost <= sent, (lost, received, sent)
        warned = [s for s in stack.statuses() if 'lost in transport' in s.message]
        assert warned and warned[0].level == DiagnosticStatus.WARN
    finally:
        stack.close()
