"""One-Euro on SO(3) and the constant-velocity Kalman filter."""

import numpy as np
import pytest
from filterpy import kalman
from filterpy.kalman import KalmanFilter

from aios_ros.geometry.so3 import exp_map, geodesic_angle, rotation_about
from aios_ros.temporal.config import OneEuroConfig, StreamFilterConfig
from aios_ros.temporal.filters import OneEuroParams, PoseSmoother, one_euro_so3_step
from aios_ros.temporal.motion import HUBER_K, MotionFilter, measurement, measurement_cov

DT = 1.0 / 30.0


def _step(r_hat, speed, r, dt, params):
    """one_euro_so3_step on (N, J, 3, 3) rotations and (N, J, 3) speeds (its layout is
    (3, 3, N, J))."""

    def cf(m):
        return np.ascontiguousarray(np.moveaxis(m, (-2, -1), (0, 1)))

    r_new, speed_new = one_euro_so3_step(
        cf(r_hat), np.moveaxis(speed, -1, 0).copy(), cf(r), dt, params
    )
    return np.moveaxis(r_new, (0, 1), (-2, -1)), np.moveaxis(speed_new, 0, -1)


def _params(min_cutoff=1.0, beta=0.0, d_cutoff=1.0, joints=1):
    return OneEuroParams(
        np.full(joints, min_cutoff), np.full(joints, beta), np.full(joints, d_cutoff)
    )


def test_constant_rotation_passes_unchanged():
    r = exp_map(np.array([[[0.3, -1.2, 2.0]]]))
    r_hat, speed = r.copy(), np.zeros((1, 1, 3))
    for _ in range(100):
        r_hat, speed = _step(r_hat, speed, r, np.array([DT]), _params(beta=0.5))
    np.testing.assert_allclose(r_hat, r, atol=1e-12)
    np.testing.assert_allclose(speed, 0.0, atol=1e-12)


def test_first_step_moves_by_the_one_euro_alpha():
    # beta = 0: cutoff = min_cutoff, alpha = r / (1 + r) with r = 2 pi f dt; the step is a geodesic
    # interpolation, so the remaining angle is (1 - alpha) of the initial one.
    start = np.eye(3)[None, None]
    target = rotation_about([0.0, 0.0, 1.0], 0.4)[None, None]
    r_hat, _ = _step(start, np.zeros((1, 1, 3)), target, np.array([DT]), _params(2.0))
    r = 2 * np.pi * 2.0 * DT
    np.testing.assert_allclose(geodesic_angle(r_hat, target), (1 - r / (1 + r)) * 0.4, atol=1e-12)


def test_noisy_input_stays_on_so3_and_is_smoothed():
    rng = np.random.default_rng(0)
    truth = np.eye(3)
    r_hat, speed = truth[None, None].copy(), np.zeros((1, 1, 3))
    raw_err, out_err = [], []
    for _ in range(600):
        meas = (truth @ exp_map(0.05 * rng.normal(size=3)))[None, None]
        r_hat, speed = _step(r_hat, speed, meas, np.array([DT]), _params(1.0, 0.1))
        raw_err.append(geodesic_angle(meas, truth).item())
        out_err.append(geodesic_angle(r_hat, truth).item())
    np.testing.assert_allclose(r_hat[0, 0].T @ r_hat[0, 0], np.eye(3), atol=1e-10)
    assert np.isclose(np.linalg.det(r_hat[0, 0]), 1.0)
    assert np.mean(out_err) < 0.5 * np.mean(raw_err)


