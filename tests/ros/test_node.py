"""The camera node in-process over real rclpy + Fast DDS (loopback, private domain: conftest.py).

Two nodes share one context and executor: ``/raw`` (sensor_msgs/Image, live mode, fallback K
parameter) and ``/comp`` (CompressedImage, replay mode, model-default K). A probe node publishes
inputs and records every output. The estimator is the deterministic test double of
``estimator_double.py``: people count = round(mean blue / 50).
"""

from __future__ import annotations

import array
import importlib.util
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.context import Context
from rclpy.event_handler import SubscriptionEventCallbacks, UnsupportedEventTypeError
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import Marker, MarkerArray

from aios_ros.core.types import IntrinsicsSource
from aios_ros.msg import BodyModelInfo, SmplxBodyArray
from aios_ros.node.node import AiosNode
from aios_ros.ros import qos

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimator_double import CountingEstimator  # noqa: E402
from node_probe import TIMEOUT_S, Probe, compressed_image, raw_image, start, wait_for  # noqa: E402

K_PARAM = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]


@pytest.fixture(scope='module')
def ros():
    context = Context()
    rclpy.init(context=context)

    def params(**values) -> list:
        values = {'tracker.n_init': 1, 'node.diagnostics_period_s': 0.2, **values}
        return [Parameter(k.replace('__', '.'), value=v) for k, v in values.items()]

    raw = start(
        AiosNode(
            CountingEstimator(),
            namespace='raw',
            context=context,
            parameter_overrides=params(node__fallback_K=K_PARAM, node__markers__mesh_faces=100),
        )
    )
    comp = start(
        AiosNode(
            CountingEstimator(),
            namespace='comp',
            context=context,
            parameter_overrides=params(
                node__image_transport='compressed', node__drop_policy='every_frame'
            ),
        )
    )
    probe_node = Node('probe', context=context)
    diagnostics: list = []
    probe_node.create_subscription(
        DiagnosticArray, '/diagnostics', diagnostics.append, qos.DIAGNOSTICS
    )
    probes = {'raw': Probe(probe_node, '/raw', False), 'comp': Probe(probe_node, '/comp', True)}
    executor = SingleThreadedExecutor(context=context)
    for node in (raw, comp, probe_node):
        executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    state = {
        'raw': raw,
        'comp': comp,
        'probe': probe_node,
        'probes': probes,
        'diagnostics': diagnostics,
    }
    for name, make in (('raw', raw_image), ('comp', compressed_image)):
        # Discovery is asymmetric: repeat the first (best-effort) frame until it gets through.
        probe = probes[name]
        wait_for(
            lambda: probe.image_pub.publish(make(1, 0)) or probe.received['bodies'],
            what=f'first output of /{name}',
        )
    yield state
    executor.shutdown()
    for node in (raw, comp, probe_node):
        node.destroy_node()
    rclpy.shutdown(context=context)
    spinner.join(timeout=5.0)


def latest_values(ros, node_name: str) -> dict:
    for array_msg in reversed(ros['diagnostics']):
        for status in array_msg.status:
            if status.hardware_id == f'/{node_name}/aios_node':
                return {kv.key: kv.value for kv in status.values}
    return {}


def counter(ros, node_name: str, key: str) -> int:
    return int(latest_values(ros, node_name).get(key, 0))


def test_image_in_bodies_out_with_the_input_header(ros):
    probe = ros['probes']['raw']
    msg = raw_image(100, 100)
    probe.image_pub.publish(msg)
    out = probe.output_for('bodies', 100)
    assert out.header == msg.header and out.header is not msg.header
    assert out.stream == SmplxBodyArray.STREAM_RAW and out.lag_frames == 0
    assert out.intrinsics_source == SmplxBodyArray.INTRINSICS_PARAMETER
    assert len(out.bodies) == 2
    assert sorted(b.translation[0] for b in out.bodies) == [-0.5, 0.5]
    assert all(len(b.joints_3d) == 55 * 3 and len(b.vertices) == 0 for b in out.bodies)


def test_zero_people_still_publish_one_message(ros):
    probe = ros['probes']['raw']
    probe.image_pub.publish(raw_image(110, 0))
    assert probe.output_for('bodies', 110).bodies == []


