"""What the in-process node tests share: start a node as ``main`` does, wait for a condition, a
probe that publishes a camera's inputs and records its outputs, and test images."""

from __future__ import annotations

import array
import time

import cv2
import numpy as np
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from aios_ros.msg import BodyModelInfo, SmplxBodyArray
from aios_ros.node.node import AiosNode
from aios_ros.ros import qos

TIMEOUT_S = 10.0


def start(node: AiosNode) -> AiosNode:
    """What ``node.autostart`` does in ``main``: configure, then activate."""
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    return node


def wait_for(predicate, timeout_s: float = TIMEOUT_S, what: str = 'condition'):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f'timed out waiting for {what}')


class Probe:
    """Publishes inputs to one node namespace and records its outputs (by topic)."""

    def __init__(self, node: Node, ns: str, compressed: bool) -> None:
        self.node, self.ns, self.received = node, ns, {}
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        kind = CompressedImage if compressed else Image
        topic = f'{ns}/image/compressed' if compressed else f'{ns}/image'
        self.image_pub = node.create_publisher(kind, topic, reliable)
        self.info_pub = node.create_publisher(CameraInfo, f'{ns}/camera_info', reliable)
        for name, msg_type, profile in [
            ('bodies', SmplxBodyArray, qos.BODIES),
            ('bodies_fused', SmplxBodyArray, qos.BODIES),
            ('body_model_info', BodyModelInfo, qos.MODEL_INFO),
        ]:
            self.listen(name, msg_type, profile)

    def listen(self, name: str, msg_type, profile) -> None:
        self.received[name] = []
        self.node.create_subscription(
            msg_type, f'{self.ns}/{name}', lambda m, n=name: self.received[n].append(m), profile
        )

    def output_for(self, topic: str, stamp_sec: int):
        """Wait for the output on ``topic`` whose header stamp has ``stamp_sec`` seconds."""
        return wait_for(
            lambda: next(
                (m for m in self.received[topic] if m.header.stamp.sec == stamp_sec), None
            ),
            what=f'{self.ns}/{topic} for stamp {stamp_sec}',
        )


def raw_image(stamp_sec: int, blue: int, h: int = 48, w: int = 64) -> Image:
    msg = Image(height=h, width=w, encoding='bgr8', is_bigendian=0, step=w * 3)
    msg.header.frame_id = 'cam_optical'
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp_sec, 123456789
    pixels = np.zeros((h, w, 3), np.uint8)
    pixels[..., 0] = blue
    msg.data = array.array('B', pixels.tobytes())
    return msg


def compressed_image(stamp_sec: int, blue: int, ext: str = '.jpg') -> CompressedImage:
    pixels = np.zeros((48, 64, 3), np.uint8)
    pixels[..., 0] = blue
    msg = CompressedImage(format='jpeg' if ext == '.jpg' else 'png')
    msg.header.frame_id = 'cam_optical'
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp_sec, 42
    msg.data = array.array('B', cv2.imencode(ext, pixels)[1].tobytes())
    return msg
