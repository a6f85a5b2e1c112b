"""SmplxBodyModel (numpy BodyModel protocol) and display decimation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aios_ros.body.body_model import SmplxBodyModel
from aios_ros.body.decimate import decimate_faces
from aios_ros.body.smplx_layer import SmplxLayer
from aios_ros.core.smplx import SMPLX_PARENTS
from aios_ros.geometry.rotations import rot6d_to_rotmat


@pytest.fixture(scope='module')
def body(small_layer):
    return SmplxBodyModel(
        SmplxLayer.from_state_dict(
            {f'body_model.{k}': v for k, v in small_layer.state_dict().items()},
            prefix='body_model.',
        )
    )


def _inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    pose = rot6d_to_rotmat(rng.normal(size=(n, 53, 6)).astype(np.float32))
    return (
        pose,
        rng.normal(size=(n, 10)).astype(np.float32),
        rng.normal(size=(n, 10)).astype(np.float32),
        rng.normal(size=(n, 3)).astype(np.float32),
    )


def test_matches_layer_plus_translation(body, small_layer):
    pose, betas, expr, transl = _inputs(3)
    joints, verts = body.joints_and_vertices(pose, betas, expr, transl, with_vertices=True)
    p = torch.from_numpy(pose)
    with torch.no_grad():
        out = small_layer(
            p[:, 0],
            p[:, 1:22],
            p[:, 22:37],
            p[:, 37:52],
            p[:, 52:53],
            torch.from_numpy(betas),
            torch.from_numpy(expr),
        )
    np.testing.assert_allclose(joints, out.joints.numpy() + transl[:, None], rtol=0, atol=1e-6)
    np.testing.assert_allclose(verts, out.vertices.numpy() + transl[:, None], rtol=0, atol=1e-6)
    assert joints.dtype == verts.dtype == np.float32
    assert joints.shape == (3, 144, 3) and verts.shape == (3, body.num_vertices, 3)
    joints_only, none = body.joints_and_vertices(pose, betas, expr, transl, with_vertices=False)
    assert none is None
    np.testing.assert_allclose(joints_only, joints, rtol=0, atol=1e-6)


def test_identity_pose_keeps_the_smplx_rest_frame(body):
    """Identity rotations: body frame unchanged (+y up; AiOS puts the camera flip in
    global_orient)."""
    pose = np.tile(np.eye(3, dtype=np.float32), (1, 53, 1, 1))
    z = np.zeros((1, 10), np.float32)
    joints, _ = body.joints_and_vertices(pose, z, z, np.array([[0, 0, 5.0]], np.float32), False)
    names = body.joint_names
    assert joints[0, names.index('head'), 1] > joints[0, names.index('left_ankle'), 1] + 1.2
    assert abs(joints[0, 0, 2] - 5.0) < 0.1


def test_names_parents_and_empty_batch(body):
    assert len(body.joint_names) == 144 and body.joint_names[55] == 'nose'
    assert body.joint_names[127] == 'right_contour_1' and body.joint_names[-1] == 'left_contour_1'
    np.testing.assert_array_equal(body.skeleton_parents(), SMPLX_PARENTS)
    assert body.faces.dtype == np.int64 and body.faces.max() < body.num_vertices
    joints, verts = body.joints_and_vertices(*(a[:0] for a in _inputs(1)), with_vertices=True)
    assert joints.shape == (0, 144, 3) and verts.shape == (0, body.num_vertices, 3)


def test_bad_shapes_are_named(body):
    pose, betas, expr, transl = _inputs(2)
    with pytest.raises(ValueError, match='betas must have shape'):
        body.joints_and_vertices(pose, betas[:, :5], expr, transl, with_vertices=False)


def test_decimate_faces(body):
    faces = body.faces
    small = decimate_faces(faces, 600)
    assert 400 < len(small) <= 600  # close to the budget, not far below it
    np.testing.assert_array_equal(decimate_faces(faces, 600), small)  # deterministic
    assert set(np.unique(small)) <= set(np.unique(faces))  # original vertex ids
    assert (small[:, 0] != small[:, 1]).all() and (small[:, 1] != small[:, 2]).all()
    assert len(np.unique(np.sort(small, axis=1), axis=0)) == len(small)
    np.testing.assert_array_equal(decimate_faces(faces, len(faces)), faces)
    # every body part keeps some surface: the kept triangles still span the whole body
    v = body.layer.v_template.numpy()

    def extent(f):
        return np.ptp(v[np.unique(f)], axis=0)

    np.testing.assert_allclose(extent(small), extent(faces), rtol=0.1)