def test_fused_stream_is_published_with_its_lag(ros):
    probe = ros['probes']['raw']
    for sec in (120, 121, 122):
        probe.image_pub.publish(raw_image(sec, 50))
        probe.output_for('bodies', sec)
    fused = probe.output_for('bodies_fused', 120)
    assert fused.stream == SmplxBodyArray.STREAM_FUSED and fused.lag_frames == 2
    assert fused.header.frame_id == 'cam_optical' and fused.header.stamp.nanosec == 123456789
    assert len(fused.bodies) == 1


def test_model_info_is_latched(ros):
    late = Node('late_listener', context=ros['probe'].context)
    got = []
    late.create_subscription(BodyModelInfo, '/raw/body_model_info', got.append, qos.MODEL_INFO)
    executor = SingleThreadedExecutor(context=ros['probe'].context)
    executor.add_node(late)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not got and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
    finally:
        executor.shutdown()
        late.destroy_node()
    info = got[0]
    assert info.model_type == 'smplx' and len(info.joint_names) == 55
    assert not info.use_pca and not info.flat_hand_mean
    assert 0 < len(info.marker_faces) <= 3 * 100 < len(info.faces)


def test_compressed_image_in_bodies_out(ros):
    probe = ros['probes']['comp']
    msg = compressed_image(200, 150)
    probe.image_pub.publish(msg)
    out = probe.output_for('bodies', 200)
    assert out.header == msg.header
    assert len(out.bodies) == 3
    assert out.intrinsics_source == SmplxBodyArray.INTRINSICS_MODEL_DEFAULT


def test_camera_info_sets_the_intrinsics_source(ros):
    probe = ros['probes']['comp']
    info = CameraInfo(width=64, height=48)
    info.k = np.array([80.0, 0, 32, 0, 80, 24, 0, 0, 1])
    probe.info_pub.publish(info)
    intrinsics = ros['comp']._cameras[0].processor.intrinsics
    wait_for(
        lambda: intrinsics.camera_for(64, 48).source == IntrinsicsSource.CAMERA_INFO,
        what='CameraInfo received',
    )
    probe.image_pub.publish(compressed_image(210, 50))
    assert (
        probe.output_for('bodies', 210).intrinsics_source == SmplxBodyArray.INTRINSICS_CAMERA_INFO
    )


@pytest.mark.parametrize(
    'k, size, reason',
    [
        ([np.nan, 0, 32, 0, 80, 24, 0, 0, 1], (64, 48), 'non_finite'),
        ([80.0, 0, 32, 0, -80, 24, 0, 0, 1], (64, 48), 'non_positive_focal'),
        ([80.0, 0, 32, 0, 80, 24, 0, 0, 1], (0, 48), 'no_size'),
    ],
)
def test_unusable_camera_info_is_counted_and_outputs_stay_finite(ros, k, size, reason):
    """Over DDS: the rejected CameraInfo is counted by reason and never reaches the outputs
    (the test estimator projects with the frame's K, so an accepted NaN would show)."""
    probe, key = ros['probes']['raw'], f'bad_input.camera_info_{reason}'
    before = counter(ros, 'raw', key)
    info = CameraInfo(width=size[0], height=size[1])
    info.k = np.array(k, np.float64)
    probe.info_pub.publish(info)
    wait_for(lambda: counter(ros, 'raw', key) > before, what=f'{key} counted')
    stamp = 220 + ['non_finite', 'non_positive_focal', 'no_size'].index(reason)
    probe.image_pub.publish(raw_image(stamp, 60))
    out = probe.output_for('bodies', stamp)
    assert out.intrinsics_source != SmplxBodyArray.INTRINSICS_CAMERA_INFO  # the fallback's K
    floats = [
        name
        for name, kind in out.bodies[0].get_fields_and_field_types().items()
        if kind.startswith(('float', 'sequence<float', 'array<float'))
    ]
    assert len(floats) >= 14 and all(
        np.isfinite(np.asarray(getattr(b, f), np.float64)).all() for b in out.bodies for f in floats
    )


