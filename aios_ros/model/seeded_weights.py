"""Deterministic random weights for the full AiOS state_dict (recipe ``aios-seeded-v1``).

Used when no checkpoint is given (tests, parity records, demos without the real weights): the
poses such a model predicts are meaningless. The recipe (``shared/reference/aios/seeded/
WEIGHT_RECIPE.md``) depends only on entry names, shapes and the seed, so the official model and
this re-implementation get bit-identical weights:

* every tensor gets its own generator seeded with ``crc32(name) ^ seed`` and is drawn in float64;
* aliased entries (head lists registered twice; the shared ``*_hw_embed`` MLPs) take the values of
  the canonical name ``transformer.decoder.<list>.<i or 0>...``;
* rules by name: SMPL-X tensors (plausible but synthetic arrays), MSDA sampling-offset biases (the
  official direction grid + noise), frozen BN, Layer/GroupNorm, embeddings, weights N(0, 1/fan_in),
  biases N(0, 0.1).
"""

from __future__ import annotations

import math
import re
import zlib
from typing import Mapping

import torch

from aios_ros.body.smplx_layer import PARAMETER_SHAPES
from aios_ros.core.smplx import SMPLX_PARENTS
from aios_ros.model.heads import DECODER_HEAD_LISTS

SHARED_LISTS = ('pose_hw_embed', 'pose_hand_hw_embed', 'pose_face_hw_embed')
_HEAD = re.compile(r'^(?:transformer\.decoder\.)?(%s)\.(\d+)\.(.*)$' % '|'.join(DECODER_HEAD_LISTS))
_FROZEN_BN = re.compile(
    r'^backbone\.0\.body\.(.*\.)?(bn\d|downsample\.1)\.'
    r'(weight|bias|running_mean|running_var)$'
)
_NORM = re.compile(r'(^|\.)(norm\d*|enc_output_norm)$|^input_proj\.\d+\.1$')
_EMBEDDINGS = re.compile(
    r'^(transformer\.level_embed|label_enc\.weight|transformer\.decoder\.('
    r'hw|keypoint_embed|[lr]hand_box_embed|face_box_embed|hw_[lr]hand_bbox|'
    r'hw_face_bbox|hw_[lr]hand_kps|hw_face_kps|[lr]hand_keypoint_embed|'
    r'face_keypoint_embed)\.weight)$'
)


def canonical_name(name: str) -> str:
    """Name whose draw an (aliased) entry receives."""
    m = _HEAD.match(name)
    if m is None:
        return name
    head, index, rest = m.groups()
    return f'transformer.decoder.{head}.{0 if head in SHARED_LISTS else index}.{rest}'


class _Draw:
    """The float64 draw primitives of one entry's generator."""

    def __init__(self, name: str, seed: int) -> None:
        self.g = torch.Generator(device='cpu')
        self.g.manual_seed(zlib.crc32(name.encode('utf-8')) ^ seed)

    def normal(self, shape: tuple[int, ...], mean: float, std: float) -> torch.Tensor:
        return torch.randn(shape, generator=self.g, dtype=torch.float64).mul_(std).add_(mean)

    def uniform(self, shape: tuple[int, ...], lo: float, hi: float) -> torch.Tensor:
        return torch.rand(shape, generator=self.g, dtype=torch.float64).mul_(hi - lo).add_(lo)

    def randint(self, high: int, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randint(0, high, shape, generator=self.g, dtype=torch.int64)


def _rownorm(x: torch.Tensor) -> torch.Tensor:
    return x / x.sum(dim=-1, keepdim=True)


def _smplx_entry(
    short: str, shape: tuple[int, ...], d: _Draw, sizes: Mapping[str, int]
) -> torch.Tensor:
    """Synthetic SMPL-X arrays (valid indices, rows of weights summing to 1)."""
    nv, nf = sizes['v_template'], sizes['faces_tensor']
    if short in PARAMETER_SHAPES or short in ('left_hand_mean', 'right_hand_mean'):
        return d.normal(shape, 0.0, 0.1)
    simple = {'shapedirs': 0.01, 'expr_dirs': 0.01, 'v_template': 0.3, 'posedirs': 0.001}
    if short in simple:
        return d.normal(shape, 0.0, simple[short])
    if short == 'J_regressor':
        idx = torch.topk(torch.rand(shape, generator=d.g, dtype=torch.float64), 8, dim=1).indices
        weights = _rownorm(d.uniform((shape[0], 8), 0.1, 1.1))
        return torch.zeros(shape, dtype=torch.float64).scatter_(1, idx, weights)
    if short == 'lbs_weights':
        w = torch.rand(shape, generator=d.g, dtype=torch.float64)
        w = w * w
        w = w * w
        return _rownorm(w * w)
    if short in ('faces_tensor', 'vertex_joint_selector.extra_joints_idxs'):
        return d.randint(nv, shape)
    if short in ('lmk_faces_idx', 'dynamic_lmk_faces_idx'):
        return d.randint(nf, shape)
    if short in ('lmk_bary_coords', 'dynamic_lmk_bary_coords'):
        return _rownorm(d.uniform(shape, 0.1, 1.1))
    raise KeyError(f'no seeded-weight rule for body_model.{short}')


def _sampling_offset_grid() -> torch.Tensor:
    """(256,) official MSDA offset init: head direction x (point + 1), (head, level, point, xy)."""
    dirs = torch.tensor(
        [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)], dtype=torch.float64
    )
    points = torch.arange(1, 5, dtype=torch.float64)
    return (dirs[:, None, None, :] * points[None, None, :, None]).expand(8, 4, 4, 2).reshape(256)


