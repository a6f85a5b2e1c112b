"""Official AiOS post-processing (``PostProcess_SMPLX_Multi_Infer``, num_select = 50).

Both classes of every query compete in one top-50 over (queries x 2) sigmoid scores; a query can
in principle be selected twice (once per class). Boxes are scaled from the normalised valid image
to ``target_sizes``; projections use the network-input camera of :mod:`aios_ros.model.camera`.
"""

from __future__ import annotations

from typing import Any

import torch

from aios_ros.geometry.rotations import rotmat_to_axis_angle
from aios_ros.model.camera import cam_to_translation, project

NUM_SELECT = 50
FULLPOSE_SPLITS = {
    'smplx_root_pose': (0, 3),
    'smplx_body_pose': (3, 66),
    'smplx_lhand_pose': (66, 111),
    'smplx_rhand_pose': (111, 156),
    'smplx_jaw_pose': (156, 159),
}
BOX_KEYS = {
    'body_bbox': 'pred_boxes',
    'lhand_bbox': 'pred_lhand_boxes',
    'rhand_bbox': 'pred_rhand_boxes',
    'face_bbox': 'pred_face_boxes',
}


def top_scores(
    logits: torch.Tensor, num_select: int = NUM_SELECT
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """logits (B, G, 2) -> scores (B, k) descending sigmoid probabilities, query (B, k),
    label (B, k) and the flat index query*2 + label (B, k)."""
    prob = logits.sigmoid().flatten(1)
    scores, index = torch.topk(prob, num_select, dim=1)
    return scores, index // logits.shape[2], index % logits.shape[2], index


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) centre/size -> (..., 4) corners."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h), dim=-1)


def scale_boxes(boxes: torch.Tensor, size_hw: torch.Tensor) -> torch.Tensor:
    """Normalised cxcywh (..., 4) -> xyxy pixels of an image of size (h, w)."""
    h, w = size_hw.to(boxes.dtype).unbind(-1)
    return cxcywh_to_xyxy(boxes) * torch.stack((w, h, w, h), dim=-1)[..., None, :]


def fullpose(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 53, 3, 3) -> (..., 159) official axis-angle
    [root, body 21, lhand 15, rhand 15, jaw]."""
    return rotmat_to_axis_angle(rotmat).flatten(-2)


def postprocess(
    out: dict[str, torch.Tensor],
    target_sizes: torch.Tensor,
    img_shape: torch.Tensor,
    num_select: int = NUM_SELECT,
) -> list[dict[str, torch.Tensor | int]]:
    """Official per-image results for a batch of model outputs.

    out: ``pred_logits`` (B, G, 2), ``pred_boxes``/``pred_{l,r}hand_boxes``/``pred_face_boxes``
    (B, G, 4), ``pred_keypoints`` (B, G, 51), ``pred_smpl_fullpose`` (B, G, 159),
    ``pred_smpl_beta``/``pred_smpl_expr`` (B, G, 10), ``pred_smpl_cam`` (B, G, 3),
    ``pred_smpl_kp3d`` (B, G, J, 3), ``pred_smpl_verts`` (B, G, V, 3) (optional).
    target_sizes (B, 2) (h, w) for the boxes; img_shape (B, 2) network input (h, w) for projections.
    Returns per image: ``scores``, ``labels`` (k,), boxes ``*_bbox`` (k, 4) xyxy pixels,
    ``keypoints_coco`` (G, 17, 2) (all queries, normalised: official quirk), ``smplx_*_pose``,
    ``smplx_shape``, ``smplx_expr``, ``cam_trans`` (k, 3), ``smpl_kp3d`` (k, J, 3),
    ``smplx_joint_proj`` (k, J, 2), ``smpl_verts`` (k, V, 3), ``img_shape``, ``image_idx``.
    """
    scores, query, labels, _ = top_scores(out['pred_logits'], num_select)
    results: list[dict[str, torch.Tensor | int]] = []
    for b in range(out['pred_logits'].shape[0]):
        q = query[b]
        res: dict[str, Any] = {  # tensors, and the int ``image_idx``
            'scores': scores[b],
            'labels': labels[b],
            'keypoints_coco': out['pred_keypoints'][b, :, :34].reshape(-1, 17, 2),
        }
        for key, src in BOX_KEYS.items():
            res[key] = scale_boxes(out[src][b, q], target_sizes[b])
        pose = out['pred_smpl_fullpose'][b, q]
        for key, (lo, hi) in FULLPOSE_SPLITS.items():
            res[key] = pose[:, lo:hi]
        res['smplx_shape'] = out['pred_smpl_beta'][b, q]
        res['smplx_expr'] = out['pred_smpl_expr'][b, q]
        res['cam_trans'] = cam_to_translation(out['pred_smpl_cam'][b, q])
        res['smpl_kp3d'] = out['pred_smpl_kp3d'][b, q]
        res['smplx_joint_proj'] = project(res['smpl_kp3d'], res['cam_trans'], img_shape[b])
        if 'pred_smpl_verts' in out:
            res['smpl_verts'] = out['pred_smpl_verts'][b, q]
        res['img_shape'] = img_shape[b]
        res['image_idx'] = b
        results.append(res)
    return results
