"""Evaluation metrics against hand-computed tiny sequences."""

import numpy as np
import pytest

from aios_ros.evaluation.tracking import (
    FrameData,
    clear_matches,
    common_pose_metrics,
    coverage,
    fastest_person,
    idf1,
    mot_metrics,
    pose_metrics,
)

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


def _walk(n, offset, step):
    """(n, 22, 3) joints of a GT person whose pelvis moves ``step`` m per frame along x."""
    joints = np.zeros((n, 22, 3))
    joints[:, :, 1] = np.linspace(0.0, 1.0, 22)
    joints[:, :, 0] = offset + step * np.arange(n)[:, None]
    return joints


def test_extra_hard_frames_do_not_change_the_common_pair_metrics():
    n = 6
    joints = {1: _walk(n, 0.0, 0.01), 2: _walk(n, 3.0, -0.02)}
    gt = [_frame([1, 2], [A, B], [joints[1][t], joints[2][t]]) for t in range(n)]
    rng = np.random.default_rng(0)
    noisy = {g: j + rng.normal(0.0, 0.02, j.shape) for g, j in joints.items()}
    # per-frame input: misses person 2 (partly hidden) in frames 2 and 3
    hidden = {2, 3}
    inputs = [
        _frame(
            None,
            [A] if t in hidden else [A, B],
            [noisy[1][t]] if t in hidden else [noisy[1][t], noisy[2][t]],
        )
        for t in range(n)
    ]
    smooth = {g: j + 0.5 * (noisy[g] - j) for g, j in joints.items()}

    def stream(hold):
        """Tracked stream; ``hold``: it also keeps person 2 in the hidden frames, badly."""
        frames = []
        for t in range(n):
            if t in hidden and not hold:
                frames.append(_frame([7], [A], [smooth[1][t]]))
            else:
                bad = smooth[2][t] + (
                    np.array([0.3, 0.0, 0.5]) * np.linspace(0, 1, 22)[:, None]
                    if t in hidden
                    else 0.0
                )
                frames.append(_frame([7, 8], [A, B], [smooth[1][t], bad]))
        return frames

    in_m = clear_matches(gt, inputs)
    results = {}
    for hold in (False, True):
        hyp = stream(hold)
        m = clear_matches(gt, hyp)
        results[hold] = common_pose_metrics(gt, hyp, m, inputs, in_m), coverage(gt, m)
        # over its own pairs, holding on to the hard frames does change the numbers
        results[hold, 'own'] = pose_metrics(gt, hyp, m)
    (plain, plain_in), plain_cov = results[False]
    (held, held_in), held_cov = results[True]
    assert held == plain and held_in == plain_in  # identical work, identical numbers
    assert plain['mpjpe_mm'] == pytest.approx(0.5 * plain_in['mpjpe_mm'], rel=0.05)
    assert plain['accel_mm_per_frame2'] < plain_in['accel_mm_per_frame2']
    assert plain_cov == pytest.approx(10 / 12) and held_cov == 1.0
    assert coverage(gt, in_m) == pytest.approx(10 / 12)
    assert results[True, 'own']['mpjpe_mm'] > 1.5 * results[False, 'own']['mpjpe_mm']


def test_common_pairs_accel_needs_the_triple_in_both_streams():
    gt = [_frame([1], [A], [J]) for _ in range(4)]
    full = [_frame([3], [A], [J]) for _ in range(4)]
    gap = [
        _frame(None, [A], [J]),
        _frame(None, [], []),
        _frame(None, [A], [J]),
        _frame(None, [A], [J]),
    ]
    a, b = common_pose_metrics(gt, full, clear_matches(gt, full), gap, clear_matches(gt, gap))
    assert a['accel_mm_per_frame2'] is None and b['accel_mm_per_frame2'] is None  # no triple
    assert a['mpjpe_mm'] == 0.0 and b['mpjpe_mm'] == 0.0  # 3 common pairs


def test_pelvis_error_and_pelvis_accel_by_hand():
    gt = [_frame([1], [A], [J]) for _ in range(3)]
    shift = np.zeros((22, 3))
    shift[:, 2] = 0.05  # the whole body 50 mm deeper in the middle frame
    hyp = [_frame([4], [A], [J]), _frame([4], [A], [J + shift]), _frame([4], [A], [J])]
    res = pose_metrics(gt, hyp, clear_matches(gt, hyp))
    assert res['mpjpe_mm'] == pytest.approx(0.0) and res['accel_mm_per_frame2'] == 0.0
    assert res['pelvis_mm'] == pytest.approx(50.0 / 3)
    assert res['pelvis_accel_mm_per_frame2'] == pytest.approx(100.0)


def test_fastest_person():
    def moving(speed, t):
        joints = J.copy()
        joints[1:, 0] = speed * t  # limbs move relative to the pelvis
        return joints

    gt = [_frame([1, 2], [A, B], [moving(0.01, t), moving(0.02, t)]) for t in range(3)]
    assert fastest_person(gt) == 2
    assert fastest_person([_frame([1], [A], [J])]) is None
