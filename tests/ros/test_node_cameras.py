"""One node, two cameras (``node.cameras: [front, rear]``), over real rclpy + Fast DDS.

The estimator is the counting double with a gate: while a forward is held, frames of both
cameras queue up, so what the next round batches is known exactly.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter

from aios_ros.node.node import AiosNode
from aios_ros.ros import qos

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimator_double import CountingEstimator  # noqa: E402
from node_probe import Probe, raw_image, start, wait_for  # noqa: E402

CAMERAS = ('front', 'rear')


class GatedEstimator(CountingEstimator):
    """Counts images per forward; a forward waits while ``gate`` is closed and fails if an
    image has the blue value ``poison``."""

    def __init__(self) -> None:
        super().__init__()
        self.gate, self.entered = threading.Event(), threading.Event()
        self.gate.set()
        self.poison: int | None = None

    def estimate_batch(self, images, cameras):
        self.entered.set()
        assert self.gate.wait(10.0), 'the test never opened the gate'
        people = super().estimate_batch(images, cameras)
        if any(int(image[0, 0, 0]) == self.poison for image in images):
            raise RuntimeError('the model failed on this frame')
        return people

    def hold(self) -> None:
        """Close the gate; the next forward then waits in it."""
        self.entered.clear()
        self.gate.clear()


@pytest.fixture(scope='module')
def multi():
    context = Context()
    rclpy.init(context=context)
    estimator = GatedEstimator()
    node = start(
        AiosNode(
            estimator,
            namespace='multi',
            context=context,
            parameter_overrides=[
                Parameter('node.cameras', value=list(CAMERAS)),
                Parameter('node.drop_policy', value='every_frame'),
                Parameter('node.diagnostics_period_s', value=0.2),
                Parameter('tracker.n_init', value=1),
            ],
        )
    )
    probe_node = Node('multi_probe', context=context)
    diagnostics: list = []
    probe_node.create_subscription(
        DiagnosticArray, '/diagnostics', diagnostics.append, qos.DIAGNOSTICS
    )
    probes = {cam: Probe(probe_node, f'/multi/{cam}', False) for cam in CAMERAS}
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(probe_node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    for cam, probe in probes.items():
        # Discovery is asymmetric: repeat the first (best-effort) frame until it gets through.
        wait_for(
            lambda: probe.image_pub.publish(raw_image(1, 0)) or probe.received['bodies'],
            what=f'first output of {cam}',
        )
    yield {'node': node, 'estimator': estimator, 'probes': probes, 'diagnostics': diagnostics}
    executor.shutdown()
    node.destroy_node()
    probe_node.destroy_node()
    rclpy.shutdown(context=context)
    spinner.join(timeout=5.0)


def held_round(multi, first, then) -> list[int]:
    """Publish ``first`` (camera, image) and hold its forward; publish ``then`` meanwhile and let
    both rounds run; the batch sizes of the two forwards."""
    estimator, probes, node = multi['estimator'], multi['probes'], multi['node']
    before = len(estimator.batches)
    estimator.hold()
    probes[first[0]].image_pub.publish(first[1])
    assert estimator.entered.wait(10.0)
    received = [c.stats.snapshot().received for c in node._cameras]
    for cam, msg in then:
        probes[cam].image_pub.publish(msg)
    arrivals = {cam: sum(c == cam for c, _ in then) for cam in CAMERAS}
    wait_for(
        lambda: all(
            c.stats.snapshot().received >= received[i] + arrivals[c.name]
            for i, c in enumerate(node._cameras)
        ),
        what='the frames queued behind the held forward',
    )
    estimator.gate.set()
    wait_for(lambda: len(estimator.batches) >= before + 2, what='both forwards')
    return estimator.batches[before:]


def test_the_frames_of_both_cameras_go_through_one_forward(multi):
    probes, node = multi['probes'], multi['node']
    rounds = node.rounds
    front, rear = raw_image(10, 100), raw_image(11, 150)
    batches = held_round(multi, ('front', raw_image(9, 50)), [('front', front), ('rear', rear)])
    assert batches == [1, 2] and node.rounds == rounds + 2
    out_front = probes['front'].output_for('bodies', 10)
    out_rear = probes['rear'].output_for('bodies', 11)
    assert out_front.header == front.header and out_rear.header == rear.header
    assert (len(out_front.bodies), len(out_rear.bodies)) == (2, 3)  # each camera its own people
    # nothing crosses over: each camera's outputs carry only its own frames
    assert all(m.header.stamp.sec != 11 for m in probes['front'].received['bodies'])
    assert all(m.header.stamp.sec not in (9, 10) for m in probes['rear'].received['bodies'])


def test_a_silent_camera_holds_nothing_back(multi):
    probe, estimator = multi['probes']['front'], multi['estimator']
    before = len(estimator.batches)
    stamps = range(20, 26)
    for stamp in stamps:
        probe.image_pub.publish(raw_image(stamp, 50))
    for stamp in stamps:
        probe.output_for('bodies', stamp)
    assert set(estimator.batches[before:]) == {1}


def test_a_bad_frame_of_one_camera_leaves_the_other_cameras_frame(multi):
    probes, node = multi['probes'], multi['node']
    front = next(c for c in node._cameras if c.name == 'front')
    bad_before = front.stats.snapshot().bad_input.get('step_mismatch', 0)
    broken = raw_image(31, 100)
    broken.data = broken.data[:-1]  # one byte short of height x step
    batches = held_round(
        multi, ('rear', raw_image(30, 50)), [('front', broken), ('rear', raw_image(31, 100))]
    )
    assert batches == [1, 1]  # the round ran with the rear frame alone
    probes['rear'].output_for('bodies', 31)
    assert front.stats.snapshot().bad_input['step_mismatch'] == bad_before + 1
    probes['front'].image_pub.publish(raw_image(32, 100))
    probes['front'].output_for('bodies', 32)  # and the front camera goes on


def test_a_frame_the_model_fails_on_loses_only_that_frame(multi):
    """The batch fails as a whole; each frame is then estimated alone, so only the failing
    camera's frame is lost (counted as its pipeline_error)."""
    probes, node, estimator = multi['probes'], multi['node'], multi['estimator']
    front, rear = node._cameras
    errors = [c.stats.snapshot().dropped.get('pipeline_error', 0) for c in (front, rear)]
    before = len(estimator.batches)
    estimator.poison = 250
    try:
        held_round(
            multi,
            ('rear', raw_image(50, 50)),
            [('front', raw_image(51, 250)), ('rear', raw_image(51, 100))],
        )
        probes['rear'].output_for('bodies', 51)
    finally:
        estimator.poison = None
    assert estimator.batches[before:] == [1, 2, 1, 1]  # held, the failed batch, each alone
    assert front.stats.snapshot().dropped['pipeline_error'] == errors[0] + 1
    assert rear.stats.snapshot().dropped.get('pipeline_error', 0) == errors[1]
    assert all(m.header.stamp.sec != 51 for m in probes['front'].received['bodies'])


