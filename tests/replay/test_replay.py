"""Replay: a tiny generated bag through the node's pipeline into a readable output bag.

Most tests use a ground-truth "oracle" estimator (a real Estimator built on the real SMPL-X body
model that returns the sample's people) so that bodies, tracks and the fused stream are
non-trivial and the tests are fast; one test runs the real AiOS network (seeded weights) at its
smallest input size to check byte-identical output across runs.
"""

import sqlite3

import numpy as np
import pytest
import yaml

pytest.importorskip('aios_ros.msg', reason='messages not built: run scripts/setup.sh, . env.sh')

from rosbags.rosbag2 import Reader  # noqa: E402

from aios_ros.app.runtime import make_runtime  # noqa: E402
from aios_ros.app.settings import Settings  # noqa: E402
from aios_ros.core.types import Bodies  # noqa: E402
from aios_ros.model.config import ModelConfig  # noqa: E402
from aios_ros.model.preprocess import size_problem  # noqa: E402
from aios_ros.replay.replayer import ReplayOptions, run_replay  # noqa: E402
from aios_ros.ros.bags import make_typestore  # noqa: E402
from aios_ros.synthetic import sample_bag as generate  # noqa: E402
from aios_ros.tools import replay  # noqa: E402

ARRAY = 'aios_ros/msg/SmplxBodyArray'


