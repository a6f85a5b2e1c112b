"""Evaluation metrics against hand-computed tiny sequences."""

import numpy as np
import pytest

from aios_ros.evaluation.tracking import FrameData, clear_matches, idf1, mot_metrics, pose_metrics

A = [0.0, 0.0, 10.0, 10.0]
B = [100.0, 0.0, 110.0, 10.0]
FP = [200.0, 0.0, 210.0, 10.0]
J = np.zeros((22, 3))


def _frame(ids, boxes, joints=None):
    n = len(boxes)
    return FrameData(
        None if ids is None else np.array(ids),
        np.array(boxes, float).reshape(n, 4),
        np.zeros((n, 22, 3)) if joints is None else np.array(joints),
    )


def test_mota_id_switches_and_idf1_by_hand():
    gt = [_frame([1, 2], [A, B]) for _ in range(4)]
    hyp = [
        _frame([7, 8], [A, B]),
        _frame([7, 8], [A, B]),
        _frame([8, 9], [A, FP]),  # gt 1 switches 7 -> 8, gt 2 missed, one false positive
        _frame([8, 7], [A, B]),
    ]  # gt 2 switches 8 -> 7
    m = clear_matches(gt, hyp)
    assert [len(p) for p in m] == [2, 2, 1, 2]
    res = mot_metrics(gt, hyp, m)
    assert res['id_switches'] == 2
    assert res['mota'] == pytest.approx(1 - (1 + 1 + 2) / 8)
    # IDTP: best one-to-one = (1, 7): 2 frames + (2, 8): 2 frames -> IDF1 = 2 * 4 / (8 + 8).
    assert res['idf1'] == pytest.approx(0.5)


def test_perfect_tracking():
    gt = [_frame([1, 2], [A, B]) for _ in range(3)]
    hyp = [_frame([5, 6], [A, B]) for _ in range(3)]
    res = mot_metrics(gt, hyp, clear_matches(gt, hyp))
    assert res == {'mota': 1.0, 'id_switches': 0, 'idf1': 1.0}
    assert idf1(gt, [_frame([], []) for _ in range(3)]) == 0.0


def test_mpjpe_and_accel_by_hand():
    d = 0.011  # 11 mm bump of joints 1..21 in the middle frame
    bump = np.zeros((22, 3))
    bump[1:, 0] = d
    gt = [_frame([1], [A], [J]) for _ in range(3)]
    hyp = [_frame([4], [A], [J]), _frame([4], [A], [J + bump]), _frame([4], [A], [J])]
    res = pose_metrics(gt, hyp, clear_matches(gt, hyp))
    assert res['mpjpe_mm'] == pytest.approx(11.0 * 21 / 66)
    # second difference of the bump: -2 d on 21 of 22 joints, in the middle frame only.
    assert res['accel_mm_per_frame2'] == pytest.approx(22.0 * 21 / 22)


def test_accel_never_spans_an_identity_change_but_ignores_ids_without_them():
    gt = [_frame([1], [A], [J]) for _ in range(3)]
    tracked = [_frame([4], [A], [J]), _frame([5], [A], [J]), _frame([4], [A], [J])]
    assert pose_metrics(gt, tracked, clear_matches(gt, tracked))['accel_mm_per_frame2'] is None
    untracked = [_frame(None, [A], [J]) for _ in range(3)]
    assert pose_metrics(gt, untracked, clear_matches(gt, untracked))['accel_mm_per_frame2'] == 0.0


def test_pelvis_centring_ignores_translation():
    gt = [_frame([1], [A], [J])]
    hyp = [_frame([1], [A], [J + np.array([1.0, 2.0, 3.0])])]
    res = pose_metrics(gt, hyp, clear_matches(gt, hyp))
    assert res['mpjpe_mm'] == pytest.approx(0.0) and res['pa_mpjpe_mm'] == pytest.approx(
        0.0, abs=1e-6
    )
