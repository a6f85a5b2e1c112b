"""SmplxLayer: same outputs as the smplx package, official state_dict layout, AiOS semantics."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import smplx
import torch

from aios_ros.body.smplx_layer import SmplxLayer
from aios_ros.body.vertex_keypoints import smplx_keypoint_ids
from aios_ros.geometry.rotations import rot6d_to_rotmat, rotmat_to_axis_angle
from aios_ros.geometry.so3 import log_map

TOL = dict(rtol=0, atol=1e-6)


def _smplx_reference(folder, transl):
    with smplx_keypoint_ids(folder):
        model = smplx.create(
            str(folder),
            model_type='smplx',
            gender='neutral',
            use_pca=False,
            use_face_contour=True,
            flat_hand_mean=False,
            num_betas=10,
            num_expression_coeffs=10,
            ext='npz',
        )
    with torch.no_grad():
        model.transl.copy_(transl)
    return model


def _random_inputs(n, seed):
    g = torch.Generator().manual_seed(seed)
    rotmats = rot6d_to_rotmat(torch.randn(n, 53, 6, generator=g))
    return rotmats, torch.randn(n, 10, generator=g), torch.randn(n, 10, generator=g)


def _run_layer(layer, rotmats, betas, expression, with_vertices=True):
    return layer(
        rotmats[:, 0],
        rotmats[:, 1:22],
        rotmats[:, 22:37],
        rotmats[:, 37:52],
        rotmats[:, 52:53],
        betas,
        expression,
        with_vertices=with_vertices,
    )


def _run_smplx(model, aa, betas, expression):
    n = aa.shape[0]
    return model(
        betas=betas,
        expression=expression,
        global_orient=aa[:, 0],
        body_pose=aa[:, 1:22].reshape(n, -1),
        left_hand_pose=aa[:, 22:37].reshape(n, -1),
        right_hand_pose=aa[:, 37:52].reshape(n, -1),
        jaw_pose=aa[:, 52],
        leye_pose=torch.zeros(n, 3),
        reye_pose=torch.zeros(n, 3),
    )


@torch.no_grad()
def test_matches_smplx_package(smplx_dir, small_layer):
    transl = torch.tensor([[0.05, -0.02, 0.3]])
    reference = _smplx_reference(smplx_dir, transl)
    layer = SmplxLayer.from_smplx_folder(smplx_dir)
    layer.transl.copy_(transl)  # the official forward adds the module's transl parameter
    rotmats, betas, expression = _random_inputs(6, seed=0)
    ours = _run_layer(layer, rotmats, betas, expression)
    # AiOS feeds smplx the pytorch3d-0.6.1 axis-angle of its rotation matrices
    theirs = _run_smplx(reference, rotmat_to_axis_angle(rotmats), betas, expression)
    assert ours.joints.shape == (6, 144, 3)
    torch.testing.assert_close(ours.joints, theirs.joints, **TOL)
    torch.testing.assert_close(ours.vertices, theirs.vertices, **TOL)
    assert ours.joints[:, 127:].std(0).max() > 0  # contour landmarks really vary with the pose


@torch.no_grad()
def test_mean_hand_is_added_to_the_unstandardised_axis_angle(smplx_dir, small_layer):
    """A hand rotation whose 0.6.1 axis-angle has |aa| > pi: mean + aa != mean + log(R)."""
    rotmats, betas, expression = _random_inputs(1, seed=1)
    c, s = torch.cos(torch.tensor(3.49)), torch.sin(torch.tensor(3.49))  # 200 degrees about x
    turn = torch.tensor([[1.0, 0, 0], [0, c, -s], [0, s, c]])
    rotmats[:, 22:37] = turn
    torch.testing.assert_close(rotmat_to_axis_angle(turn), torch.tensor([3.49, 0, 0]))
    reference = _smplx_reference(smplx_dir, torch.zeros(1, 3))
    ours = _run_layer(small_layer, rotmats, betas, expression)
    aa = rotmat_to_axis_angle(rotmats)
    torch.testing.assert_close(
        ours.vertices, _run_smplx(reference, aa, betas, expression).vertices, **TOL
    )
    principal = _run_smplx(reference, torch.from_numpy(log_map(rotmats.numpy())), betas, expression)
    assert (ours.vertices - principal.vertices).abs().max() > 1e-3


@torch.no_grad()
def test_joints_only_mode_gives_same_joints(small_layer):
    rotmats, betas, expression = _random_inputs(4, seed=2)
    full = _run_layer(small_layer, rotmats, betas, expression)
    fast = _run_layer(small_layer, rotmats, betas, expression, with_vertices=False)
    assert fast.vertices is None
    torch.testing.assert_close(fast.joints, full.joints, **TOL)


@torch.no_grad()
def test_state_dict_round_trip(small_layer):
    sd = small_layer.state_dict()
    rebuilt = SmplxLayer.from_state_dict(
        {'body_model.' + k: v for k, v in sd.items()}, prefix='body_model.'
    )
    assert list(rebuilt.state_dict()) == list(sd)
    for key, value in rebuilt.state_dict().items():
        assert torch.equal(value, sd[key]), key
    rotmats, betas, expression = _random_inputs(2, seed=3)
    a = _run_layer(small_layer, rotmats, betas, expression)
    b = _run_layer(rebuilt, rotmats, betas, expression)
    assert torch.equal(a.joints, b.joints) and torch.equal(a.vertices, b.vertices)
    assert all(not p.requires_grad for p in rebuilt.parameters())


@torch.no_grad()
def test_a_loaded_state_dict_also_renews_what_is_derived_from_it(small_layer):
    """The blend directions and keypoint vertices are derived once; loading new SMPL-X data
    (as the seeded and checkpoint paths do into a placeholder layer) renews them."""
    other = {k: v.clone() for k, v in small_layer.state_dict().items()}
    other['shapedirs'] *= 2.0
    other['expr_dirs'] *= -1.0
    layer = SmplxLayer.from_state_dict(small_layer.state_dict())
    layer.load_state_dict(other, strict=True)
    expected = SmplxLayer.from_state_dict(other)
    rotmats, betas, expression = _random_inputs(2, seed=4)
    for with_vertices in (True, False):
        got = _run_layer(layer, rotmats, betas, expression, with_vertices)
        want = _run_layer(expected, rotmats, betas, expression, with_vertices)
        assert torch.equal(got.joints, want.joints)
    assert torch.equal(layer.keypoint_vertices, expected.keypoint_vertices)
    assert 'shape_and_expr_dirs' not in layer.state_dict()


def test_state_dict_equals_official_manifest(full_smplx_dir, reference_dir):
    with open(reference_dir / 'aios' / 'state_dict_manifest.tsv') as f:
        rows = [r for r in csv.reader(f, delimiter='\t') if r[0].startswith('body_model.')]
    layer = SmplxLayer.from_smplx_folder(full_smplx_dir)
    ours = [
        (f'body_model.{k}', str(tuple(v.shape)), str(v.dtype).removeprefix('torch.'))
        for k, v in layer.state_dict().items()
    ]
    assert ours == [tuple(r[:3]) for r in rows]  # names, ORDER, shapes and dtypes
    layer.load_state_dict(layer.state_dict(), strict=True)


def test_clear_errors(tmp_path, small_layer):
    with pytest.raises(FileNotFoundError, match='smpl-x.is.tue.mpg.de'):
        SmplxLayer.from_smplx_folder(tmp_path / 'nowhere')
    np.savez(tmp_path / 'SMPLX_NEUTRAL.npz', v_template=np.zeros((10, 3)))
    with pytest.raises(ValueError, match='not a usable SMPL-X model file'):
        SmplxLayer.from_smplx_folder(tmp_path)
    bad = dict(small_layer.state_dict())
    bad['vertex_joint_selector.extra_joints_idxs'] = torch.full((21,), 9120)  # real ids, small mesh
    with pytest.raises(ValueError, match='extra_joints_idxs has entries outside'):
        SmplxLayer.from_state_dict(bad)
    sd = dict(small_layer.state_dict())
    del sd['posedirs'], sd['parents']
    with pytest.raises(KeyError, match='posedirs, parents'):
        SmplxLayer.from_state_dict(sd)
