"""The AiOS network: ResNet-50 -> input projections -> deformable transformer -> heads.

Module tree and parameter names are those of the official ``AiOSSMPLX`` (1254 state_dict
entries incl. the aliased head lists and the 27 ``body_model.*`` SMPL-X entries), so the released
checkpoint loads with ``strict=True``. The forward stops before SMPL-X: callers run the body model
only for the people they keep (see :mod:`aios_ros.model.estimator`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aios_ros.body.smplx_layer import SmplxLayer
from aios_ros.core.tokens import NUM_GROUPS, WHOLE_BODY_LAYOUT
from aios_ros.model.backbone import Backbone
from aios_ros.model.heads import (
    DECODER_HEAD_LISTS,
    D,
    box_and_keypoint_predictions,
    build_head_lists,
    full_precision,
    smplx_predictions,
)
from aios_ros.model.position_encoding import PositionEmbeddingSineHW
from aios_ros.model.transformer import Transformer, TransformerOutput

BACKBONE_CHANNELS = (512, 1024, 2048)


def _projection(in_ch: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, D, kernel, stride=stride, padding=kernel // 2), nn.GroupNorm(32, D)
    )


def downsample_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, H, W) bool -> (B, h, w) bool by nearest interpolation (official rule)."""
    return F.interpolate(mask[None].float(), size=size).to(torch.bool)[0]


@dataclass
class ForwardTrace:
    """Intermediate results of one forward (references only, nothing extra is computed).

    features: [C3, C4, C5] backbone maps; feature_masks: their (B, h, w) padding masks;
    transformer: encoder / two-stage / decoder results.
    """

    features: list[torch.Tensor]
    feature_masks: list[torch.Tensor]
    transformer: TransformerOutput


class AiOS(nn.Module):
    """AiOS whole-body multi-person SMPL-X regressor.

    ``body_model`` is the SMPL-X layer registered as ``body_model`` (its 27 entries are part of
    the checkpoint); it is not called by :meth:`forward`.
    """

    # head lists (HeadLists), registered in __init__ from build_head_lists()
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

    def __init__(self, body_model: SmplxLayer) -> None:
        super().__init__()
        self.transformer = Transformer()
        self.label_enc = nn.Embedding(101, D)  # denoising-training label embedding; unused here
        self.body_model = body_model
        self.input_proj = nn.ModuleList(
            [_projection(c, 1, 1) for c in BACKBONE_CHANNELS]
            + [_projection(BACKBONE_CHANNELS[-1], 3, 2)]
        )
        self.backbone = nn.Sequential(Backbone(), PositionEmbeddingSineHW())
        # NHWC convolutions are 1.1-1.5x faster on CPU (oneDNN); flattening NHWC maps into
        # (B, h*w, C) tokens is then a free view.
        # (Module.to's overloads in torch's annotations omit its documented memory_format form)
        self.backbone.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.input_proj.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        for name, heads in build_head_lists().items():
            setattr(self, name, heads)
        for name in DECODER_HEAD_LISTS:
            setattr(self.transformer.decoder, name, getattr(self, name))

    def forward(
        self, img: torch.Tensor, mask: torch.Tensor, trace: bool = False
    ) -> tuple[dict[str, torch.Tensor], ForwardTrace]:
        """Final-layer predictions for the G = 100 people kept by the decoder.

        img (B, 3, H, W) normalised RGB; mask (B, H, W) bool, True on batch padding.
        Returns (out, :class:`ForwardTrace`); out holds (box coordinates cxcywh in [0, 1] of the
        valid image): ``pred_logits`` (B, G, 2), ``pred_boxes``, ``pred_lhand_boxes``,
        ``pred_rhand_boxes``, ``pred_face_boxes`` (B, G, 4), ``pred_keypoints`` (B, G, 51),
        ``pred_{lhand,rhand,face}_keypoints`` (B, G, 18), ``rot6d`` (B, G, 53, 6), ``rotmat``
        (B, G, 53, 3, 3) [root, body 21, lhand 15, rhand 15, jaw], ``pred_smpl_beta``,
        ``pred_smpl_expr`` (B, G, 10), ``pred_smpl_cam`` (B, G, 3) = (s, tx, ty) and ``tokens``
        (B, G, 39, 256), the normalised final-layer token block of each person.
        ``trace`` additionally computes the reference update after the last layer (parity records).
        """
        feats = self.backbone[0](img.contiguous(memory_format=torch.channels_last))
        srcs = [proj(f) for proj, f in zip(self.input_proj, feats)]
        srcs.append(self.input_proj[3](feats[-1]))
        masks = [downsample_mask(mask, s.shape[-2:]) for s in srcs]
        pos = [self.backbone[1](m).to(s.dtype) for m, s in zip(masks, srcs)]
        t = self.transformer(srcs, masks, pos, final_reference=trace)
        batch = img.shape[0]
        hs = t.decoder.hs[5].view(batch, NUM_GROUPS, WHOLE_BODY_LAYOUT.size, D)
        ref = t.decoder.references[5].view(batch, NUM_GROUPS, WHOLE_BODY_LAYOUT.size, 4)
        with full_precision(hs):
            hs, ref = hs.float(), ref.float()
            out = box_and_keypoint_predictions(self, 5, hs, ref, WHOLE_BODY_LAYOUT)
            out.update(smplx_predictions(self, 5, hs, WHOLE_BODY_LAYOUT))
        out['tokens'] = hs
        return out, ForwardTrace(feats, masks[:3], t)

    def regress(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """Final-layer SMPL-X heads on token blocks (N, 39, 256) -> ``rotmat`` (N, 53, 3, 3),
        ``rot6d`` (N, 53, 6), ``pred_smpl_beta``/``pred_smpl_expr`` (N, 10), ``pred_smpl_cam``
        (N, 3)."""
        out = smplx_predictions(self, 5, tokens[None], WHOLE_BODY_LAYOUT)
        return {k: v[0] for k, v in out.items()}
