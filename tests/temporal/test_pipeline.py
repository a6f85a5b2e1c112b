"""Pipeline bookkeeping (lag, flush, reset) and output consistency with the body model."""

import dataclasses

import numpy as np
import pytest

from aios_ros.core.config import build
from aios_ros.core.types import TrackState
from aios_ros.geometry.pinhole import project
from aios_ros.geometry.so3 import geodesic_angle
from aios_ros.temporal.config import TemporalConfig
from aios_ros.temporal.pipeline import Pipeline

DT = 1.0 / 30.0


def _config(lag=2, mode='params', n_init=1):
    return build(
        TemporalConfig, {'fusion': {'lag_frames': lag, 'mode': mode}, 'tracker': {'n_init': n_init}}
    )


_WALKS = {}


def _walk(people_at, k, knee=0.0):
    """Two people crossing at 4 m and 6 m (the pipeline never modifies its input: cached)."""
    if (k, knee) not in _WALKS:
        _WALKS[k, knee] = people_at(
            [[-1.0 + 0.03 * k, 0.0, 4.0], [1.0 - 0.03 * k, 0.0, 6.0]], knee_angle=knee
        )
    return _WALKS[k, knee]


@pytest.mark.parametrize('lag', [0, 4])
def test_one_fused_frame_per_input_frame_after_flush(
    body_model, camera, people_at, estimator_for, lag
):
    pipe = Pipeline(estimator_for(body_model), _config(lag))
    fused = []
    for k in range(7):
        out = pipe.process_bodies(_walk(people_at, k), camera, k * DT, key=k)
        assert out.lag_frames == lag and out.raw.key == k
        assert (out.fused is None) == (k < lag)
        if out.fused is not None:
            assert out.fused.key == k - lag
            fused.append(out.fused)
    fused += pipe.flush()
    assert [f.key for f in fused] == list(range(7))
    assert all(len(f.bodies) == 2 for f in fused)
    assert pipe.flush() == []


def test_outputs_are_recomputed_from_the_final_parameters(
    body_model, camera, people_at, estimator_for
):
    pipe = Pipeline(estimator_for(body_model), _config(2))
    frames = [
        pipe.process_bodies(
            _walk(people_at, k, knee=0.3 * (k % 2)), camera, k * DT, k, with_vertices=True
        )
        for k in range(6)
    ]
    for stream in [frames[-1].raw, frames[-1].fused]:
        b = stream.bodies
        joints, verts = body_model.joints_and_vertices(
            b.pose, b.betas, b.expression, b.transl, True
        )
        np.testing.assert_allclose(b.joints_3d, joints, atol=1e-5)
        np.testing.assert_allclose(b.vertices, verts, atol=1e-5)
        np.testing.assert_allclose(b.keypoints_2d, project(joints, camera.K), atol=1e-3)
        assert b.track_ids.tolist() == [1, 2]
        assert b.track_states.tolist() == [TrackState.CONFIRMED] * 2


def test_fusion_smooths_an_alternating_knee(body_model, camera, people_at, estimator_for):
    """Knee alternates 0 / 0.3 rad: the lag-2 fused stream sits near the middle, raw does not."""
    cfg = dataclasses.replace(
        _config(2), filters=dataclasses.replace(_config(2).filters, enabled=False)
    )
    pipe = Pipeline(estimator_for(body_model), cfg)
    outs = [
        pipe.process_bodies(_walk(people_at, k, knee=0.3 * (k % 2)), camera, k * DT, k)
        for k in range(9)
    ]
    raw_knee = geodesic_angle(outs[6].raw.bodies.pose[0, 4], np.eye(3))
    fused_knee = geodesic_angle(outs[8].fused.bodies.pose[0, 4], np.eye(3))  # also frame 6
    assert raw_knee == pytest.approx(0.0, abs=1e-6)
    assert 0.08 < fused_knee < 0.22


def test_token_mode_runs_through_the_regressor(body_model, camera, people_at, estimator_for):
    pipe = Pipeline(estimator_for(body_model), _config(2, 'tokens'))
    for k in range(4):
        out = pipe.process_bodies(_walk(people_at, k), camera, k * DT, k)
    assert out.fused.bodies.pose.shape == (2, 53, 3, 3)
    np.testing.assert_allclose(
        out.fused.bodies.pose[:, 4], np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-3
    )


def test_tentative_people_are_held_back_and_reset_forgets(
    body_model, camera, people_at, estimator_for
):
    pipe = Pipeline(estimator_for(body_model), _config(0, n_init=3))
    sizes = [
        len(pipe.process_bodies(_walk(people_at, k), camera, k * DT, k).raw.bodies)
        for k in range(3)
    ]
    assert sizes == [0, 0, 2]
    pipe.reset()
    assert pipe.flush() == []
    out = pipe.process_bodies(_walk(people_at, 0), camera, 0.0, 0)  # stamps may restart after reset
    assert len(out.raw.bodies) == 0