def test_replay_mode_processes_every_frame(ros):
    probe = ros['probes']['comp']
    stamps = range(300, 310)
    for sec in stamps:
        probe.image_pub.publish(compressed_image(sec, 50, '.png'))
    for sec in stamps:
        probe.output_for('bodies', sec)


def _feed_bad_then_good(ros, name: str, bad_msg, reason: str, good_stamp: int) -> None:
    probe = ros['probes'][name]
    before = counter(ros, name, f'bad_input.{reason}')
    # stamped just before the good frame: never a re-sent stamp (dropped before decoding),
    # whichever tests ran before
    bad_msg.header.stamp.sec, bad_msg.header.stamp.nanosec = good_stamp, 0
    probe.image_pub.publish(bad_msg)
    wait_for(lambda: counter(ros, name, f'bad_input.{reason}') > before, what=f'{reason} counted')
    make = raw_image if name == 'raw' else compressed_image
    probe.image_pub.publish(make(good_stamp, 100))
    assert len(probe.output_for('bodies', good_stamp).bodies) == 2


def _raw(**fields) -> Image:
    msg = raw_image(1, 100)
    for key, value in fields.items():
        setattr(msg, key, value)
    return msg


@pytest.mark.parametrize(
    'stamp, reason, bad',
    [
        (401, 'unknown_encoding', lambda: _raw(encoding='yuv422_yuy2')),
        (402, 'empty', lambda: _raw(height=0, data=array.array('B'))),
        (403, 'step_mismatch', lambda: _raw(step=64 * 3 + 1)),
        (
            404,
            'non_finite',
            lambda: _raw(
                encoding='32FC1',
                step=64 * 4,
                data=array.array('B', np.full((48, 64), np.nan, '<f4').tobytes()),
            ),
        ),
        # Only the header claims 10k x 10k: the size is refused before the data is looked at
        # (a real 10k x 10k payload goes through the compressed test below).
        (
            405,
            'too_large',
            lambda: _raw(height=10000, width=10000, step=30000, data=array.array('B')),
        ),
        # decodes, but the estimator cannot take a 64 x 4 strip (the double needs 8 x 8)
        (
            406,
            'unusable_size',
            lambda: _raw(height=4, data=array.array('B', bytes(64 * 3 * 4))),
        ),
    ],
)
def test_bad_raw_input_is_counted_and_the_next_frame_processed(ros, stamp, reason, bad):
    _feed_bad_then_good(ros, 'raw', bad(), reason, stamp)


def test_corrupt_jpeg_is_counted_and_the_next_frame_processed(ros):
    bad = compressed_image(1, 100)
    bad.data = array.array('B', bytes(bad.data)[:20] + b'\x00' * 200)
    _feed_bad_then_good(ros, 'comp', bad, 'corrupt_compressed', 500)


def test_huge_compressed_image_is_counted_and_the_next_frame_processed(ros):
    bad = CompressedImage(format='png')
    bad.data = array.array(
        'B', cv2.imencode('.png', np.zeros((10000, 10000), np.uint8))[1].tobytes()
    )
    _feed_bad_then_good(ros, 'comp', bad, 'too_large', 510)


def test_diagnostics_report_rates_latency_and_intrinsics(ros):
    values = wait_for(lambda: latest_values(ros, 'raw'), what='diagnostics of /raw')
    for key in (
        'input_rate_hz',
        'processed_rate_hz',
        'latency_p50_ms',
        'latency_p99_ms',
        'frames_received',
        'frames_processed',
        'people',
        'dropped_total',
    ):
        assert key in values
    assert int(values['frames_processed']) >= 5
    assert values['intrinsics_source'] == 'parameter'
    assert 0.0 < float(values['latency_p50_ms']) <= float(values['latency_p99_ms'])


