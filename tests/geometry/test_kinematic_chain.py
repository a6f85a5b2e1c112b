"""Global joint rotations against the rotations the real smplx forward pass poses joints with."""

from __future__ import annotations

import numpy as np
import pytest
import smplx
import smplx.lbs
import torch

from aios_ros.body.vertex_keypoints import smplx_keypoint_ids
from aios_ros.core.smplx import NUM_BODY_HEAD_JOINTS, SMPLX_PARENTS
from aios_ros.geometry.kinematic_chain import global_rotations, smplx_body_head_rotations
from aios_ros.geometry.so3 import exp_map, log_map, rotation_about

Z = np.array([0.0, 0.0, 1.0])


@pytest.fixture(scope='module')
def smplx_model(smplx_dir):
    """The smplx package's own SMPL-X model, built from the generated SMPL-X-format file."""
    with smplx_keypoint_ids(smplx_dir):
        return smplx.create(
            str(smplx_dir),
            model_type='smplx',
            gender='neutral',
            use_pca=False,
            flat_hand_mean=False,
            num_betas=10,
            num_expression_coeffs=10,
            ext='npz',
        )


def _posed_by_smplx(model, aiospose, betas, monkeypatch):
    """Run smplx's forward on an AiOS-order pose (N, 53, 3, 3); return its posed skeleton joints
    (N, 55, 3), the rest joints of this shape (N, 55, 3), and the rotation matrices and rigid
    transforms smplx's ``batch_rigid_transform`` was called with and returned."""
    seen = {}
    original = smplx.lbs.batch_rigid_transform

    def spy(rot_mats, joints, parents, dtype=torch.float32):
        seen['rot_mats'], seen['rest'] = rot_mats.detach().clone(), joints.detach().clone()
        posed, transforms = original(rot_mats, joints, parents, dtype=dtype)
        seen['transforms'] = transforms.detach().clone()
        return posed, transforms

    monkeypatch.setattr(smplx.lbs, 'batch_rigid_transform', spy)
    aa = torch.as_tensor(log_map(aiospose), dtype=torch.float32)
    n = aa.shape[0]
    with torch.no_grad():
        out = model(
            global_orient=aa[:, 0],
            body_pose=aa[:, 1:22].reshape(n, 63),
            left_hand_pose=aa[:, 22:37].reshape(n, 45),
            right_hand_pose=aa[:, 37:52].reshape(n, 45),
            jaw_pose=aa[:, 52],
            leye_pose=torch.zeros(n, 3),
            reye_pose=torch.zeros(n, 3),
            betas=torch.as_tensor(betas),
            expression=torch.zeros(n, 10),
            transl=torch.zeros(n, 3),
        )
    return (
        out.joints[:, :55].numpy().astype(np.float64),
        seen['rest'].numpy().astype(np.float64),
        seen['rot_mats'].numpy().astype(np.float64),
        seen['transforms'][..., :3, :3].numpy().astype(np.float64),
    )


def _random_pose(n, seed):
    rng = np.random.default_rng(seed)
    pose = exp_map(rng.normal(scale=0.8, size=(n, 53, 3)))
    betas = rng.normal(size=(n, 10)).astype(np.float32)
    return pose, betas


def test_body_head_rotations_are_the_ones_smplx_poses_joints_with(smplx_model, monkeypatch):
    pose, betas = _random_pose(4, seed=1)
    posed, rest, _, smplx_global = _posed_by_smplx(smplx_model, pose, betas, monkeypatch)
    ours = smplx_body_head_rotations(pose)
    assert ours.shape == (4, NUM_BODY_HEAD_JOINTS, 3, 3)
    np.testing.assert_allclose(ours, smplx_global[:, :NUM_BODY_HEAD_JOINTS], atol=1e-5)
    # every bone leaving one of these joints is the rest-pose bone turned by that joint's global
    # rotation (this also covers the hand and finger bones hanging off the wrists)
    children = [j for j in range(1, 55) if SMPLX_PARENTS[j] < NUM_BODY_HEAD_JOINTS]
    assert len(children) == 34  # 21 body joints below the pelvis, jaw, 2 eyes, 10 finger roots
    parents = SMPLX_PARENTS[children]
    bones = posed[:, children] - posed[:, parents]
    rest_bones = rest[:, children] - rest[:, parents]
    turned = np.einsum('nkab,nkb->nka', ours[:, parents], rest_bones)
    np.testing.assert_allclose(turned, bones, atol=2e-5)
    assert np.abs(bones).max() > 0.05  # real bones, not a degenerate all-zero skeleton


def test_global_rotations_of_all_55_joints_match_smplx(smplx_model, monkeypatch):
    # the hands' local rotations include smplx's mean hand pose: take smplx's own local rotations
    pose, betas = _random_pose(3, seed=2)
    _, _, local, smplx_global = _posed_by_smplx(smplx_model, pose, betas, monkeypatch)
    np.testing.assert_allclose(global_rotations(local, SMPLX_PARENTS), smplx_global, atol=1e-5)


def test_chain_composes_parent_first():
    quarter = rotation_about(Z, np.pi / 2)
    tilt = rotation_about(np.array([1.0, 0.0, 0.0]), 0.3)
    local = np.stack([quarter, quarter, tilt, quarter])
    out = global_rotations(local, np.array([-1, 0, 1, 0]))
    np.testing.assert_allclose(out[1], rotation_about(Z, np.pi), atol=1e-12)
    np.testing.assert_allclose(out[2], rotation_about(Z, np.pi) @ tilt, atol=1e-12)
    np.testing.assert_allclose(out[3], out[1], atol=1e-12)
    assert out.dtype == np.float64


def test_eyes_follow_the_head_and_identity_pose_gives_identity():
    pose = np.broadcast_to(np.eye(3), (2, 53, 3, 3)).copy()
    np.testing.assert_array_equal(
        smplx_body_head_rotations(pose), np.broadcast_to(np.eye(3), (2, 25, 3, 3))
    )
    pose[:, 0] = rotation_about(Z, 0.5)
    out = smplx_body_head_rotations(pose)
    np.testing.assert_allclose(out[:, 23], out[:, 15], atol=1e-12)  # left eye = head
    np.testing.assert_allclose(out[:, 24], np.broadcast_to(rotation_about(Z, 0.5), (2, 3, 3)))


def test_bad_shapes_and_parent_order_are_rejected():
    with pytest.raises(ValueError, match='parents'):
        global_rotations(np.broadcast_to(np.eye(3), (2, 3, 3)), np.array([1, -1]))
    with pytest.raises(ValueError, match='do not fit 3 joints'):
        global_rotations(np.broadcast_to(np.eye(3), (2, 3, 3)), np.array([-1, 0, 1]))
    with pytest.raises(ValueError, match='expected'):
        smplx_body_head_rotations(np.zeros((1, 55, 3, 3)))
