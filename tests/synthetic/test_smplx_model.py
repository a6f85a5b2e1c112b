"""The synthetic SMPL-X file: real format, human proportions, deterministic."""

from __future__ import annotations

import numpy as np
import pytest
import smplx
import torch

from aios_ros.body.vertex_keypoints import KEYPOINT_VERTEX_NAMES, smplx_keypoint_ids
from aios_ros.core.smplx import SMPLX_PARENTS
from aios_ros.synthetic.smplx_model import (
    FULL_NUM_FACES,
    FULL_NUM_VERTICES,
    generate_smplx_arrays,
    write_synthetic_smplx,
)

SHAPES = {  # key -> shape with V, F as placeholders
    'v_template': ('V', 3),
    'f': ('F', 3),
    'shapedirs': ('V', 3, 400),
    'posedirs': ('V', 3, 486),
    'J_regressor': (55, 'V'),
    'weights': ('V', 55),
    'kintree_table': (2, 55),
    'hands_componentsl': (45, 45),
    'hands_componentsr': (45, 45),
    'hands_meanl': (45,),
    'hands_meanr': (45,),
    'lmk_faces_idx': (51,),
    'lmk_bary_coords': (51, 3),
    'dynamic_lmk_faces_idx': (79, 17),
    'dynamic_lmk_bary_coords': (79, 17, 3),
    'keypoint_vertex_ids': (21,),
}


@pytest.fixture(scope='module')
def small():
    return generate_smplx_arrays(600, seed=1)


def test_layout_and_index_ranges(small):
    V, F = 600, len(small['f'])
    assert set(small) == set(SHAPES)
    for key, shape in SHAPES.items():
        assert small[key].shape == tuple({'V': V, 'F': F}.get(s, s) for s in shape), key
    assert small['f'].max() < V and small['lmk_faces_idx'].max() < F
    assert small['dynamic_lmk_faces_idx'].max() < F
    np.testing.assert_array_equal(small['kintree_table'][0, 1:], SMPLX_PARENTS[1:])
    for key in ('weights', 'J_regressor', 'lmk_bary_coords', 'dynamic_lmk_bary_coords'):
        np.testing.assert_allclose(small[key].sum(-1), 1.0, atol=1e-5, err_msg=key)
    assert (small['weights'] >= 0).all()
    assert len(set(small['keypoint_vertex_ids'])) == 21


def test_deterministic_per_seed(small):
    again = generate_smplx_arrays(600, seed=1)
    other = generate_smplx_arrays(600, seed=2)
    for key in small:
        np.testing.assert_array_equal(small[key], again[key], err_msg=key)
    assert not np.array_equal(small['v_template'], other['v_template'])


def test_surface_is_closed_and_outward(small):
    faces = small['f'].astype(np.int64)
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()  # every edge shared by exactly two triangles: watertight shells
    v = small['v_template'].astype(np.float64)[faces]
    signed_volume = np.einsum('ij,ij->i', v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6
    assert 0.04 < signed_volume < 0.12  # m^3, outward normals; an adult is ~0.07 m^3


def test_human_proportions(small):
    joints = small['J_regressor'].astype(np.float64) @ small['v_template']
    v = small['v_template']
    height = v[:, 1].max() - v[:, 1].min()
    assert 1.6 < height < 1.8 and 1.6 < v[:, 0].max() - v[:, 0].min() < 1.9  # arm span (T-pose)
    pelvis, neck, head, l_wrist, r_wrist, l_ankle = joints[[0, 12, 15, 20, 21, 7]]
    assert l_ankle[1] < pelvis[1] < neck[1] < head[1]
    assert l_wrist[0] > 0.6 and r_wrist[0] < -0.6  # +x is the body's left
    left_tips = v[small['keypoint_vertex_ids'][10:15]]
    assert (left_tips[:, 0] > l_wrist[0] + 0.05).all()
    nose, heel, toe = v[small['keypoint_vertex_ids'][[0, 17, 15]]]
    assert nose[2] > head[2] + 0.05 and toe[2] > heel[2] + 0.15  # face and feet point to +z


def test_smplx_reads_small_file_with_keypoint_ids(smplx_dir):
    stock = dict(smplx.vertex_ids.vertex_ids['smplx'])
    with smplx_keypoint_ids(smplx_dir):
        model = smplx.create(str(smplx_dir), model_type='smplx', use_face_contour=True)
    assert smplx.vertex_ids.vertex_ids['smplx'] == stock  # restored
    out = model(body_pose=0.2 * torch.ones(1, 63))
    assert out.joints.shape == (1, 144, 3) and torch.isfinite(out.vertices).all()


def test_full_size_matches_real_sizes_and_stock_smplx(full_smplx_dir):
    path = full_smplx_dir / 'smplx' / 'SMPLX_NEUTRAL.npz'
    with np.load(path) as data:
        assert data['v_template'].shape == (FULL_NUM_VERTICES, 3)
        assert data['f'].shape == (FULL_NUM_FACES, 3)
        stock = smplx.vertex_ids.vertex_ids['smplx']
        np.testing.assert_array_equal(
            data['keypoint_vertex_ids'], [stock[name] for name in KEYPOINT_VERTEX_NAMES]
        )
    model = smplx.create(str(full_smplx_dir), model_type='smplx', use_face_contour=True)  # no patch
    assert model().joints.shape == (1, 144, 3)


def test_write_returns_smplx_folder_convention(tmp_path):
    path = write_synthetic_smplx(tmp_path, num_vertices=400)
    assert path == tmp_path / 'smplx' / 'SMPLX_NEUTRAL.npz' and path.is_file()
    with pytest.raises(ValueError, match='num_vertices'):
        write_synthetic_smplx(tmp_path, num_vertices=100)
