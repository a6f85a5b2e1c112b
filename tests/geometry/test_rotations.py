"""Rotation conversions: AiOS fixture parity, hand-computed cases, round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aios_ros.geometry.rotations import (
    quaternion_to_axis_angle,
    rot6d_to_rotmat,
    rotmat_to_axis_angle,
    rotmat_to_quaternion,
)
from aios_ros.geometry.so3 import exp_map, log_map

FIXTURE_TOL = dict(rtol=0, atol=2.4e-7)  # fixtures/README.md: glue/heads tolerance


@pytest.fixture(scope='module')
def fixture(reference_dir):
    return torch.load(reference_dir / 'aios' / 'fixtures' / 'rotation_utils.pt', weights_only=False)


def test_rot6d_matches_aios_fixture(fixture):
    torch.testing.assert_close(rot6d_to_rotmat(fixture['rot6d']), fixture['rotmat'], **FIXTURE_TOL)


def test_axis_angle_matches_pytorch3d_061_fixture(fixture):
    aa = rotmat_to_axis_angle(fixture['rotmat'])
    torch.testing.assert_close(aa, fixture['axis_angle'], **FIXTURE_TOL)
    assert aa.norm(dim=-1).max() > 4.5  # no sign standardisation: angles beyond pi survive
    torch.testing.assert_close(
        rotmat_to_axis_angle(fixture['special_rotmat']),
        fixture['special_axis_angle'],
        **FIXTURE_TOL,
    )


def test_hand_computed_cases():
    quarter_z = torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    torch.testing.assert_close(rotmat_to_axis_angle(quarter_z), torch.tensor([0, 0, math.pi / 2]))
    torch.testing.assert_close(
        rotmat_to_quaternion(quarter_z), torch.tensor([math.sqrt(0.5), 0, 0, math.sqrt(0.5)])
    )
    # 6D: the numbers are a row-major (3, 2) matrix -> columns (0, 2, 4) and (1, 3, 5)
    torch.testing.assert_close(rot6d_to_rotmat(torch.tensor([0.0, -2, 3, 0.5, 0, 0])), quarter_z)
    # 200 degrees about x: pytorch3d 0.6.1 keeps w < 0 -> +3.49 rad; the principal log is -160 deg
    c, s = math.cos(3.49), math.sin(3.49)
    r200 = torch.tensor([[1.0, 0, 0], [0, c, -s], [0, s, c]], dtype=torch.float64)
    torch.testing.assert_close(
        rotmat_to_axis_angle(r200), torch.tensor([3.49, 0, 0], dtype=torch.float64)
    )
    np.testing.assert_allclose(log_map(r200.numpy()), [3.49 - 2 * math.pi, 0, 0], atol=1e-12)
    np.testing.assert_allclose(
        exp_map(np.array([1e-9, 0, 0])),
        [[1, 0, 0], [0, 1, -1e-9], [0, 1e-9, 1]],
        rtol=0,
        atol=1e-15,
    )


def test_round_trips():
    g = torch.Generator().manual_seed(0)
    rot = rot6d_to_rotmat(torch.randn(500, 6, generator=g, dtype=torch.float64))
    tol = dict(rtol=0, atol=1e-10)
    # the AiOS axis-angle (|aa| up to 2 pi) and the principal log describe the same rotations
    np.testing.assert_allclose(
        exp_map(rotmat_to_axis_angle(rot).numpy()), rot.numpy(), rtol=0, atol=1e-10
    )
    log = log_map(rot.numpy())
    assert np.linalg.norm(log, axis=-1).max() <= math.pi + 1e-12
    np.testing.assert_allclose(exp_map(log), rot.numpy(), rtol=0, atol=1e-10)
    quat = rotmat_to_quaternion(rot)
    torch.testing.assert_close(
        quaternion_to_axis_angle(-quat).norm(dim=-1) + quaternion_to_axis_angle(quat).norm(dim=-1),
        torch.full((500,), 2 * math.pi, dtype=torch.float64),
        **tol,
    )
    assert torch.allclose(
        rot.transpose(-1, -2) @ rot, torch.eye(3, dtype=torch.float64), atol=1e-12
    )


def test_numpy_in_numpy_out_batched():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 7, 6)).astype(np.float32)
    rot = rot6d_to_rotmat(x)
    assert isinstance(rot, np.ndarray) and rot.shape == (4, 7, 3, 3) and rot.dtype == np.float32
    np.testing.assert_array_equal(
        rotmat_to_axis_angle(rot), rotmat_to_axis_angle(torch.from_numpy(rot)).numpy()
    )
