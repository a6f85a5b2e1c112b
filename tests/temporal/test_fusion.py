"""Fusion weights, APM limit, parameter-space chordal fusion and the token-path guard."""

import numpy as np

from aios_ros.geometry.so3 import chordal_mean, geodesic_angle, rotation_about
from aios_ros.synthetic.token_heads import LinearTokenCodec
from aios_ros.temporal.config import FusionConfig
from aios_ros.temporal.fusion import Fuser, srwa_weights

DT = 1.0 / 30.0
APM = dict(sigma_s=1e6, hand_sigma_s=1e6, orient_sigma_s=1e6, tau=1e6, s_min=-1.0, blend=1.0)


def _entries(angles, tokens=None):
    """Buffer entries whose pose rows are rotations about z by ``angles`` (rad) for every joint."""
    k = len(angles)
    pose = np.broadcast_to(rotation_about([0, 0, 1.0], np.asarray(angles))[:, None], (k, 53, 3, 3))
    entries = {
        'score': np.ones(k, np.float32),
        'pose': pose.astype(np.float32),
        'expression': np.arange(k, dtype=np.float32)[:, None].repeat(10, 1),
    }
    if tokens is not None:
        entries['tokens'] = tokens
    return entries


def test_uniform_limit_of_the_weights_is_the_window_mean():
    dt = np.array([[-2, -1, 0, 1, 2]]) * DT
    w = srwa_weights(
        dt,
        np.ones((1, 5)),
        np.array([[1.0, 0.2, 1.0, -0.5, 0.9]]),
        np.ones((1, 5)),
        np.array([2]),
        sigma=1e12,
        tau=1e12,
        s_min=-1.0,
        blend=1.0,
    )
    np.testing.assert_allclose(w, np.full((1, 5), 0.2), atol=1e-9)
    w = srwa_weights(dt, np.ones((1, 5)), None, np.ones((1, 5)), np.array([2]), 1e6, 1.0, -1.0, 0.0)
    np.testing.assert_allclose(w, [[0, 0, 1, 0, 0]])  # blend 0 = raw target


def test_parameter_fusion_is_the_chordal_mean(windows_of):
    angles = np.deg2rad([10.0, 20.0, 40.0, 170.0, -175.0])
    res = Fuser(FusionConfig(**APM)).fuse(windows_of([_entries(angles)], [2]), np.array([2 * DT]))
    expected = chordal_mean(rotation_about([0, 0, 1.0], angles), np.ones(5))
    np.testing.assert_allclose(res.pose[0, 7], expected, atol=1e-5)
    np.testing.assert_allclose(res.expression[0], 2.0, atol=1e-6)  # mean of 0..4


def test_similarity_downweights_an_outlier_frame(windows_of):
    angles = np.deg2rad([0.0, 2.0, 0.0, 90.0, 1.0])
    cfg = FusionConfig(sigma_s=1e6, hand_sigma_s=1e6, orient_sigma_s=1e6, tau=0.05, blend=1.0)
    res = Fuser(cfg).fuse(windows_of([_entries(angles)], [2]), np.array([2 * DT]))
    assert geodesic_angle(res.pose[0, 5], np.eye(3)) < np.deg2rad(2.0)


def test_token_fusion_with_uniform_weights_regresses_the_apm_mean(windows_of):
    codec = LinearTokenCodec(0)
    seen = []

    def regress(tokens):
        seen.append(tokens)
        return codec.regress(tokens)

    rng = np.random.default_rng(0)
    tokens = rng.normal(size=(3, 39, 256)).astype(np.float16)
    angles = np.deg2rad([0.0, 10.0, 20.0])
    res = Fuser(FusionConfig(mode='tokens', guard_angle_rad=np.pi, **APM), regress).fuse(
        windows_of([_entries(angles, tokens)], [1]), np.array([DT])
    )
    (batch,) = seen
    assert batch.shape == (3, 39, 256)  # body, hand and face blocks
    for fused in batch:
        np.testing.assert_allclose(fused, tokens.astype(np.float32).mean(0), atol=1e-5)
    assert not res.fallback[0]


def test_guard_falls_back_to_parameter_fusion(windows_of):
    codec = LinearTokenCodec(0)
    angles = np.deg2rad([0.0, 5.0, 10.0])
    flipped = np.broadcast_to(rotation_about([1.0, 0, 0], np.pi / 2), (3, 53, 3, 3))
    tokens = codec.encode(flipped, np.zeros((3, 10)), np.zeros((3, 10)))  # heads say: 90 deg off
    cfg = FusionConfig(mode='tokens', **APM)
    res = Fuser(cfg, codec.regress).fuse(
        windows_of([_entries(angles, tokens)], [1]), np.array([DT])
    )
    params = Fuser(FusionConfig(**APM)).fuse(windows_of([_entries(angles)], [1]), np.array([DT]))
    assert res.fallback[0]
    np.testing.assert_allclose(res.pose, params.pose, atol=1e-6)


def test_windows_of_different_lengths_are_fused_together(windows_of):
    a = _entries(np.deg2rad([0.0, 30.0]))
    b = _entries(np.deg2rad([0.0, 10.0, 20.0, 30.0]))
    res = Fuser(FusionConfig(**APM)).fuse(windows_of([a, b], [0, 3]), np.array([0.0, 3 * DT]))
    np.testing.assert_allclose(
        geodesic_angle(res.pose[:, 3], np.eye(3)), np.deg2rad([15.0, 15.0]), atol=1e-5
    )
