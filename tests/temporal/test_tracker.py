"""Tracker life cycle: birth, coasting, death, re-identification, crossings."""

import dataclasses

import numpy as np
import pytest

from aios_ros.core.types import Bodies, TrackState
from aios_ros.temporal import association as assoc
from aios_ros.temporal.config import TrackerConfig
from aios_ros.temporal.tracker import Tracker

DT = 1.0 / 30.0
SHAPE_A = np.r_[2.0, np.zeros(9)]
SHAPE_B = np.r_[-2.0, np.zeros(9)]


def _run(tracker, bodies_factory, frames):
    """frames: list of (stamp, [(transl, betas, score), ...]) -> list of TrackerResult."""
    out = []
    for stamp, people in frames:
        if people:
            bodies = bodies_factory(
                [p[0] for p in people], [p[1] for p in people], [p[2] for p in people]
            )
        else:
            bodies = Bodies.empty(1)
        out.append(tracker.update(bodies, stamp))
    return out


def _walker(x0, vx, z, betas, score=0.9):
    return lambda t: (np.array([x0 + vx * t, 0.0, z]), betas, score)


def test_birth_tentative_then_confirmed(bodies_factory):
    p = _walker(0.0, 1.0, 5.0, SHAPE_A)
    res = _run(
        Tracker(TrackerConfig(n_init=3)), bodies_factory, [(k * DT, [p(k * DT)]) for k in range(4)]
    )
    assert [int(r.states[0]) for r in res] == [TrackState.TENTATIVE] * 2 + [
        TrackState.CONFIRMED
    ] * 2
    assert len({int(r.track_ids[0]) for r in res}) == 1


def test_low_score_never_starts_a_track_and_tentative_dies_on_miss(bodies_factory):
    tracker = Tracker(TrackerConfig())
    res = _run(tracker, bodies_factory, [(0.0, [(np.array([0, 0, 5.0]), SHAPE_A, 0.4)])])
    assert res[0].track_ids[0] == -1 and not tracker.tracks
    res = _run(
        tracker, bodies_factory, [(DT, [(np.array([0, 0, 5.0]), SHAPE_A, 0.9)]), (2 * DT, [])]
    )
    assert res[1].deleted == [int(res[0].track_ids[0])] and not tracker.tracks


def test_coast_through_short_gap_and_death_after_max_age(bodies_factory):
    cfg = TrackerConfig(n_init=1, max_age_s=1.0, gallery_s=2.0)
    tracker = Tracker(cfg)
    p = _walker(-1.0, 1.0, 5.0, SHAPE_A)
    frames = [(k * DT, [p(k * DT)] if not 10 <= k < 15 else []) for k in range(20)]  # 0.17 s gap
    res = _run(tracker, bodies_factory, frames)
    ids = {int(r.track_ids[0]) for r in res if len(r.track_ids)}
    assert len(ids) == 1 and not any(r.restarted for r in res)
    (tid,) = ids
    gap = _run(tracker, bodies_factory, [(20 * DT + k * 0.1, []) for k in range(12)])  # 1.1 s
    assert [tid] == sum((r.deleted for r in gap), []) and not tracker.tracks
    later = _run(tracker, bodies_factory, [(20 * DT + 3.5, [p(20 * DT + 3.5)])])  # after gallery_s
    assert int(later[0].track_ids[0]) != tid


def test_reidentification_after_long_occlusion(bodies_factory):
    tracker = Tracker(TrackerConfig(max_age_s=1.0))
    a = _walker(-1.0, 0.8, 5.0, SHAPE_A)
    res = _run(tracker, bodies_factory, [(k * DT, [a(k * DT)]) for k in range(10)])
    tid = int(res[-1].track_ids[0])
    hidden = _run(tracker, bodies_factory, [(k * DT, []) for k in range(10, 70)])  # 2 s hidden
    assert tid in sum((r.deleted for r in hidden), [])
    back = _run(tracker, bodies_factory, [(k * DT, [a(k * DT)]) for k in range(70, 73)])
    assert [int(r.track_ids[0]) for r in back] == [tid] * 3
    assert back[0].restarted == [tid] and back[0].states[0] == TrackState.CONFIRMED


