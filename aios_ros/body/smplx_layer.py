"""SMPL-X forward kinematics with the exact state_dict layout of AiOS' ``body_model``.

The official AiOS model registers a ``smplx.SMPLX`` (neutral, 10 betas, 10 expression
coefficients, no hand PCA, face contour on, ``flat_hand_mean=False``) as ``self.body_model``, so its
checkpoint carries the 27 ``body_model.*`` entries this module registers (names, order, shapes and
dtypes identical). It can therefore be built either from those tensors or from a SMPL-X folder.

Semantics (= AiOS: predicted rotation matrices -> pytorch3d-0.6.1 axis-angle -> smplx forward):
the mean hand pose ``pose_mean`` is added in AXIS-ANGLE space, eye poses are zero, the 10 module
parameters other than ``transl`` are ignored and ``transl`` is added to every output point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, NamedTuple, Optional

import torch
from smplx.lbs import (
    batch_rigid_transform,
    batch_rodrigues,
    blend_shapes,
    find_dynamic_lmk_idx_and_bcoords,
    vertices2joints,
    vertices2landmarks,
)
from torch import nn

from aios_ros.body.vertex_keypoints import smplx_keypoint_ids
from aios_ros.core.smplx import NUM_SKELETON_JOINTS as NUM_JOINTS
from aios_ros.geometry.rotations import rotmat_to_axis_angle

NUM_OUTPUT_JOINTS = 144  # 55 skeleton + 21 vertex keypoints + 51 landmarks + 17 face contour
PARAMETER_SHAPES = {  # (batch 1) module parameters, in the official registration order
    'betas': (1, 10),
    'global_orient': (1, 3),
    'body_pose': (1, 63),
    'transl': (1, 3),
    'left_hand_pose': (1, 45),
    'right_hand_pose': (1, 45),
    'jaw_pose': (1, 3),
    'leye_pose': (1, 3),
    'reye_pose': (1, 3),
    'expression': (1, 10),
}
BUFFER_NAMES = (
    'shapedirs',
    'faces_tensor',
    'v_template',
    'J_regressor',
    'posedirs',
    'parents',
    'lbs_weights',
    'left_hand_mean',
    'right_hand_mean',
    'pose_mean',
    'lmk_faces_idx',
    'lmk_bary_coords',
    'dynamic_lmk_faces_idx',
    'dynamic_lmk_bary_coords',
    'neck_kin_chain',
    'expr_dirs',
)
EXTRA_JOINTS_KEY = 'vertex_joint_selector.extra_joints_idxs'
STATE_DICT_KEYS = tuple(PARAMETER_SHAPES) + BUFFER_NAMES + (EXTRA_JOINTS_KEY,)
SMPLX_DOWNLOAD_HINT = (
    'SMPL-X model files are licensed by MPI and must be downloaded by the user: '
    'register at https://smpl-x.is.tue.mpg.de, download "SMPL-X v1.1 (NPZ+PKL)" '
    'and put SMPLX_NEUTRAL.npz into <folder>/smplx/.'
)


class SmplxOutput(NamedTuple):
    """joints (N, 144, 3) and vertices (N, V, 3) or None; SMPL-X body frame, metres."""

    joints: torch.Tensor
    vertices: Optional[torch.Tensor]


class _VertexJointSelector(nn.Module):
    """Holds the 21 keypoint vertex ids under the official name ``vertex_joint_selector``."""

    extra_joints_idxs: torch.Tensor

    def __init__(self, extra_joints_idxs: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer('extra_joints_idxs', extra_joints_idxs)


class SmplxLayer(nn.Module):
    """SMPL-X with AiOS semantics; build it with ``from_state_dict`` or ``from_smplx_folder``."""

    # the registered tensors that are read (PARAMETER_SHAPES and BUFFER_NAMES list them all)
    transl: nn.Parameter
    shapedirs: torch.Tensor
    faces_tensor: torch.Tensor
    v_template: torch.Tensor
    J_regressor: torch.Tensor
    posedirs: torch.Tensor
    parents: torch.Tensor
    lbs_weights: torch.Tensor
    pose_mean: torch.Tensor
    lmk_faces_idx: torch.Tensor
    lmk_bary_coords: torch.Tensor
    dynamic_lmk_faces_idx: torch.Tensor
    dynamic_lmk_bary_coords: torch.Tensor
    neck_kin_chain: torch.Tensor
    expr_dirs: torch.Tensor
    shape_and_expr_dirs: torch.Tensor
    keypoint_vertices: torch.Tensor

    def __init__(self, tensors: Mapping[str, torch.Tensor]) -> None:
        super().__init__()
        for name in PARAMETER_SHAPES:
            self.register_parameter(
                name, nn.Parameter(tensors[name].detach().clone(), requires_grad=False)
            )
        for name in BUFFER_NAMES:
            self.register_buffer(name, tensors[name].detach().clone())
        self.vertex_joint_selector = _VertexJointSelector(
            tensors[EXTRA_JOINTS_KEY].detach().clone()
        )
        # Derived once instead of every frame; not in the state dict (the checkpoint's keys
        # stay the official ones), recomputed whenever one is loaded.
        self.register_buffer('shape_and_expr_dirs', self._shape_and_expr_dirs(), persistent=False)
        self.register_buffer('keypoint_vertices', self._keypoint_vertex_index(), persistent=False)
        self.register_load_state_dict_post_hook(lambda module, _: module._derive())

    @classmethod
    def from_state_dict(
        cls, state_dict: Mapping[str, torch.Tensor], prefix: str = ''
    ) -> 'SmplxLayer':
        """From the 27 tensors ``prefix + name`` (e.g. ``prefix='body_model.'`` on a checkpoint).

        Sizes (vertices, faces, components) are taken from the tensors themselves.
        """
        missing = [prefix + k for k in STATE_DICT_KEYS if prefix + k not in state_dict]
        if missing:
            raise KeyError(f'SMPL-X tensors missing from the state dict: {", ".join(missing)}')
        tensors = {k: state_dict[prefix + k] for k in STATE_DICT_KEYS}
        _check_consistent(tensors)
        return cls(tensors)

    @classmethod
    def from_smplx_folder(cls, path: str | Path) -> 'SmplxLayer':
        """From ``SMPLX_NEUTRAL.npz`` via the ``smplx`` package, configured exactly as AiOS does.

        ``path``: the .npz file, a folder holding ``smplx/SMPLX_NEUTRAL.npz`` (smplx convention)
        or a folder holding ``SMPLX_NEUTRAL.npz``.
        """
        import smplx

        npz = resolve_smplx_file(path)
        try:
            with smplx_keypoint_ids(npz):
                model = smplx.create(
                    str(npz),
                    model_type='smplx',
                    gender='neutral',
                    use_pca=False,
                    use_face_contour=True,
                    flat_hand_mean=False,
                    num_betas=10,
                    num_expression_coeffs=10,
                    ext='npz',
                )
        except (AttributeError, KeyError, IndexError, ValueError, OSError) as err:
            raise ValueError(
                f'{npz} is not a usable SMPL-X model file ({type(err).__name__}: {err}). '
                + SMPLX_DOWNLOAD_HINT
            ) from err
        return cls.from_state_dict(model.state_dict())

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    def forward(
        self,
        global_orient: torch.Tensor,
        body_pose: torch.Tensor,
        left_hand_pose: torch.Tensor,
        right_hand_pose: torch.Tensor,
        jaw_pose: torch.Tensor,
        betas: torch.Tensor,
        expression: torch.Tensor,
        with_vertices: bool = True,
    ) -> SmplxOutput:
        """Posed joints (and vertices) from rotation matrices.

        global_orient (N,3,3) or (N,1,3,3); body_pose (N,21,3,3); left/right_hand_pose (N,15,3,3)
        (WITHOUT the mean hand pose, as predicted by AiOS); jaw_pose (N,1,3,3); betas (N,10);
        expression (N,10). ``with_vertices=False`` skins only the ~few hundred vertices the
        keypoints and landmarks need and returns ``vertices=None`` (joints are unchanged).
        """
        n = betas.shape[0]
        eyes = global_orient.new_zeros(n, 2, 3)
        aa = torch.cat(
            [
                rotmat_to_axis_angle(global_orient.reshape(n, 1, 3, 3)),
                rotmat_to_axis_angle(body_pose.reshape(n, 21, 3, 3)),
                rotmat_to_axis_angle(jaw_pose.reshape(n, 1, 3, 3)),
                eyes,
                rotmat_to_axis_angle(left_hand_pose.reshape(n, 15, 3, 3)),
                rotmat_to_axis_angle(right_hand_pose.reshape(n, 15, 3, 3)),
            ],
            dim=1,
        )
        full_pose = aa.reshape(n, 3 * NUM_JOINTS) + self.pose_mean
        shape = torch.cat([betas, expression], dim=-1)
        v_shaped = self.v_template + blend_shapes(shape, self.shape_and_expr_dirs)
        rot_mats = batch_rodrigues(full_pose.reshape(-1, 3)).reshape(n, NUM_JOINTS, 3, 3)
        joints, transforms = batch_rigid_transform(
            rot_mats,
            vertices2joints(self.J_regressor, v_shaped),
            self.parents,
            dtype=v_shaped.dtype,
        )
        index = None if with_vertices else self.keypoint_vertices
        verts = self._skin(v_shaped, rot_mats, transforms, index)
        if index is not None:
            verts = v_shaped.new_zeros(v_shaped.shape).index_copy_(1, index, verts)
        joints = torch.cat(
            [
                joints,
                verts[:, self.vertex_joint_selector.extra_joints_idxs],
                self._landmarks(verts, full_pose),
            ],
            dim=1,
        )
        return SmplxOutput(
            joints + self.transl.unsqueeze(1),
            verts + self.transl.unsqueeze(1) if with_vertices else None,
        )

    def _skin(
        self,
        v_shaped: torch.Tensor,
        rot_mats: torch.Tensor,
        transforms: torch.Tensor,
        index: Optional[torch.Tensor],
    ) -> torch.Tensor:
        """Pose blend shapes + linear blend skinning of all vertices, or of ``index`` only."""
        n = v_shaped.shape[0]
        posedirs, weights = self.posedirs, self.lbs_weights
        if index is not None:
            v_shaped = v_shaped[:, index]
            posedirs = posedirs.reshape(posedirs.shape[0], -1, 3)[:, index].reshape(
                posedirs.shape[0], -1
            )
            weights = weights[index]
        eye = torch.eye(3, dtype=rot_mats.dtype, device=rot_mats.device)
        pose_feature = (rot_mats[:, 1:] - eye).reshape(n, -1)
        v_posed = v_shaped + (pose_feature @ posedirs).reshape(n, -1, 3)
        # blend only the top 3 rows of the 4x4 joint transforms (the last row is constant)
        per_vertex = (weights @ transforms[:, :, :3].reshape(n, NUM_JOINTS, 12)).reshape(
            n, -1, 3, 4
        )
        return (per_vertex[..., :3] @ v_posed.unsqueeze(-1)).squeeze(-1) + per_vertex[..., 3]

    def _derive(self) -> None:
        with torch.no_grad():
            self.shape_and_expr_dirs = self._shape_and_expr_dirs()
            self.keypoint_vertices = self._keypoint_vertex_index()

    def _shape_and_expr_dirs(self) -> torch.Tensor:
        """(V, 3, betas + expression) blend directions of ``torch.cat([betas, expression])``."""
        return torch.cat([self.shapedirs, self.expr_dirs], dim=-1)

    def _keypoint_vertex_index(self) -> torch.Tensor:
        """Sorted unique ids of every vertex the 21 keypoints and 68 landmarks can read."""
        faces = torch.cat([self.lmk_faces_idx.reshape(-1), self.dynamic_lmk_faces_idx.reshape(-1)])
        ids: torch.Tensor = torch.unique(
            torch.cat(
                [self.vertex_joint_selector.extra_joints_idxs, self.faces_tensor[faces].reshape(-1)]
            )
        )
        return ids

    def _landmarks(self, verts: torch.Tensor, full_pose: torch.Tensor) -> torch.Tensor:
        """(N, 68, 3): 51 static landmarks + 17 contour landmarks picked by the neck's yaw."""
        n = verts.shape[0]
        dyn_faces, dyn_bary = find_dynamic_lmk_idx_and_bcoords(
            verts,
            full_pose,
            self.dynamic_lmk_faces_idx,
            self.dynamic_lmk_bary_coords,
            self.neck_kin_chain,
            pose2rot=True,
        )
        faces_idx = torch.cat([self.lmk_faces_idx.expand(n, -1), dyn_faces], dim=1)
        bary = torch.cat([self.lmk_bary_coords.expand(n, -1, -1), dyn_bary], dim=1)
        landmarks: torch.Tensor = vertices2landmarks(verts, self.faces_tensor, faces_idx, bary)
        return landmarks