def test_process_runs_the_estimator_and_empty_frames_work(
    body_model, camera, people_at, estimator_for
):
    frames = [_walk(people_at, 0), people_at(np.zeros((0, 3)))]
    pipe = Pipeline(estimator_for(body_model, frames), _config(0))
    image = np.zeros((480, 640, 3), np.uint8)
    assert len(pipe.process(image, camera, 0.0, 'a').raw.bodies) == 2
    out = pipe.process(image, camera, DT, 'b')
    assert len(out.raw.bodies) == 0 and len(out.fused.bodies) == 0
    for stamp in (0.0, DT):  # older, then equal
        with pytest.raises(ValueError, match='not newer'):
            pipe.process_bodies(_walk(people_at, 1), camera, stamp, 'c')


@pytest.mark.parametrize('missing, filled', [([5], True), ([5, 6], True), ([5, 6, 7], False)])
def test_short_dropouts_are_interpolated_in_the_fused_stream(
    body_model, camera, people_at, estimator_for, missing, filled
):
    # One person walking with a bending knee; frames ``missing`` lose them. With lag 2, dropouts of
    # up to 2 frames are still queued when the person is seen again: the fused stream gets a
    # COASTING row whose knee is the SLERP of its neighbours (filters and fusion off: exact).
    cfg = build(
        TemporalConfig,
        {
            'fusion': {'lag_frames': 2, 'mode': 'off', 'fill_gap_frames': 2},
            'tracker': {'n_init': 1},
            'filters': {'enabled': False},
        },
    )
    pipe = Pipeline(estimator_for(body_model), cfg)
    empty = people_at(np.zeros((0, 3)))
    walk = {k: people_at([[0.02 * k, 0.0, 4.0]], knee_angle=0.1 * k) for k in range(12)}
    raw, fused = {}, {}
    for k in range(12):
        out = pipe.process_bodies(empty if k in missing else walk[k], camera, k * DT, key=k)
        raw[k] = out.raw.bodies
        if out.fused is not None:
            fused[out.fused.key] = out.fused.bodies
    fused |= {f.key: f.bodies for f in pipe.flush()}
    assert all(len(raw[k]) == 0 for k in missing)  # lag 0 never invents people
    for k in missing:
        assert len(fused[k]) == (1 if filled else 0)
    if filled:
        tid = int(fused[4].track_ids[0])
        for k in missing:
            person = fused[k]
            assert int(person.track_ids[0]) == tid and person.track_states[0] == TrackState.COASTING
            angle = geodesic_angle(person.pose[0, 4], walk[0].pose[0, 4])
            np.testing.assert_allclose(angle, 0.1 * k, atol=1e-5)  # knee angle linear in time
            # translation: between the neighbours' Kalman estimates, which lag the walk a little
            np.testing.assert_allclose(person.transl[0, 0], 0.02 * k, atol=3e-3)
    others = [k for k in range(12) if k not in missing]
    assert all(fused[k].track_states.tolist() == [TrackState.CONFIRMED] for k in others)


def test_no_interpolation_when_switched_off(body_model, camera, people_at, estimator_for):
    cfg = build(
        TemporalConfig,
        {'fusion': {'lag_frames': 2, 'fill_gap_frames': 0}, 'tracker': {'n_init': 1}},
    )
    pipe = Pipeline(estimator_for(body_model), cfg)
    frames = [
        people_at([[0.0, 0.0, 4.0]]) if k != 3 else people_at(np.zeros((0, 3))) for k in range(6)
    ]
    fused = [
        o.fused
        for o in (pipe.process_bodies(f, camera, k * DT, key=k) for k, f in enumerate(frames))
        if o.fused is not None
    ] + pipe.flush()
    assert [len(f.bodies) for f in fused] == [1, 1, 1, 0, 1, 1]


def test_filters_apply_to_the_raw_stream_only(body_model, camera, people_at, estimator_for):
    """The fused stream is the window mean as it is (a filter after it only adds lag); the raw
    stream is One-Euro filtered, so a bending knee lags behind its measurement there."""
    walk = [_walk(people_at, k, knee=0.05 * k) for k in range(8)]
    runs = {}
    for enabled in (True, False):
        cfg = _config()
        cfg = dataclasses.replace(cfg, filters=dataclasses.replace(cfg.filters, enabled=enabled))
        pipe = Pipeline(estimator_for(body_model), cfg)
        runs[enabled] = [pipe.process_bodies(b, camera, k * DT, key=k) for k, b in enumerate(walk)]
    for filtered, plain in zip(runs[True], runs[False]):
        if filtered.fused is not None:
            np.testing.assert_array_equal(filtered.fused.bodies.pose, plain.fused.bodies.pose)
    last = runs[True][-1].raw.bodies.pose[:, 4]
    measured = runs[False][-1].raw.bodies.pose[:, 4]
    assert geodesic_angle(last[0], measured[0]) > 0.005  # the filter holds the knee back