def test_crossing_with_occlusion_keeps_identities(bodies_factory):
    """A walks right at 4 m, B walks left at 6 m; B is hidden for 0.5 s while they cross."""
    tracker = Tracker(TrackerConfig())
    a = _walker(-2.0, 1.0, 4.0, SHAPE_A)
    b = _walker(3.0, -1.5, 6.0, SHAPE_B)
    frames = []
    for k in range(120):
        t = k * DT
        frames.append((t, [a(t)] + ([] if 1.5 <= t < 2.0 else [b(t)])))
    res = _run(tracker, bodies_factory, frames)
    ids_a = {int(r.track_ids[0]) for r in res[5:]}
    ids_b = {int(r.track_ids[1]) for r in res[5:] if len(r.track_ids) == 2}
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


def test_low_score_candidate_extends_a_track(bodies_factory):
    tracker = Tracker(TrackerConfig(n_init=1))
    p = _walker(0.0, 1.0, 5.0, SHAPE_A)
    res = _run(tracker, bodies_factory, [(0.0, [p(0.0)]), (DT, [(p(DT)[0], SHAPE_A, 0.3)])])
    assert res[1].track_ids[0] == res[0].track_ids[0]


def test_stamps_must_not_go_back(bodies_factory):
    tracker = Tracker(TrackerConfig())
    tracker.update(Bodies.empty(1), 1.0)
    with pytest.raises(ValueError, match='older'):
        tracker.update(Bodies.empty(1), 0.5)


@pytest.mark.parametrize('shape_jump, cut', [(0.0, False), (2.5, True)])
def test_costly_match_is_a_suspected_switch_that_restarts_the_identity(
    bodies_factory, shape_jump, cut
):
    # Same identity either way (the pair passes every gate); a match costing more than
    # switch_cut_ratio x its stage threshold restarts its temporal state (docs/temporal.md §6).
    tracker = Tracker(TrackerConfig(n_init=1, switch_cut_ratio=0.8))
    res = _run(
        tracker,
        bodies_factory,
        [(k * DT, [(np.array([0.0, 0, 5.0]), SHAPE_A, 0.9)]) for k in range(10)],
    )
    assert not any(r.restarted for r in res)
    moved = (np.array([0.19, 0, 5.0]), SHAPE_A + np.r_[0.0, shape_jump, np.zeros(8)], 0.9)
    (last,) = _run(tracker, bodies_factory, [(10 * DT, [moved])])
    tid = int(res[0].track_ids[0])
    assert int(last.track_ids[0]) == tid
    assert (last.restarted, last.suspected) == (([tid], 1) if cut else ([], 0))


def test_cost_terms_combine_as_a_weighted_mean_of_the_available_cues():
    iou = np.array([[0.2, 0.4]])
    app = np.array([[np.nan, 1.0]])  # no appearance yet for the first pair
    cost = assoc.combine([(0.5, iou), (0.25, app), (0.3, None)])
    np.testing.assert_allclose(cost, [[0.2, (0.5 * 0.4 + 0.25 * 1.0) / 0.75]])
    with pytest.raises(ValueError, match='positive weight'):
        assoc.combine([(0.0, iou), (0.3, None)])


@pytest.mark.parametrize('gate_sigma, kept', [(4.5, False), (TrackerConfig().gate_sigma, True)])
def test_depth_jump_along_the_ray_keeps_the_identity(bodies_factory, gate_sigma, kept):
    # A monocular depth jump scales the whole translation along the viewing ray while the body
    # box stays where the person is. The default gate lets a jump that the former gate (4.5)
    # refused match, instead of starting a second identity for the same person
    # (docs/temporal.md §2.2).
    tracker = Tracker(TrackerConfig(n_init=1, gate_sigma=gate_sigma))
    still = np.array([0.5, 0.0, 5.3])
    res = _run(tracker, bodies_factory, [(k * DT, [(still, SHAPE_A, 0.9)]) for k in range(20)])
    tid = int(res[-1].track_ids[0])
    box = bodies_factory([still], [SHAPE_A], [0.9]).boxes
    jumped = bodies_factory([still * 1.45], [SHAPE_A], [0.9])
    jumped = dataclasses.replace(jumped, boxes=box)
    ids = [int(tracker.update(jumped, (20 + k) * DT).track_ids[0]) for k in range(3)]
    assert (ids == [tid] * 3) == kept, ids
