"""The two ROS processes of the end-to-end benchmark (bench_e2e.py starts them).

publisher:  plays the sample's CompressedImage + CameraInfo over DDS at a fixed rate, restamping
            every header with the current time (so latency = receipt time - header stamp on one
            clock), and prints one JSON line per phase with the stamps it published.
subscriber: records (header stamp, receipt time, stream, people) of every SmplxBodyArray and the
            node's latest /diagnostics values; writes them as JSON when it gets SIGINT.
"""

from __future__ import annotations

import array
import json
import signal
import sys
import time
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import CameraInfo, CompressedImage

from aios_ros.msg import SmplxBodyArray
from aios_ros.ros.stamps import stamp_ns
from aios_ros.synthetic.sample_bag import IMAGE_TOPIC, INFO_TOPIC

BODIES, FUSED = '/bodies', '/bodies_fused'
SENSOR = QoSProfile(
    depth=5, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT
)
RELIABLE = QoSProfile(
    depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE
)


def load_frames(bag: Path) -> tuple[list[bytes], object]:
    """JPEG payloads of the sample bag in order, and its first CameraInfo (rosbags object)."""
    store = get_typestore(Stores.ROS2_KILTED)
    jpegs, info = [], None
    with Reader(bag) as reader:
        for conn, _, raw in reader.messages():
            msg = store.deserialize_cdr(raw, conn.msgtype)
            if conn.topic == IMAGE_TOPIC:
                jpegs.append(bytes(msg.data))
            elif conn.topic == INFO_TOPIC and info is None:
                info = msg
    return jpegs, info


def run_publisher(bag: Path, phases: list[tuple[float, int]]) -> None:
    """Publish ``count`` frames at ``rate`` Hz for each (rate, count) phase."""
    jpegs, info = load_frames(bag)
    node = rclpy.create_node('aios_bench_publisher')
    image_pub = node.create_publisher(CompressedImage, IMAGE_TOPIC, SENSOR)
    info_pub = node.create_publisher(CameraInfo, INFO_TOPIC, SENSOR)
    while image_pub.get_subscription_count() < 1:  # the node subscribes once its model is built
        time.sleep(0.1)
    time.sleep(1.0)  # let the node's side match us too
    frame = 0
    for rate, count in phases:
        stamps = []
        t_next = time.monotonic()
        for _ in range(count):
            stamp = node.get_clock().now().to_msg()
            cam = CameraInfo(
                height=info.height,
                width=info.width,
                distortion_model=info.distortion_model,
                d=list(info.d),
                k=list(info.k),
                r=list(info.r),
                p=list(info.p),
            )
            cam.header.stamp, cam.header.frame_id = stamp, 'camera_optical_frame'
            img = CompressedImage(format='jpeg')
            img.header.stamp.sec, img.header.stamp.nanosec = stamp.sec, stamp.nanosec
            img.header.frame_id = 'camera_optical_frame'
            img.data = array.array('B', jpegs[frame % len(jpegs)])
            info_pub.publish(cam)
            image_pub.publish(img)
            stamps.append(stamp.sec * 10**9 + stamp.nanosec)
            frame += 1
            t_next += 1.0 / rate
            time.sleep(max(0.0, t_next - time.monotonic()))
        print(json.dumps({'rate_hz': rate, 'stamps_ns': stamps}), flush=True)
    node.destroy_node()


def run_subscriber(out: Path) -> None:
    """Record outputs until SIGINT, then write ``out``."""
    node = rclpy.create_node('aios_bench_subscriber')
    records, diagnostics = [], {}

    def on_bodies(msg: SmplxBodyArray) -> None:
        now = node.get_clock().now().nanoseconds
        records.append((stamp_ns(msg.header), now, int(msg.stream), len(msg.bodies)))

    def on_diag(msg: DiagnosticArray) -> None:
        for status in msg.status:
            diagnostics.update({kv.key: kv.value for kv in status.values})

    subs = [
        node.create_subscription(SmplxBodyArray, topic, on_bodies, RELIABLE)
        for topic in (BODIES, FUSED)
    ]
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diag, RELIABLE)
    stop = {'now': False}
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    announced = False
    while not stop['now']:
        rclpy.spin_once(node, timeout_sec=0.1)
        if not announced and subs[0].get_publisher_count() > 0:
            print('READY', flush=True)
            announced = True
    out.write_text(json.dumps({'records': records, 'diagnostics': diagnostics}))
    node.destroy_node()


def main(argv: list[str]) -> int:
    """``publisher BAG RATE:COUNT [RATE:COUNT ...]`` or ``subscriber OUT.json``."""
    rclpy.init()
    try:
        if argv[0] == 'publisher':
            phases = [(float(r), int(c)) for r, c in (p.split(':') for p in argv[2:])]
            run_publisher(Path(argv[1]), phases)
        else:
            run_subscriber(Path(argv[1]))
    finally:
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    raise SystemExit(main(sys.argv[1:]))