def test_markers_delete_all_first_and_mesh_only_while_subscribed(ros):
    probe, node = ros['probes']['raw'], ros['raw']
    model = node._cameras[0].processor.pipeline.estimator.body_model
    start = len(model.vertex_requests)
    probe.image_pub.publish(raw_image(600, 100))
    probe.output_for('bodies', 600)
    requests = model.vertex_requests[start:]
    assert requests and not any(requests), 'no markers subscriber: no vertices, no mesh'
    probe.listen('markers', MarkerArray, qos.MARKERS)
    wait_for(lambda: node.count_subscribers('/raw/markers') > 0, what='markers subscriber')
    markers = wait_for(
        lambda: probe.image_pub.publish(raw_image(610, 100)) or probe.received['markers'],
        what='markers',
    )[-1].markers
    stamp = 610  # re-sent until the subscription matched; repeats are dropped as duplicates
    assert markers[0].action == Marker.DELETEALL and markers[0].header.stamp.sec == stamp
    assert model.vertex_requests[-1] is True
    by_ns = {}
    for m in markers[1:]:
        by_ns.setdefault(m.ns, []).append(m)
        assert m.header.stamp.sec == stamp and 0.0 <= min(m.color.r, m.color.g, m.color.b) <= 1.0
    assert sorted(by_ns) == ['aios/label', 'aios/mesh', 'aios/skeleton']
    assert all(len(v) == 2 for v in by_ns.values())
    assert {m.id for m in by_ns['aios/mesh']} == {m.id for m in by_ns['aios/skeleton']}


def test_overlay_is_dynamic_and_matches_the_input(ros):
    probe, node = ros['probes']['raw'], ros['raw']
    assert node.set_parameters([Parameter('node.overlay', value=True)])[0].successful
    probe.listen('overlay', Image, qos.OVERLAY)
    wait_for(lambda: node.count_subscribers('/raw/overlay') > 0, what='overlay subscriber')
    got = wait_for(
        lambda: probe.image_pub.publish(raw_image(700, 100)) or probe.received['overlay'],
        what='overlay',
    )
    assert got[-1].header.stamp.sec == 700 and (got[-1].height, got[-1].width) == (48, 64)
    assert got[-1].encoding == 'bgr8'


def test_parameters_have_descriptors_and_read_only_is_enforced(ros):
    node = ros['raw']
    desc = node.describe_parameter('model.candidate_threshold')
    assert desc.description and desc.read_only
    desc = node.describe_parameter('node.max_pixels')
    assert not desc.read_only and desc.integer_range[0].from_value == 1
    desc = node.describe_parameter('node.drop_policy')
    assert 'every_frame' in desc.additional_constraints
    assert not node.set_parameters([Parameter('node.drop_policy', value='every_frame')])[
        0
    ].successful
    assert not node.set_parameters([Parameter('node.max_pixels', value=0)])[0].successful
    assert not node.set_parameters([Parameter('node.markers.stream', value='bogus')])[0].successful


def test_stale_frames_are_dropped_in_live_mode(ros):
    node, probe = ros['raw'], ros['probes']['raw']
    assert node.set_parameters([Parameter('node.max_input_age_s', value=5.0)])[0].successful
    try:
        now = node.get_clock().now().seconds_nanoseconds()[0]
        before = counter(ros, 'raw', 'dropped.stale')
        probe.image_pub.publish(raw_image(now - 60, 100))
        wait_for(lambda: counter(ros, 'raw', 'dropped.stale') > before, what='stale drop')
        probe.image_pub.publish(raw_image(now, 100))
        probe.output_for('bodies', now)
    finally:
        node.set_parameters([Parameter('node.max_input_age_s', value=0.0)])


def test_time_jump_back_resets_the_tracks_and_keeps_going(ros):
    probe = ros['probes']['raw']
    before = counter(ros, 'raw', 'pipeline_resets')
    probe.image_pub.publish(raw_image(800, 100))  # after the stale test's wall-clock stamps
    assert len(probe.output_for('bodies', 800).bodies) == 2
    wait_for(lambda: counter(ros, 'raw', 'pipeline_resets') > before, what='reset counted')


def test_a_resent_frame_is_dropped_as_duplicate(ros):
    probe = ros['probes']['raw']
    probe.image_pub.publish(raw_image(900, 100))
    probe.output_for('bodies', 900)
    before = counter(ros, 'raw', 'dropped.duplicate_stamp')
    probe.image_pub.publish(raw_image(900, 100))
    wait_for(lambda: counter(ros, 'raw', 'dropped.duplicate_stamp') > before, what='duplicate')
    assert sum(m.header.stamp.sec == 900 for m in probe.received['bodies']) == 1