def test_each_camera_has_its_own_status_tf_prefix_and_model_info(multi, monkeypatch):
    node = multi['node']
    names = {'/multi/aios_node: front pipeline', '/multi/aios_node: rear pipeline'}
    latest = wait_for(
        lambda: next(
            (m for m in reversed(multi['diagnostics']) if {s.name for s in m.status} == names),
            None,
        ),
        what='one status per camera',
    )
    rounds = {
        int(kv.value) for s in latest.status for kv in s.values if kv.key == 'inference_rounds'
    }
    assert len(rounds) == 1 and 0 < rounds.pop() <= node.rounds  # one node-wide count
    published = []  # what the TF publisher is handed (tf2_msgs is not on PyPI)
    real = node._publish_tf
    monkeypatch.setattr(
        node,
        '_publish_tf',
        lambda camera, out, cfg: published.append((camera, out, cfg)) or real(camera, out, cfg),
    )
    for cam in CAMERAS:
        multi['probes'][cam].image_pub.publish(raw_image(40, 100))
        multi['probes'][cam].output_for('bodies', 40)
        assert multi['probes'][cam].received['body_model_info'], f'{cam}/body_model_info'
    wait_for(lambda: len(published) >= 2, what='both cameras at the TF step')
    for camera, out, cfg in published:
        children = {t.child_frame_id for t in camera.processor.transforms(out.raw, cfg)}
        assert children == {
            f'aios/{camera.name}/{track}/{joint}'
            for track in out.raw.bodies.track_ids
            for joint in ('pelvis', 'head')
        }
        assert children
        assert camera.image_topic == f'/multi/{camera.name}/image'
