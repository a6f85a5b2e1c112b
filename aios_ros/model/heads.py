"""Prediction heads of AiOS and how they read the per-person token blocks.

The head lists are attributes of the top-level model (official names ``bbox_embed.3...``); the
decoder holds the same module objects (``transformer.decoder.bbox_embed...``) for its reference
updates, so each parameter appears under both names in the state_dict. Index use per decoder
layer ``l`` (``j = l - 2``, ``k = l - 4``): ``bbox_embed[l]``, ``class_embed[l]``,
``pose_embed[j]``, ``bbox_{hand,face}_embed[j]``, ``pose_{hand,face}_embed[k]``, ``smpl_*[j]``.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from aios_ros.core.tokens import BODY_LAYOUT, TOKEN_DIM, TokenLayout, span
from aios_ros.geometry.rotations import rot6d_to_rotmat

D = TOKEN_DIM  # model width: every token and feature channel count
# Lists the decoder also needs; registered under both the model and ``transformer.decoder``.
DECODER_HEAD_LISTS = (
    'bbox_embed',
    'pose_embed',
    'pose_hw_embed',
    'class_embed',
    'bbox_hand_embed',
    'bbox_hand_hw_embed',
    'pose_hand_embed',
    'pose_hand_hw_embed',
    'bbox_face_embed',
    'bbox_face_hw_embed',
    'pose_face_embed',
    'pose_face_hw_embed',
)
VISIBILITY = 0.7310585786300049  # sigmoid(1): constant keypoint "visibility" of the official model


class MLP(nn.Module):
    """``n`` Linear layers in -> hidden -> ... -> out with ReLU between them (official ``MLP``)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, n: int) -> None:
        super().__init__()
        dims = [in_dim] + [hidden] * (n - 1)
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims, dims[1:] + [out_dim]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in_dim) -> (..., out_dim)."""
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


def _mlps(n: int, out_dim: int, in_dim: int = D) -> list[nn.Module]:
    return [MLP(in_dim, D, out_dim, 3) for _ in range(n)]


def build_head_lists() -> dict[str, nn.ModuleList]:
    """All head lists in official registration order (``*_hw_embed`` pose lists share one MLP)."""
    shared = {name: MLP(D, D, 2, 3) for name in ('pose_hw', 'pose_hand_hw', 'pose_face_hw')}
    return {
        'bbox_embed': nn.ModuleList(_mlps(6, 4)),
        'class_embed': nn.ModuleList(nn.Linear(D, 2) for _ in range(6)),
        'pose_embed': nn.ModuleList(_mlps(5, 2)),
        'pose_hw_embed': nn.ModuleList([shared['pose_hw']] * 4),
        'smpl_pose_embed': nn.ModuleList(_mlps(4, 22 * 6, 21 * D)),
        'smpl_beta_embed': nn.ModuleList(_mlps(4, 10, 21 * D)),
        'smpl_cam_embed': nn.ModuleList(_mlps(4, 3, 21 * D)),
        'bbox_hand_embed': nn.ModuleList(_mlps(5, 2)),
        'bbox_hand_hw_embed': nn.ModuleList(_mlps(4, 2)),
        'pose_hand_embed': nn.ModuleList(_mlps(3, 2)),
        'pose_hand_hw_embed': nn.ModuleList([shared['pose_hand_hw']] * 2),
        'bbox_face_embed': nn.ModuleList(_mlps(5, 2)),
        'bbox_face_hw_embed': nn.ModuleList(_mlps(4, 2)),
        'pose_face_embed': nn.ModuleList(_mlps(3, 2)),
        'pose_face_hw_embed': nn.ModuleList([shared['pose_face_hw']] * 2),
        'smpl_hand_pose_embed': nn.ModuleList(_mlps(2, 15 * 6) + _mlps(2, 15 * 6, 9 * D)),
        'smpl_expr_embed': nn.ModuleList(_mlps(2, 10) + _mlps(2, 10, 8 * D)),
        'smpl_jaw_embed': nn.ModuleList(_mlps(2, 6) + _mlps(2, 6, 8 * D)),
    }


class HeadLists(Protocol):
    """What holds the head lists of :func:`build_head_lists` as attributes (the model)."""

    bbox_embed: nn.ModuleList
    class_embed: nn.ModuleList
    pose_embed: nn.ModuleList
    pose_hw_embed: nn.ModuleList
    smpl_pose_embed: nn.ModuleList
    smpl_beta_embed: nn.ModuleList
    smpl_cam_embed: nn.ModuleList
    bbox_hand_embed: nn.ModuleList
    bbox_hand_hw_embed: nn.ModuleList
    pose_hand_embed: nn.ModuleList
    pose_hand_hw_embed: nn.ModuleList
    bbox_face_embed: nn.ModuleList
    bbox_face_hw_embed: nn.ModuleList
    pose_face_embed: nn.ModuleList
    pose_face_hw_embed: nn.ModuleList
    smpl_hand_pose_embed: nn.ModuleList
    smpl_expr_embed: nn.ModuleList
    smpl_jaw_embed: nn.ModuleList


def full_precision(x: torch.Tensor) -> torch.autocast:
    """Autocast off on ``x``'s device: for the final regression heads, rot6d -> matrix, the camera
    and every score that feeds a top-k. In bf16 a 6D rotation is orthonormalised only to ~1e-2,
    the camera scale ``s`` keeps 8 mantissa bits before 1/s (0.2-0.4 % depth steps), and ties
    between rounded scores change which queries are selected."""
    return torch.autocast(x.device.type, enabled=False)


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Official ``inverse_sigmoid``: log(x / (1 - x)) with x clamped to [0, 1] and both
    terms >= eps."""
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def _keypoints(xy: torch.Tensor) -> torch.Tensor:
    """(B, G, K, 2) -> (B, G, 3K) official layout [x1, y1, ..., xK, yK, v1..vK], v = sigmoid(1)."""
    vis = torch.full(xy.shape[:-1], VISIBILITY, dtype=xy.dtype, device=xy.device)
    return torch.cat((xy.flatten(2), vis), dim=-1)