def test_pose_smoother_tracks_identities_and_streams_separately():
    slow = StreamFilterConfig(*(OneEuroConfig(1.0, 0.0, 1.0) for _ in range(4)))
    fast = StreamFilterConfig(*(OneEuroConfig(30.0, 0.0, 1.0) for _ in range(4)))
    smoother = PoseSmoother({'raw': slow, 'fused': fast})
    a = np.broadcast_to(np.eye(3), (1, 53, 3, 3)).copy()
    b = np.broadcast_to(rotation_about([1.0, 0.0, 0.0], 0.5), (1, 53, 3, 3)).copy()
    keys = [('raw', 1), ('raw', 2), ('fused', 2)]
    start = np.concatenate([a, b, b])
    np.testing.assert_allclose(smoother.apply(keys, start, np.zeros(3)), start)  # new keys: as is
    out = smoother.apply(keys, np.concatenate([a, a, a]), np.full(3, DT))
    np.testing.assert_allclose(out[0], a[0])  # constant input
    slow_left, fast_left = geodesic_angle(out[1:, 5], np.eye(3))
    assert 0.0 < fast_left < slow_left < 0.5  # per-stream cutoffs
    smoother.forget(2)
    np.testing.assert_allclose(
        smoother.apply(keys[1:], np.concatenate([b, b]), np.full(2, 2 * DT)), np.concatenate([b, b])
    )


def test_params_per_joint_group():
    cfg = StreamFilterConfig(
        global_orient=OneEuroConfig(1.0, 0.3, 1.0),
        body=OneEuroConfig(2.0, 0.2, 1.0),
        hands=OneEuroConfig(3.0, 0.1, 1.0),
        jaw=OneEuroConfig(4.0, 0.1, 1.0),
    )
    p = OneEuroParams.for_pose(cfg)
    assert p.min_cutoff[0] == 1.0 and p.min_cutoff[1] == p.min_cutoff[21] == 2.0
    assert p.min_cutoff[22] == p.min_cutoff[51] == 3.0 and p.min_cutoff[52] == 4.0


def test_kalman_learns_constant_velocity_and_predicts_through_a_gap():
    velocity = np.array([1.0, 0.0, -0.5])
    box = np.array([100.0, 100.0, 200.0, 400.0])

    def meas(transl):
        z = measurement(transl, box)
        return z, measurement_cov(z, sigma_xy=0.03, sigma_z_rel=0.017)

    kf = MotionFilter(*meas(np.array([0.0, 0.0, 5.0])), sigma_accel=3.0)
    for k in range(1, 31):
        kf.predict(DT)
        kf.update(*meas(np.array([0.0, 0.0, 5.0]) + velocity * k * DT))
    kf.predict(0.5)  # 15 frames without detection
    np.testing.assert_allclose(kf.transl, np.array([0.0, 0.0, 5.0]) + velocity * 1.5, atol=0.05)
    before = kf.transl
    kf.predict(0.0)  # same stamp: nothing changes
    np.testing.assert_array_equal(kf.transl, before)
    np.testing.assert_allclose(kf.box, box, atol=1.0)