class OracleEstimator:
    """Returns the ground-truth people of the n-th call's frame (frames arrive in order; with
    ``cameras`` cameras, the cameras' k-th frames alternate)."""

    def __init__(self, gt_path, body_model, cameras: int = 1):
        self.gt, self.body_model, self.calls = dict(np.load(gt_path)), body_model, 0
        self.cameras = cameras

    def estimate_batch(self, images, cameras):
        return [self.estimate(image, camera) for image, camera in zip(images, cameras)]

    def estimate(self, image, camera):
        g, rows = self.gt, np.flatnonzero(self.gt['frame'] == self.calls // self.cameras)
        self.calls += 1
        boxes = np.zeros((len(rows), 4, 4), np.float32)
        boxes[:, 0] = g['boxes'][rows]
        return Bodies(
            scores=np.full(len(rows), 0.9, np.float32),
            boxes=boxes,
            pose=g['pose'][rows],
            betas=g['betas'][rows],
            expression=g['expression'][rows],
            transl=g['transl'][rows],
            keypoints_2d=g['keypoints_2d'][rows],
            joints_3d=g['joints_3d'][rows],
            tokens=np.zeros((len(rows), 39, 256), np.float16),
        )

    def regress(self, tokens):
        raise NotImplementedError('fusion.mode tokens is not used here')

    def size_problem(self, width, height):
        return size_problem(height, width, 800, 1333)  # the AiOS rule at the official size

    def default_K(self, width, height):
        return self.gt['K']


def oracle_runtime(tiny_bag, body_model):
    estimator = OracleEstimator(tiny_bag / 'ground_truth.npz', body_model)
    return make_runtime(Settings(), estimator)


def read_all(path):
    store = make_typestore()
    with Reader(path) as r:
        return [(c.topic, c.msgtype, t, bytes(raw)) for c, t, raw in r.messages()], store


def input_stamps(tiny_bag):
    msgs, store = read_all(tiny_bag)
    return [t for topic, _, t, _ in msgs if topic == generate.IMAGE_TOPIC]


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_one_message_per_frame_and_stream(tiny_bag, tiny_frames, body_model, tmp_path, storage):
    out = tmp_path / 'out'
    summary = run_replay(
        ReplayOptions(bag=tiny_bag, out=out, storage=storage, progress=False, include_inputs=True),
        runtime=oracle_runtime(tiny_bag, body_model),
    )
    assert summary.frames == tiny_frames and not summary.interrupted
    msgs, store = read_all(out)
    by_topic = {}
    for topic, msgtype, t, raw in msgs:
        by_topic.setdefault(topic, []).append((t, store.deserialize_cdr(raw, msgtype)))
    stamps = input_stamps(tiny_bag)
    for topic, stream in (('/aios/bodies', 0), ('/aios/bodies_fused', 1)):
        got = sorted(by_topic[topic], key=lambda x: x[0])
        assert [t for t, _ in got] == stamps
        assert [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for _, m in got] == stamps
        assert all(m.stream == stream and m.header.frame_id == generate.FRAME_ID for _, m in got)
    assert len(by_topic['/aios/markers']) == tiny_frames
    assert len(by_topic['/aios/overlay/compressed']) == tiny_frames
    assert len(by_topic['/aios/body_model_info']) == 1
    assert len(by_topic[generate.IMAGE_TOPIC]) == tiny_frames  # --include-inputs
    # The oracle's 3 people are published once confirmed, with stable identities.
    last = max(by_topic['/aios/bodies'], key=lambda x: x[0])[1]
    assert len(last.bodies) == 3 and len({b.track_id for b in last.bodies}) == 3
    info = by_topic['/aios/body_model_info'][0][1]
    assert len(info.joint_names) == len(last.bodies[0].joints_3d) // 3
    # TF: the raw stream's people (the markers' stream), pelvis and head, at their joints_3d.
    stamp, tf = max(by_topic['/tf'], key=lambda x: x[0])
    assert stamp == stamps[-1] and len(tf.transforms) == 3 * 2
    for person, (pelvis, head) in zip(last.bodies, zip(tf.transforms[::2], tf.transforms[1::2])):
        assert pelvis.child_frame_id == f'aios/{person.track_id}/pelvis'
        assert head.child_frame_id == f'aios/{person.track_id}/head'
        joints = person.joints_3d.reshape(-1, 3)
        for t, joint in ((pelvis, 0), (head, 15)):
            assert t.header.frame_id == generate.FRAME_ID
            xyz = t.transform.translation
            np.testing.assert_allclose([xyz.x, xyz.y, xyz.z], joints[joint], atol=1e-4)


def test_metadata_carries_custom_types(tiny_bag, body_model, tmp_path):
    out = tmp_path / 'out'
    run_replay(
        ReplayOptions(bag=tiny_bag, out=out, progress=False, max_frames=2),
        runtime=oracle_runtime(tiny_bag, body_model),
    )
    md = yaml.safe_load((out / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    topics = {t['topic_metadata']['name']: t for t in md['topics_with_message_count']}
    meta = topics['/aios/bodies']['topic_metadata']
    assert meta['type'] == ARRAY and meta['type_description_hash'].startswith('RIHS01_')
    assert (
        'transient_local'
        in str(topics['/aios/body_model_info']['topic_metadata']['offered_qos_profiles']).lower()
    )
    db = sqlite3.connect(out / md['relative_file_paths'][0])
    defs = dict(
        db.execute('select topic_type, encoded_message_definition from message_definitions')
    )
    assert 'SmplxBody[] bodies' in defs[ARRAY] and 'uint32 track_id' in defs[ARRAY]


def test_stop_leaves_readable_partial_bag(tiny_bag, body_model, tmp_path):
    out = tmp_path / 'out'
    runtime = oracle_runtime(tiny_bag, body_model)
    summary = run_replay(
        ReplayOptions(bag=tiny_bag, out=out, progress=False),
        should_stop=lambda: runtime.estimator.calls >= 2,
        runtime=runtime,
    )
    assert summary.interrupted and summary.frames == 2
    msgs, _ = read_all(out)
    topics = [m[0] for m in msgs]
    assert topics.count('/aios/bodies') == 2 and topics.count('/aios/bodies_fused') == 2


def test_cli_errors_are_clear(tiny_bag, tmp_path, capsys):
    assert replay.main(['--bag', str(tmp_path / 'nope'), '--out', str(tmp_path / 'o')]) == 2
    assert 'input bag not found' in capsys.readouterr().err
    assert (
        replay.main(['--bag', str(tiny_bag), '--out', str(tmp_path / 'o'), '--topic', '/nope']) == 2
    )
    assert generate.IMAGE_TOPIC in capsys.readouterr().err


def test_real_model_output_is_byte_identical(tiny_bag, tmp_path):
    """Seeded AiOS at its smallest input (224 px): two replays of one frame give byte-identical
    messages (the fused/tracked multi-frame path is covered with the oracle above)."""
    from aios_ros.model.estimator import build_estimator

    model = ModelConfig(short_side=224, max_size=300)
    runtime = make_runtime(Settings(model=model), build_estimator(model))
    outs = []
    for name in ('a', 'b'):
        options = ReplayOptions(bag=tiny_bag, out=tmp_path / name, progress=False, max_frames=1)
        assert run_replay(options, runtime=runtime).frames == 1
        outs.append(read_all(tmp_path / name)[0])
    assert outs[0] == outs[1]
    assert [m[0] for m in outs[0]].count('/aios/bodies_fused') == 1


def test_two_cameras_get_their_own_outputs_and_tf_prefixes(tiny_bag, body_model, tmp_path):
    from rosbags.rosbag2 import Writer

    msgs, store = read_all(tiny_bag)
    both = tmp_path / 'two'
    with Writer(both, version=9) as writer:
        conns = {}
        for topic, msgtype, t, raw in msgs:
            for cam in ('front', 'rear'):
                name = topic.replace('/camera/', f'/{cam}/')
                if name not in conns:
                    conns[name] = writer.add_connection(name, msgtype, typestore=store)
                writer.write(conns[name], t, raw)
    estimator = OracleEstimator(tiny_bag / 'ground_truth.npz', body_model, cameras=2)
    out = tmp_path / 'out'
    run_replay(
        ReplayOptions(bag=both, out=out, progress=False),
        runtime=make_runtime(Settings(), estimator),
    )
    got, store = read_all(out)
    topics = {topic for topic, *_ in got}
    assert {'/aios/front/bodies', '/aios/rear/bodies', '/tf'} <= topics
    last = max(t for topic, _, t, _ in got if topic == '/tf')
    frames = {
        t.child_frame_id
        for topic, msgtype, stamp, raw in got
        if topic == '/tf' and stamp == last
        for t in store.deserialize_cdr(raw, msgtype).transforms
    }
    ids = {
        cam: [
            b.track_id
            for topic, msgtype, stamp, raw in got
            if topic == f'/aios/{cam}/bodies' and stamp == last
            for b in store.deserialize_cdr(raw, msgtype).bodies
        ]
        for cam in ('front', 'rear')
    }
    assert len(ids['front']) == len(ids['rear']) == 3
    assert frames == {
        f'aios/{cam}/{i}/{joint}' for cam in ids for i in ids[cam] for joint in ('pelvis', 'head')
    }
