"""Metrics on tiny hand-computed cases."""

import numpy as np
import pytest

from aios_ros.evaluation import metrics as m
from aios_ros.evaluation.layout import load_table, make_table, save_table
from aios_ros.evaluation.report import evaluate
from aios_ros.geometry.boxes import boxes_from_keypoints, iou_matrix

K = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])


def project(x):
    uvw = x @ K.T
    return uvw[..., :2] / uvw[..., 2:]


def test_box_iou_and_prf1():
    iou = iou_matrix(np.array([[0, 0, 2, 2.0]]), np.array([[1, 1, 3, 3.0], [5, 5, 6, 6]]))
    assert np.allclose(iou, [[1 / 7, 0]])
    assert np.allclose(m.prf1(2, 1, 1), (2 / 3, 2 / 3, 2 / 3))
    assert m.prf1(0, 0, 3) == (0.0, 0.0, 0.0)


def test_match_people_hungarian_with_iou_gate():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 50, (2, 22, 2)) + np.array([[[0, 0]], [[200, 0]]])
    # pred 0 near gt 1, pred 1 exact gt 0, pred 2 far away (its box does not overlap).
    pred = np.stack([gt[1] + 3, gt[0], gt[0] + 400])
    gi, pi = m.match_people(gt, boxes_from_keypoints(gt), pred, boxes_from_keypoints(pred))
    assert sorted(zip(gi.tolist(), pi.tolist())) == [(0, 1), (1, 0)]
    # only the non-overlapping candidate left: no match even though it is the cheapest
    gi, pi = m.match_people(
        gt[:1], boxes_from_keypoints(gt[:1]), pred[2:], boxes_from_keypoints(pred[2:])
    )
    assert len(gi) == len(pi) == 0


def test_root_aligned_procrustes_and_accel():
    rng = np.random.default_rng(1)
    gt = rng.normal(size=(1, 4, 3))
    pred = gt + np.array([0.1, -0.2, 0.3])
    pred[0, 2, 1] += 0.004
    assert np.allclose(m.root_aligned_error(pred, gt, pred[:, 0], gt[:, 0]), [1.0])
    a = 0.3
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    assert np.allclose(m.pa_error(2.0 * gt @ rot + 0.5, gt), [0.0], atol=1e-9)
    assert m.pa_error(pred, gt)[0] > 0
    track = np.zeros((5, 1, 3))
    track[2, 0, 0] = 0.001
    assert np.allclose(m.accel_error(track, np.zeros((5, 1, 3))), [1.0, 2.0, 1.0])


def test_joint_parts_layout():
    parts = m.joint_parts(127)
    assert parts['left_hand'].root == 20 and len(parts['left_hand'].indices) == 20
    assert parts['face'].root == 12 and len(parts['face'].indices) == 51
    assert set(m.joint_parts(10)) == {'all'}


def _sequence():
    """2 ground-truth people x 4 frames; predictions: person 0 found every frame (frame 2 has
    every non-root joint 5 mm off in x), person 1 never found, one extra false positive."""
    rng = np.random.default_rng(2)
    base = [rng.normal(scale=0.3, size=(55, 3)) + (x, 0, 4) for x in (-1.0, 1.0)]
    vbase = [rng.normal(scale=0.3, size=(10, 3)) + (x, 0, 4) for x in (-1.0, 1.0)]
    stamps = np.arange(4) * 100_000_000
    g_rows = [(f, i) for f in range(4) for i in range(2)]
    gj = np.stack([base[i] for _, i in g_rows])
    gv = np.stack([vbase[i] for _, i in g_rows])
    gt = make_table(
        stamps, [f for f, _ in g_rows], [i for _, i in g_rows], project(gj), gj, vertices=gv
    )
    pj = np.stack([base[0]] * 4 + [base[1] + (0, 3, 0)])
    pj[2, 1:, 0] += 0.005
    pv = np.stack([vbase[0] + (0.002, 0, 0)] * 4 + [vbase[1]])
    pred = make_table(stamps, [0, 1, 2, 3, 1], [7, 7, 7, 7, 8], project(pj), pj, vertices=pv)
    return gt, pred


def test_evaluate_hand_computed(tmp_path):
    gt, pred = _sequence()
    save_table(tmp_path / 'gt.npz', gt)
    gt = load_table(tmp_path / 'gt.npz')
    r = evaluate(gt, pred)
    assert (r['tp'], r['fp'], r['fn']) == (4, 1, 4)
    f1 = 2 * 0.8 * 0.5 / 1.3
    assert r['precision'] == pytest.approx(0.8) and r['recall'] == 0.5
    assert r['f1'] == pytest.approx(f1)
    assert r['mpjpe']['all'] == pytest.approx(54 * 5 / 55 / 4)
    assert r['mpjpe']['body'] == pytest.approx(21 * 5 / 22 / 4)
    assert r['nmje']['all'] == pytest.approx(54 * 5 / 55 / 4 / f1)
    # Vertices are 2 mm off while the pelvis is exact in every frame: MVE = 2 mm.
    assert r['mve']['all'] == pytest.approx(2.0)
    assert r['pve_camera'] == pytest.approx(2.0)
    assert r['pa_mpvpe'] == pytest.approx(0.0, abs=1e-6)
    assert r['nmve']['all'] == pytest.approx(2.0 / f1)
    assert r['accel'] == pytest.approx(21 * 7.5 / 22)


def test_accel_not_across_identity_switch():
    gt, pred = _sequence()
    pred.track_id[2] = 9  # frame 2 matched to another predicted track: runs of 2 and 1
    assert evaluate(gt, pred)['accel'] is None


def test_bad_layout_is_named(tmp_path):
    np.savez(tmp_path / 'x.npz', frame=np.zeros(1))
    with pytest.raises(ValueError, match='stamps_ns'):
        load_table(tmp_path / 'x.npz')


def test_no_predictions_gives_zero_f1_and_no_errors():
    gt, _ = _sequence()
    empty = make_table(
        gt.stamps_ns, np.zeros(0, int), np.zeros(0, int), np.zeros((0, 0, 2)), np.zeros((0, 0, 3))
    )
    r = evaluate(gt, empty)
    assert (r['tp'], r['fp'], r['fn'], r['f1']) == (0, 0, 8, 0.0)
    assert r['mpjpe']['all'] is None and r['nmje']['all'] is None and r['accel'] is None


def test_frames_missing_from_predictions_are_skipped_not_missed():
    gt, pred = _sequence()
    rows = pred.frame < 3  # frame 3 was never processed
    partial = make_table(
        pred.stamps_ns[:3],
        pred.frame[rows],
        pred.track_id[rows],
        pred.keypoints_2d[rows],
        pred.joints_3d[rows],
    )
    r = evaluate(gt, partial)
    assert (r['frames'], r['gt_frames_skipped']) == (3, 1)
    assert (r['tp'], r['fp'], r['fn']) == (3, 1, 3)