def box_and_keypoint_predictions(
    heads: HeadLists, layer: int, hs: torch.Tensor, ref: torch.Tensor, layout: TokenLayout
) -> dict[str, torch.Tensor]:
    """Boxes, logits and keypoints of decoder layer ``layer`` >= 2.

    hs (B, G, T, C): normalised decoder output; ref (B, G, T, 4): reference input to the layer
    (sigmoid space). Returns ``pred_logits`` (B, G, 2), ``pred_boxes``/``pred_{l,r}hand_boxes``/
    ``pred_face_boxes`` (B, G, 4) cxcywh normalised to the valid image, ``pred_keypoints``
    (B, G, 51) and, in the whole-body stage, ``pred_{l,r}hand_keypoints``/``pred_face_keypoints``
    (B, G, 18).
    """
    j = layer - 2
    ref_unsig = inverse_sigmoid(ref)
    box = layout.body_box
    out = {
        'pred_logits': heads.class_embed[layer](hs[:, :, box]),
        'pred_boxes': (heads.bbox_embed[layer](hs[:, :, box]) + ref_unsig[:, :, box]).sigmoid(),
    }
    kps = span(layout.body_kps)
    out['pred_keypoints'] = _keypoints(
        (heads.pose_embed[j](hs[:, :, kps]) + ref_unsig[:, :, kps, :2]).sigmoid()
    )
    for name, slot, xy_mlp, wh_mlp in (
        ('lhand', layout.lhand_box, heads.bbox_hand_embed[j], heads.bbox_hand_hw_embed[j]),
        ('rhand', layout.rhand_box, heads.bbox_hand_embed[j], heads.bbox_hand_hw_embed[j]),
        ('face', layout.face_box, heads.bbox_face_embed[j], heads.bbox_face_hw_embed[j]),
    ):
        h = hs[:, :, slot]
        delta = torch.cat((xy_mlp(h)[..., :2], wh_mlp(h)), dim=-1)
        out[f'pred_{name}_boxes'] = (ref_unsig[:, :, slot] + delta).sigmoid()
    if layout.lhand_kps is not None:
        assert layout.rhand_kps is not None and layout.face_kps is not None  # all set together
        k = layer - 4
        for name, slots, mlp in (
            ('lhand', layout.lhand_kps, heads.pose_hand_embed[k]),
            ('rhand', layout.rhand_kps, heads.pose_hand_embed[k]),
            ('face', layout.face_kps, heads.pose_face_embed[k]),
        ):
            sl = span(slots)
            out[f'pred_{name}_keypoints'] = _keypoints(
                (mlp(hs[:, :, sl]) + ref_unsig[:, :, sl, :2]).sigmoid()
            )
    return out