def test_image_qos_is_sensor_data_and_overridable(ros):
    profile = ros['raw']._cameras[0].subscriptions[0].qos_profile
    assert (profile.reliability, profile.depth) == (ReliabilityPolicy.BEST_EFFORT, 1)
    assert (
        ros['comp']._cameras[0].subscriptions[0].qos_profile.depth == 30
    )  # every_frame: the FIFO size
    # The README's example: overrides are named after the resolved topic, after namespace and
    # remapping.
    node = start(
        AiosNode(
            CountingEstimator(),
            namespace='front',
            context=ros['probe'].context,
            cli_args=['--ros-args', '-r', 'image:=/camera/color/image_raw'],
            parameter_overrides=[
                Parameter(
                    'qos_overrides./camera/color/image_raw.subscription.reliability',
                    value='reliable',
                ),
                Parameter('qos_overrides./front/bodies.publisher.depth', value=30),
            ],
        )
    )
    try:
        (camera,) = node._cameras
        image_sub = camera.subscriptions[0]
        assert image_sub.topic_name == '/camera/color/image_raw'
        assert image_sub.qos_profile.reliability == ReliabilityPolicy.RELIABLE
        assert camera.publishers['bodies'].qos_profile.depth == 30
        # only the one named
        assert camera.publishers['bodies_fused'].qos_profile.depth == qos.BODIES.depth
    finally:
        node.destroy_node()


def test_subscribers_with_rviz_qos_receive_bodies_markers_and_overlay(ros):
    """RViz, rqt_image_view and image_transport subscribe reliably (RViz: depth 5, volatile):
    every output must match them."""
    probe, node = ros['probes']['raw'], ros['raw']
    rviz = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    topics = {'bodies': SmplxBodyArray, 'markers': MarkerArray, 'overlay': Image}
    got: dict = {name: [] for name in topics}
    subs = [
        probe.node.create_subscription(kind, f'/raw/{name}', got[name].append, rviz)
        for name, kind in topics.items()
    ]
    assert node.set_parameters([Parameter('node.overlay', value=True)])[0].successful
    try:
        for name in topics:
            wait_for(lambda n=name: node.count_subscribers(f'/raw/{n}') >= 1, what=name)
            (info,) = node.get_publishers_info_by_topic(f'/raw/{name}')
            assert info.qos_profile.reliability == ReliabilityPolicy.RELIABLE, name
        stamp = 1000
        while not all(got.values()):
            # markers and overlay are built only once their subscription has matched
            probe.image_pub.publish(raw_image(stamp, 100))
            stamp += 1
            wait_for(lambda: probe.received['bodies'][-1].header.stamp.sec == stamp - 1)
            assert stamp < 1020, {name: len(v) for name, v in got.items()}
        last = [got['bodies'][-1], got['markers'][-1].markers[0], got['overlay'][-1]]
        assert {m.header.frame_id for m in last} == {'cam_optical'}
    finally:
        node.set_parameters([Parameter('node.overlay', value=False)])
        for sub in subs:
            probe.node.destroy_subscription(sub)


@pytest.mark.skipif(
    importlib.util.find_spec('tf2_msgs') is not None, reason='tf2_msgs is importable here'
)
def test_without_tf2_msgs_the_node_runs_without_tf(ros):
    """ROS 2 from PyPI alone has no tf2_msgs: TF is off, everything else is published (the
    module's other tests); the TF output itself is tested with the real tools."""
    assert ros['raw']._tf_pub is None and ros['raw'].count_publishers('/tf') == 0


def test_an_rmw_without_message_lost_events_still_subscribes(monkeypatch):
    """Not every rmw reports lost messages: the image subscription is made without the event."""
    real = SubscriptionEventCallbacks.create_event_handlers

    def without_message_lost(self, *args, **kwargs):
        if self.message_lost:
            raise UnsupportedEventTypeError('message lost')
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SubscriptionEventCallbacks, 'create_event_handlers', without_message_lost)
    context = Context()
    rclpy.init(context=context)
    try:
        node = start(AiosNode(CountingEstimator(), namespace='nolost', context=context))
        assert node._cameras[0].image_topic == '/nolost/image'
        assert node.count_subscribers('/nolost/image') == 1
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