def test_kalman_matches_filterpy_class_with_hand_built_model():
    # The same constant-velocity model written out by hand for filterpy's KalmanFilter class:
    # per axis F = [[1, dt], [0, 1]], Q = var * [[dt^4/4, dt^3/2], [dt^3/2, dt^2]] with the box
    # axes' acceleration scaled by box height / 1.7 m, R from measurement_cov.
    rng = np.random.default_rng(3)
    sigma_accel, sigma_xy, sigma_z_rel = 3.0, 0.03, 0.017
    z0 = measurement(np.array([0.3, -0.2, 6.0]), np.array([100.0, 80.0, 180.0, 400.0]))
    ours = MotionFilter(z0, measurement_cov(z0, sigma_xy, sigma_z_rel), sigma_accel)
    ref = KalmanFilter(dim_x=14, dim_z=7)
    ref.x, ref.P = ours.x.copy(), ours.P.copy()
    ref.H = np.hstack([np.eye(7), np.zeros((7, 7))])
    for k in range(40):
        dt = [1 / 30, 2 / 30, 0.5][k % 3]
        f = np.eye(14)
        f[range(7), range(7, 14)] = dt
        box_sd = sigma_accel / 1.7 * max(ref.x[6], 1.0)
        var = np.r_[np.full(3, sigma_accel**2), np.full(4, box_sd**2)]
        q = np.block(
            [
                [np.diag(var * dt**4 / 4), np.diag(var * dt**3 / 2)],
                [np.diag(var * dt**3 / 2), np.diag(var * dt**2)],
            ]
        )
        ours.predict(dt)
        ref.predict(F=f, Q=q)
        if k % 5 != 2:  # some frames without a detection
            # within the Huber gate (HUBER_K): plain Kalman updates
            z = z0 + rng.normal(size=7) * np.r_[0.02, 0.02, 0.1, 3.0, 3.0, 2.0, 2.0]
            r = measurement_cov(z, sigma_xy, sigma_z_rel)
            ours.update(z, r)
            ref.update(z, R=r)
        np.testing.assert_allclose(ours.x, ref.x, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(ours.P, ref.P, rtol=1e-9, atol=1e-9)


def test_pose_smoother_batches_many_identities_like_one_at_a_time():
    # 20 identities outgrow the initial 16 state slots; forgetting frees slots for new ones.
    rng = np.random.default_rng(1)
    cfg = StreamFilterConfig()
    batched, single = PoseSmoother({'raw': cfg}), PoseSmoother({'raw': cfg})
    keys = [('raw', i) for i in range(20)]
    for step in range(3):
        pose = exp_map(0.3 * rng.normal(size=(20, 53, 3)))
        out = batched.apply(keys, pose, np.full(20, step * DT))
        for i, key in enumerate(keys):
            np.testing.assert_allclose(
                out[i], single.apply([key], pose[i : i + 1], np.array([step * DT]))[0], atol=1e-12
            )
    batched.forget(3)
    pose = exp_map(0.3 * rng.normal(size=(2, 53, 3)))
    out = batched.apply([('raw', 3), ('raw', 99)], pose, np.full(2, 3 * DT))
    np.testing.assert_allclose(out, pose, atol=1e-12)  # forgotten and new: start from the input


def test_kalman_bounds_the_step_of_a_depth_jump_and_expects_depth_error_along_the_ray():
    box = np.array([100.0, 100.0, 200.0, 400.0])
    t0 = np.array([1.0, 0.0, 3.0])  # near: depth is good, so a 25 % jump is an outlier
    z0 = measurement(t0, box)
    r0 = measurement_cov(z0, 0.03, 0.017)
    ray = t0 / np.linalg.norm(t0)
    # depth sd 0.017 * z^2 along the ray; 0.03 m across it
    assert ray @ r0[:3, :3] @ ray * ray[2] ** 2 == pytest.approx((0.017 * 9) ** 2)
    across = np.array([ray[2], 0.0, -ray[0]])
    assert across @ r0[:3, :3] @ across == pytest.approx(0.03**2)

    def settled():
        kf = MotionFilter(z0, r0, sigma_accel=3.0)
        for _ in range(30):
            kf.predict(DT)
            kf.update(z0, r0)
        kf.predict(DT)
        return kf

    jump = measurement(t0 * 1.4, box)  # a wrong scale: the whole translation 40 % too far
    r = measurement_cov(jump, 0.03, 0.017)
    gated, plain = settled(), settled()
    gated.update(jump, r)
    nu = jump[:3] - plain.x[:3]
    d = np.sqrt(nu @ np.linalg.solve(plain.P[:3, :3] + r[:3, :3], nu))
    assert d > HUBER_K
    h = np.hstack([np.eye(7), np.zeros((7, 7))])
    inflated = r.copy()
    inflated[:3, :3] *= d / HUBER_K  # Huber weight HUBER_K / d on the translation
    expected, _ = kalman.update(plain.x, plain.P, jump, inflated, h)
    np.testing.assert_allclose(gated.x, expected, rtol=1e-9, atol=1e-9)
    unweighted, _ = kalman.update(plain.x, plain.P, jump, r, h)
    step_gated = np.linalg.norm(gated.transl - t0)
    assert 0.0 < step_gated < 0.9 * np.linalg.norm(unweighted[:3] - t0)