def _check_consistent(t: Mapping[str, torch.Tensor]) -> None:
    """Raise ValueError naming the first SMPL-X tensor whose shape or indices do not fit the
    rest."""
    nv, nf = t['v_template'].shape[0], t['faces_tensor'].shape[0]
    expected = {
        'v_template': (nv, 3),
        'faces_tensor': (nf, 3),
        'J_regressor': (NUM_JOINTS, nv),
        'lbs_weights': (nv, NUM_JOINTS),
        'posedirs': (9 * (NUM_JOINTS - 1), 3 * nv),
        'parents': (NUM_JOINTS,),
        'pose_mean': (3 * NUM_JOINTS,),
        'shapedirs': (nv, 3, t['betas'].shape[1]),
        'expr_dirs': (nv, 3, t['expression'].shape[1]),
    }
    for name, shape in expected.items():
        if tuple(t[name].shape) != shape:
            raise ValueError(
                f'SMPL-X tensor {name} has shape {tuple(t[name].shape)}, expected {shape}'
            )
    ranges = {
        'faces_tensor': nv,
        EXTRA_JOINTS_KEY: nv,
        'lmk_faces_idx': nf,
        'dynamic_lmk_faces_idx': nf,
    }
    for name, limit in ranges.items():
        if t[name].numel() and not 0 <= int(t[name].min()) <= int(t[name].max()) < limit:
            raise ValueError(f'SMPL-X index tensor {name} has entries outside [0, {limit})')


def resolve_smplx_file(path: str | Path) -> Path:
    """The ``SMPLX_NEUTRAL.npz`` meant by ``path`` (file, ``<path>/smplx/``, or ``<path>/``)."""
    path = Path(path).expanduser()
    for candidate in (path, path / 'smplx' / 'SMPLX_NEUTRAL.npz', path / 'SMPLX_NEUTRAL.npz'):
        if candidate.is_file():
            if not candidate.name.startswith('SMPLX_') or candidate.suffix != '.npz':
                raise ValueError(
                    f'{candidate} is not a SMPL-X .npz file (expected SMPLX_NEUTRAL.npz)'
                )
            return candidate
    raise FileNotFoundError(
        f'no SMPLX_NEUTRAL.npz at {path} (looked for the file itself, '
        f'{path}/smplx/SMPLX_NEUTRAL.npz and {path}/SMPLX_NEUTRAL.npz). ' + SMPLX_DOWNLOAD_HINT
    )