def _slots(*parts: int | range) -> list[int]:
    idx: list[int] = []
    for p in parts:
        idx += list(p) if isinstance(p, range) else [p]
    return idx


def _runs(slots: list[int]) -> list[slice]:
    """Ascending slots as slices of consecutive slots ([0, 1, 2, 18, 25] -> [0:3, 18:19, 25:26])."""
    runs: list[slice] = []
    for slot in slots:
        if runs and runs[-1].stop == slot:
            runs[-1] = slice(runs[-1].start, slot + 1)
        else:
            runs.append(slice(slot, slot + 1))
    return runs


def _features(hs: torch.Tensor, slots: list[int]) -> torch.Tensor:
    """(B, G, T, C) -> (B, G, len(slots)*C), tokens concatenated in ascending slot order.

    Gathered as slices: indexing with the list itself would build an index tensor from Python
    data on every call (a blocking host-to-device copy, illegal during CUDA-graph capture).
    """
    parts = [hs[:, :, run] for run in _runs(slots)]
    return (parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)).flatten(2)


def smplx_feature_slots(layout: TokenLayout) -> dict[str, list[int]]:
    """Which token slots feed the body / left hand / right hand / face SMPL-X heads."""
    if layout is BODY_LAYOUT:
        return {
            'body': list(range(layout.size)),
            'lhand': [layout.lhand_box],
            'rhand': [layout.rhand_box],
            'face': [layout.face_box],
        }
    lo = layout
    assert lo.lhand_kps is not None and lo.rhand_kps is not None and lo.face_kps is not None
    return {
        'body': _slots(lo.body_box, lo.body_kps, lo.lhand_box, lo.rhand_box, lo.face_box),
        'lhand': _slots(lo.body_box, lo.lhand_box, lo.lhand_kps, lo.rhand_box),
        'rhand': _slots(lo.body_box, lo.lhand_box, lo.rhand_box, lo.rhand_kps),
        'face': _slots(lo.body_box, lo.face_box, lo.face_kps),
    }


def smplx_predictions(
    heads: HeadLists, layer: int, hs: torch.Tensor, layout: TokenLayout
) -> dict[str, torch.Tensor]:
    """SMPL-X parameters of decoder layer ``layer`` >= 2 from normalised tokens hs (B, G, T, C).

    Returns ``rot6d`` (B, G, 53, 6) in AiOS joint order [root, body 21, lhand 15, rhand 15, jaw],
    ``rotmat`` (B, G, 53, 3, 3), ``pred_smpl_beta``/``pred_smpl_expr`` (B, G, 10) and
    ``pred_smpl_cam`` (B, G, 3) = (s, tx, ty).
    """
    j = layer - 2
    slots = smplx_feature_slots(layout)
    body, face = _features(hs, slots['body']), _features(hs, slots['face'])
    hand = heads.smpl_hand_pose_embed[j]
    batch, groups = hs.shape[:2]
    rot6d = torch.cat(
        (
            heads.smpl_pose_embed[j](body).view(batch, groups, 22, 6),
            hand(_features(hs, slots['lhand'])).view(batch, groups, 15, 6),
            hand(_features(hs, slots['rhand'])).view(batch, groups, 15, 6),
            heads.smpl_jaw_embed[j](face).view(batch, groups, 1, 6),
        ),
        dim=2,
    )
    return {
        'rot6d': rot6d,
        'rotmat': rot6d_to_rotmat(rot6d),
        'pred_smpl_beta': heads.smpl_beta_embed[j](body),
        'pred_smpl_expr': heads.smpl_expr_embed[j](face),
        'pred_smpl_cam': heads.smpl_cam_embed[j](body),
    }
