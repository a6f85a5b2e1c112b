"""SO(3) helpers against hand-computed rotations."""

import numpy as np
import pytest

from aios_ros.geometry.so3 import (
    chordal_mean,
    exp_map,
    geodesic_angle,
    log_map,
    project_to_so3,
    rotation_about,
)

Z = np.array([0.0, 0.0, 1.0])


def test_chordal_mean_of_plus_minus_179_deg_is_180_deg():
    rots = rotation_about(Z, np.deg2rad([179.0, -179.0]))
    mean = chordal_mean(rots, np.ones(2))
    np.testing.assert_allclose(mean, np.diag([-1.0, -1.0, 1.0]), atol=1e-12)
    w = log_map(mean)
    assert np.isclose(np.linalg.norm(w), np.pi) and np.allclose(np.abs(w / np.pi), Z)


def test_weighted_chordal_mean_about_one_axis():
    # M = 0.75 I + 0.25 Rz(90): its xy block is [[0.75, -0.25], [0.25, 0.75]]
    # -> angle atan2(0.25, 0.75).
    rots = rotation_about(Z, np.deg2rad([0.0, 90.0]))
    mean = chordal_mean(rots, np.array([3.0, 1.0]))
    np.testing.assert_allclose(mean, rotation_about(Z, np.arctan2(0.25, 0.75)), atol=1e-12)
    np.testing.assert_allclose(
        chordal_mean(rots, np.ones(2)), rotation_about(Z, np.pi / 4), atol=1e-12
    )


def test_chordal_mean_is_batched_and_ignores_weight_scale():
    rng = np.random.default_rng(0)
    rots = exp_map(0.3 * rng.normal(size=(4, 5, 3)))  # 4 sets of 5 rotations
    w = rng.uniform(0.1, 1.0, size=(4, 5))
    batched = chordal_mean(rots, w)
    for i in range(4):
        np.testing.assert_allclose(batched[i], chordal_mean(rots[i], 7.0 * w[i]), atol=1e-12)


def _svd_projection(m):
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


@pytest.mark.parametrize('scale', [0.1, 1.0, 10.0])
def test_projection_matches_svd_formula_including_reflections(scale):
    rng = np.random.default_rng(1)
    mats = scale * rng.normal(size=(200, 3, 3))  # about half have det < 0
    proj = project_to_so3(mats)
    for m, p in zip(mats, proj):
        np.testing.assert_allclose(p, _svd_projection(m), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(proj), 1.0, atol=1e-9)


def test_log_exp_round_trip_including_near_pi():
    rng = np.random.default_rng(2)
    axes = rng.normal(size=(500, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.r_[rng.uniform(0.0, np.pi, 490), np.pi - np.logspace(-9, -4, 10)]
    w = axes * angles[:, None]
    np.testing.assert_allclose(exp_map(log_map(exp_map(w))), exp_map(w), atol=1e-7)
    np.testing.assert_allclose(geodesic_angle(exp_map(w), np.eye(3)), angles, atol=1e-6)
