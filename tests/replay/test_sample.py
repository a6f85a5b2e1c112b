"""The synthetic sample: deterministic bag + ground truth that agree with each other."""

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from aios_ros.evaluation.layout import load_table
from aios_ros.geometry.pinhole import project
from aios_ros.synthetic import sample_bag as generate
from aios_ros.synthetic import sample_scene as scene


@pytest.fixture(scope='module')
def two_samples(body_model, tiny_bag, tiny_frames, tmp_path_factory):
    again = tmp_path_factory.mktemp('sample') / 'b'
    generate.write_sample(again, body_model, frames=tiny_frames)
    return tiny_bag, again


def _messages(path):
    with Reader(path) as r:
        return [(c.topic, t, bytes(raw)) for c, t, raw in r.messages()]


def test_bag_is_deterministic_and_complete(two_samples, tiny_frames):
    a, b = two_samples
    msgs = _messages(a)
    assert msgs == _messages(b)
    topics = [t for t, _, _ in msgs]
    assert topics.count(generate.IMAGE_TOPIC) == tiny_frames
    assert topics.count(generate.INFO_TOPIC) == tiny_frames
    ga, gb = np.load(a / 'ground_truth.npz'), np.load(b / 'ground_truth.npz')
    assert set(ga.files) == set(gb.files)
    assert all(np.array_equal(ga[k], gb[k]) for k in ga.files)


def test_ground_truth_matches_images(two_samples, tiny_frames):
    path = two_samples[0]
    gt = load_table(path / 'ground_truth.npz')
    store = get_typestore(Stores.ROS2_KILTED)
    with Reader(path) as r:
        conns = [c for c in r.connections if c.topic == generate.IMAGE_TOPIC]
        images = [store.deserialize_cdr(raw, c.msgtype) for c, _, raw in r.messages(conns)]
    assert len(gt.stamps_ns) == tiny_frames and len(gt.frame) == tiny_frames * len(scene.WALKERS)
    for f, msg in enumerate(images):
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        assert stamp == gt.stamps_ns[f]

        img = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (scene.HEIGHT, scene.WIDTH, 3)
        for row in gt.rows_of(f):
            x0, y0, x1, y1 = gt.boxes[row]
            kp = gt.keypoints_2d[row, :22]
            assert np.all((kp >= (x0 - 1, y0 - 1)) & (kp <= (x1 + 1, y1 + 1)))
            assert np.allclose(project(gt.joints_3d[row], scene.K), gt.keypoints_2d[row], atol=1e-3)
            # feet on the floor, head up (y down in the optical frame)
            assert gt.vertices[row, :, 1].max() == pytest.approx(scene.FLOOR_Y_M, abs=1e-4)
            assert gt.joints_3d[row, 15, 1] < gt.joints_3d[row, 0, 1] - 0.3
    # The nearest walker (track 3 at 3.5 m, nobody in front at t = 0) is drawn at its spine:
    # the pixel matches its clothing colour up to shading, not the backdrop.
    row = next(r for r in gt.rows_of(0) if gt.track_id[r] == 3)
    u, v = np.round(gt.keypoints_2d[row, 6]).astype(int)  # spine2
    img = cv2.imdecode(np.frombuffer(images[0].data, np.uint8), cv2.IMREAD_COLOR).astype(float)
    color = np.array(scene.WALKERS[2].color) * 255
    ratio = img[v, u] / color
    assert np.ptp(ratio) < 0.25 and not np.allclose(img[v, u], generate.background()[v, u], atol=20)
