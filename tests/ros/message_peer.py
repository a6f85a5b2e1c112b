"""Child processes for the two-process message tests: a publisher, a subscriber, or both.

    python message_peer.py pair --prefix P --frames N --out result.json   # both; prints latencies
    python message_peer.py sub --prefix P --frames N --out result.json
    python message_peer.py pub --prefix P --frames N [--period 0.05]

Frame i is a 10-person SmplxBodyArray (seed i) and a 640x480 bgr8 Image (seed 1000 + i), both
stamped with the wall clock right before publishing. The subscriber stores the arrival times,
checks every message against its own copy built from the same seeds and writes a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import rclpy
from message_samples import differences, make_body_array, make_image
from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from aios_ros.msg import SmplxBodyArray

NUM_BODIES = 10
IMAGE_SEED = 1000
WARMUP_FRAMES = 5  # left out of the latency summary (first matches, page faults)


def qos(frames: int) -> QoSProfile:
    """Reliable, with history for every frame, so that each message arrives once and in order."""
    return QoSProfile(
        depth=frames,
        reliability=ReliabilityPolicy.RELIABLE,
        history=HistoryPolicy.KEEP_LAST,
        durability=DurabilityPolicy.VOLATILE,
    )


def stamp_ns(header) -> int:
    return header.stamp.sec * 10**9 + header.stamp.nanosec


def subscribe(args: argparse.Namespace) -> int:
    rclpy.init()
    node = rclpy.create_node('message_peer_sub')
    received = {'bodies': [], 'image': []}  # (arrival ns, message)

    def keep(topic):
        return lambda msg: received[topic].append((time.time_ns(), msg))

    node.create_subscription(
        SmplxBodyArray, f'{args.prefix}/bodies', keep('bodies'), qos(args.frames)
    )
    node.create_subscription(Image, f'{args.prefix}/image', keep('image'), qos(args.frames))
    print('READY', flush=True)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline and min(map(len, received.values())) < args.frames:
        rclpy.spin_once(node, timeout_sec=0.05)
    node.destroy_node()
    rclpy.shutdown()

    mismatches = []
    for i, (_, msg) in enumerate(received['bodies']):
        mismatches += differences(
            msg,
            make_body_array(i, NUM_BODIES),
            f'bodies[{i}]',
            ignore=(f'bodies[{i}].header.stamp',),
        )
    for i, (_, msg) in enumerate(received['image']):
        mismatches += differences(
            msg, make_image(IMAGE_SEED + i), f'image[{i}]', ignore=(f'image[{i}].header.stamp',)
        )
    latency = {
        topic: [(t - stamp_ns(m.header)) / 1e6 for t, m in items]
        for topic, items in received.items()
    }
    latency['pair'] = [max(b, i) for b, i in zip(latency['bodies'], latency['image'])]
    with open(args.out, 'w') as f:
        json.dump(
            {
                'received': {k: len(v) for k, v in received.items()},
                'mismatches': mismatches[:20],
                'latency_ms': latency,
            },
            f,
        )
    return 0


def publish(args: argparse.Namespace) -> int:
    rclpy.init()
    node = rclpy.create_node('message_peer_pub')
    publishers = (
        node.create_publisher(SmplxBodyArray, f'{args.prefix}/bodies', qos(args.frames)),
        node.create_publisher(Image, f'{args.prefix}/image', qos(args.frames)),
    )
    deadline = time.monotonic() + args.timeout
    while any(p.get_subscription_count() < 1 for p in publishers):
        if time.monotonic() > deadline:
            print('no subscriber matched', file=sys.stderr)
            return 2
        time.sleep(0.05)
    time.sleep(0.5)  # discovery is asymmetric: let the subscriber match the writers too
    start = time.monotonic()
    for i in range(args.frames):
        messages = (make_body_array(i, NUM_BODIES), make_image(IMAGE_SEED + i))
        now = time.time_ns()
        for publisher, msg in zip(publishers, messages):
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 10**9)
            publisher.publish(msg)
        time.sleep(max(0.0, start + (i + 1) * args.period - time.monotonic()))
    acked = all(p.wait_for_all_acked(Duration(seconds=10)) for p in publishers)
    node.destroy_node()
    rclpy.shutdown()
    return 0 if acked else 4


def pair(args: argparse.Namespace) -> int:
    """Runs the subscriber and the publisher as two processes; exit 0 if both succeeded."""
    command = [sys.executable, __file__]
    common = [
        '--prefix',
        args.prefix,
        '--frames',
        str(args.frames),
        '--period',
        str(args.period),
        '--timeout',
        str(args.timeout),
    ]
    subscriber = subprocess.Popen(
        command + ['sub', *common, '--out', args.out], stdout=subprocess.PIPE, text=True
    )
    try:
        ready = subscriber.stdout.readline().strip()
        if ready != 'READY':
            print(f'subscriber did not start: {ready!r}', file=sys.stderr)
            return 1
        publisher = subprocess.run(command + ['pub', *common], timeout=2 * args.timeout)
        sub_code = subscriber.wait(timeout=2 * args.timeout)
    finally:
        subscriber.kill()
        subscriber.wait()
    print(f'publisher exit {publisher.returncode}, subscriber exit {sub_code}', file=sys.stderr)
    if publisher.returncode != 0 or sub_code != 0:
        return 1
    with open(args.out) as f:
        latency = {k: np.asarray(v[WARMUP_FRAMES:]) for k, v in json.load(f)['latency_ms'].items()}
    if all(len(v) for v in latency.values()):
        print(
            f'two-process latency over {len(latency["pair"])} frames, ms (median / p99): '
            + ', '.join(
                f'{name} {np.median(latency[key]):.2f} / {np.percentile(latency[key], 99):.2f}'
                for key, name in (
                    ('bodies', f'{NUM_BODIES}-person SmplxBodyArray'),
                    ('image', '640x480 bgr8 Image'),
                    ('pair', 'both'),
                )
            )
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('role', choices=('pair', 'pub', 'sub'))
    parser.add_argument('--prefix', required=True, help='topic namespace')
    parser.add_argument('--frames', type=int, required=True)
    parser.add_argument('--period', type=float, default=0.05, help='publishing period, s')
    parser.add_argument('--timeout', type=float, default=30.0, help='s')
    parser.add_argument('--out', help='result JSON (sub, pair)')
    args = parser.parse_args()
    return {'pair': pair, 'pub': publish, 'sub': subscribe}[args.role](args)


if __name__ == '__main__':
    sys.exit(main())