def _draw(name: str, shape: tuple[int, ...], seed: int, sizes: Mapping[str, int]) -> torch.Tensor:
    d = _Draw(name, seed)
    if name.startswith('body_model.'):
        return _smplx_entry(name[len('body_model.') :], shape, d, sizes)
    if name.endswith('.sampling_offsets.bias'):
        return _sampling_offset_grid() + d.normal(shape, 0.0, 0.5)
    if _FROZEN_BN.match(name):
        kind = name.rsplit('.', 1)[1]
        if kind == 'weight':
            return (
                torch.full(shape, 0.5, dtype=torch.float64)
                if name.rsplit('.', 1)[0].endswith('.bn3')
                else d.normal(shape, 1.0, 0.1)
            )
        return d.uniform(shape, 0.5, 1.5) if kind == 'running_var' else d.normal(shape, 0.0, 0.1)
    module, _, kind = name.rpartition('.')
    if kind in ('weight', 'bias') and _NORM.search(module):
        return d.normal(shape, 1.0 if kind == 'weight' else 0.0, 0.1)
    if _EMBEDDINGS.match(name):
        return d.normal(shape, 0.0, 1.0)
    if len(shape) >= 2 and name.endswith('weight'):
        return d.normal(shape, 0.0, 1.0 / math.sqrt(math.prod(shape[1:])))
    if len(shape) == 1 and name.endswith('bias'):
        return d.normal(shape, 0.0, 0.1)
    raise KeyError(f'no seeded-weight rule for {name}')


def seeded_state_dict(reference: Mapping[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Weights for every entry of ``reference`` (a model's state_dict: only names, shapes and
    dtypes are used); aliased names share one tensor."""
    sizes = {
        k[len('body_model.') :]: v.shape[0]
        for k, v in reference.items()
        if k.startswith('body_model.')
    }
    drawn: dict[str, torch.Tensor] = {}
    out: dict[str, torch.Tensor] = {}
    for name, ref in reference.items():
        canon = canonical_name(name)
        if canon not in drawn:
            drawn[canon] = _derived(canon, reference, seed, sizes, drawn)
        out[name] = drawn[canon]
    return out


def _derived(
    name: str,
    reference: Mapping[str, torch.Tensor],
    seed: int,
    sizes: Mapping[str, int],
    drawn: dict[str, torch.Tensor],
) -> torch.Tensor:
    ref = reference[name]
    if name == 'body_model.parents':
        return torch.tensor(SMPLX_PARENTS)
    if name == 'body_model.neck_kin_chain':
        chain, joint = [], 12
        while joint != -1:
            chain.append(joint)
            joint = int(SMPLX_PARENTS[joint])
        return torch.tensor(chain, dtype=torch.int64)
    if name == 'body_model.pose_mean':
        hands = [
            drawn[k]
            if k in drawn
            else _draw(k, tuple(reference[k].shape), seed, sizes).to(torch.float32)
            for k in ('body_model.left_hand_mean', 'body_model.right_hand_mean')
        ]
        return torch.cat([torch.zeros(75, dtype=torch.float32)] + hands)
    return _draw(name, tuple(ref.shape), seed, sizes).to(ref.dtype)


# the official checkpoint's body_model.* shapes (neutral SMPL-X, 10 + 10 components)
SMPLX_SHAPES = {
    **PARAMETER_SHAPES,
    'shapedirs': (10475, 3, 10),
    'faces_tensor': (20908, 3),
    'v_template': (10475, 3),
    'J_regressor': (55, 10475),
    'posedirs': (486, 31425),
    'parents': (55,),
    'lbs_weights': (10475, 55),
    'left_hand_mean': (45,),
    'right_hand_mean': (45,),
    'pose_mean': (165,),
    'lmk_faces_idx': (51,),
    'lmk_bary_coords': (51, 3),
    'dynamic_lmk_faces_idx': (79, 17),
    'dynamic_lmk_bary_coords': (79, 17, 3),
    'neck_kin_chain': (5,),
    'expr_dirs': (10475, 3, 10),
    'vertex_joint_selector.extra_joints_idxs': (21,),
}
_INDEX_BUFFERS = (
    'faces_tensor',
    'parents',
    'lmk_faces_idx',
    'dynamic_lmk_faces_idx',
    'neck_kin_chain',
    'vertex_joint_selector.extra_joints_idxs',
)


def smplx_placeholder() -> dict[str, torch.Tensor]:
    """Zero tensors with the official ``body_model.*`` names (without prefix), shapes and dtypes."""
    return {
        k: torch.zeros(s, dtype=torch.int64 if k in _INDEX_BUFFERS else torch.float32)
        for k, s in SMPLX_SHAPES.items()
    }
