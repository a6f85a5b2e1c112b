"""AiOS decoder: six deformable layers in three stages with growing per-person token blocks.

* Body location (layers 0-1): 900 box queries attend to each other freely; each layer refines
  its box. After layer 1 the 100 best queries become people and expand to 21 tokens each.
* Body refinement (layers 2-3): 2100 tokens (body box, 17 body keypoints, 2 hand boxes, face
  box per person). After layer 3 each hand/face box expands to 6 keypoint tokens.
* Whole-body refinement (layers 4-5): 3900 tokens (39 per person).

Self-attention masks of the refinement stages: a token sees its own person's tokens; box tokens
also see the box tokens of every other person. All tensors are batch-first here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from aios_ros.core.tokens import (
    BODY_LAYOUT,
    NUM_BODY_KPS,
    NUM_FACE_KPS,
    NUM_GROUPS,
    NUM_HAND_KPS,
    WHOLE_BODY_LAYOUT,
    TokenLayout,
    span,
)
from aios_ros.model.heads import MLP, D, full_precision, inverse_sigmoid
from aios_ros.model.ms_deform_attn import MSDeformAttn, ShapesLike
from aios_ros.model.person_attention import person_self_attention
from aios_ros.model.position_encoding import box_sine_embedding


class DecoderLayer(nn.Module):
    """Post-norm: self-attention (norm2) -> deformable cross-attention (norm1) -> FFN (norm3)."""

    def __init__(self, d_model: int = D, d_ffn: int = 2048) -> None:
        super().__init__()
        self.cross_attn = MSDeformAttn(d_model, 4, 8, 4)
        self.norm1 = nn.LayerNorm(d_model)
        self.self_attn = nn.MultiheadAttention(d_model, 8, dropout=0.0, batch_first=True)
        self.norm2 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.norm3 = nn.LayerNorm(d_model)

    def forward(
        self,
        tgt: torch.Tensor,
        query_pos: torch.Tensor,
        reference_points: torch.Tensor,
        memory: torch.Tensor,
        memory_padding_mask: torch.Tensor | None,
        level_start_index: torch.Tensor | None,
        spatial_shapes: ShapesLike,
        person_layout: TokenLayout | None = None,
    ) -> torch.Tensor:
        """tgt, query_pos (B, N, C); reference_points (B, N, L, 4) cxcywh (already x valid ratios);
        memory (B, S, C) -> (B, N, C) (un-normalised). Self-attention is unmasked (body-location
        stage) or, with ``person_layout``, applies the refinement-stage mask of that layout
        block-sparse (see :mod:`aios_ros.model.person_attention`)."""
        q = tgt + query_pos
        if person_layout is not None:
            attn = person_self_attention(self.self_attn, q, tgt, person_layout)
        else:
            attn = self.self_attn(q, q, tgt, need_weights=False)[0]
        tgt = self.norm2(tgt + attn)
        attn = self.cross_attn(
            tgt + query_pos,
            reference_points,
            memory,
            spatial_shapes,
            level_start_index,
            memory_padding_mask,
        )
        tgt = self.norm1(tgt + attn)
        tgt = self.norm3(tgt + self.linear2(self.linear1(tgt).relu_()))
        return tgt


def _slot(slot: int) -> slice:
    """One token slot as a slice (keeps the slot dimension when indexing)."""
    return slice(slot, slot + 1)


def _expand(
    content: torch.Tensor,
    ref: torch.Tensor,
    embed: torch.Tensor,
    xy_mlp: nn.Module,
    hw_logits: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """New tokens derived from a parent token (body box -> keypoints, hand box -> hand kps ...).

    content (B, G, C), ref (B, G, 4) of the parent; embed (K, C) per-child content offsets;
    hw_logits (K, 2) per-child size factors (sigmoid of them scales the parent's w, h).
    Returns content (B, G, K, C) and ref (B, G, K, 4).
    """
    child = content[:, :, None] + embed
    xy = (inverse_sigmoid(ref[:, :, None, :2]) + xy_mlp(child)[..., :2]).sigmoid()
    wh = hw_logits.sigmoid() * ref[:, :, None, 2:]
    return child, torch.cat((xy, wh), dim=-1)


@dataclass
class DecoderOutput:
    """hs: 6 x (B, N_l, C) normalised layer outputs (N = 900, 900, 2100, 2100, 3900, 3900);
    references: 7 x (B, N, 4) sigmoid-space references, [l] = input of layer l, [6] = after layer 5
    (None unless requested); person_index (B, G): queries kept after layer 1 (descending score);
    person_scores (B, 900): their selection scores (max class logit, un-normalised layer-1
    output)."""

    hs: list[torch.Tensor]
    references: list[torch.Tensor | None]
    person_index: torch.Tensor
    person_scores: torch.Tensor


class TransformerDecoder(nn.Module):
    """Six :class:`DecoderLayer` plus the query-expansion embeddings (official names).

    The head lists (``bbox_embed``, ``class_embed``, ``pose_embed`` ...) are attached by the
    model (:func:`aios_ros.model.heads.build_head_lists`) as aliases of its own lists.
    """

    # attached by the model (DECODER_HEAD_LISTS)
    bbox_embed: nn.ModuleList
    pose_embed: nn.ModuleList
    pose_hw_embed: nn.ModuleList
    class_embed: nn.ModuleList
    bbox_hand_embed: nn.ModuleList
    bbox_hand_hw_embed: nn.ModuleList
    pose_hand_embed: nn.ModuleList
    pose_hand_hw_embed: nn.ModuleList
    bbox_face_embed: nn.ModuleList
    bbox_face_hw_embed: nn.ModuleList
    pose_face_embed: nn.ModuleList
    pose_face_hw_embed: nn.ModuleList
    # registered in __init__ by name, per part
    lhand_box_embed: nn.Embedding
    rhand_box_embed: nn.Embedding
    face_box_embed: nn.Embedding
    hw_lhand_bbox: nn.Embedding
    hw_rhand_bbox: nn.Embedding
    hw_face_bbox: nn.Embedding
    hw_lhand_kps: nn.Embedding
    hw_rhand_kps: nn.Embedding
    hw_face_kps: nn.Embedding
    lhand_keypoint_embed: nn.Embedding
    rhand_keypoint_embed: nn.Embedding
    face_keypoint_embed: nn.Embedding

    def __init__(self, num_layers: int = 6) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer() for _ in range(num_layers))
        self.norm = nn.LayerNorm(D)
        self.ref_point_head = MLP(2 * D, D, D, 2)
        self.hw = nn.Embedding(NUM_BODY_KPS, 2)
        self.keypoint_embed = nn.Embedding(NUM_BODY_KPS, D)
        for part in ('lhand', 'rhand', 'face'):
            setattr(self, f'{part}_box_embed', nn.Embedding(1, D))
        for part in ('lhand', 'rhand', 'face'):
            setattr(self, f'hw_{part}_bbox', nn.Embedding(1, 2))
        for part in ('lhand', 'rhand', 'face'):
            setattr(
                self,
                f'hw_{part}_kps',
                nn.Embedding(NUM_HAND_KPS if part != 'face' else NUM_FACE_KPS, 2),
            )
        for part in ('lhand', 'rhand', 'face'):
            setattr(
                self,
                f'{part}_keypoint_embed',
                nn.Embedding(NUM_HAND_KPS if part != 'face' else NUM_FACE_KPS, D),
            )

    def forward(
        self,
        tgt: torch.Tensor,
        ref_unsig: torch.Tensor,
        memory: torch.Tensor,
        memory_padding_mask: torch.Tensor,
        spatial_shapes: ShapesLike,
        level_start_index: torch.Tensor | None,
        valid_ratios: torch.Tensor,
        final_reference: bool = False,
    ) -> DecoderOutput:
        """tgt (B, 900, C) initial content; ref_unsig (B, 900, 4) initial reference logits;
        memory (B, S, C); valid_ratios (B, L, 2). ``final_reference`` also computes the
        reference update after layer 5 (only needed for parity records)."""
        ref = ref_unsig.sigmoid()
        ratios = torch.cat((valid_ratios, valid_ratios), -1)[:, None]
        hs: list[torch.Tensor] = []
        refs: list[torch.Tensor | None] = [ref]
        person_index: torch.Tensor | None = None
        person_scores: torch.Tensor | None = None
        for lid, layer in enumerate(self.layers):
            ref_in = ref[:, :, None] * ratios
            query_pos = self.ref_point_head(box_sine_embedding(ref_in[:, :, 0]))
            layout = None if lid < 2 else (BODY_LAYOUT if lid < 4 else WHOLE_BODY_LAYOUT)
            tgt = layer(
                tgt,
                query_pos,
                ref_in,
                memory,
                memory_padding_mask,
                level_start_index,
                spatial_shapes,
                person_layout=layout,
            )
            hs.append(self.norm(tgt))
            if lid == len(self.layers) - 1 and not final_reference:
                refs.append(None)
                break
            ref = self._refine(lid, tgt, ref, layout)
            if lid == 1:
                with full_precision(tgt):
                    person_scores = self.class_embed[1](tgt.float()).max(-1)[0]
                person_index = torch.topk(person_scores, NUM_GROUPS, dim=1)[1]
                tgt, ref = self._expand_people(tgt, ref, person_index)
            elif lid == 3:
                tgt, ref = self._expand_hands_face(tgt, ref)
            refs.append(ref)
        assert person_index is not None and person_scores is not None  # set after layer 1
        return DecoderOutput(hs, refs, person_index, person_scores)

    def _refine(
        self, lid: int, tgt: torch.Tensor, ref: torch.Tensor, layout: TokenLayout | None
    ) -> torch.Tensor:
        """Reference update after layer ``lid``: sigmoid(logit(ref) + delta(tgt)), per token
        type."""
        if layout is None:
            delta: torch.Tensor = self.bbox_embed[lid](tgt)
            return (delta + inverse_sigmoid(ref)).sigmoid()
        j, k = lid - 2, lid - 4
        B, T = tgt.shape[0], layout.size
        t = tgt.view(B, -1, T, D)
        groups = [
            (_slot(layout.body_box), self.bbox_embed[lid], None),
            (span(layout.body_kps), self.pose_embed[j], self.pose_hw_embed[j]),
        ]
        hand = (self.bbox_hand_embed[j], self.bbox_hand_hw_embed[j])
        face = (self.bbox_face_embed[j], self.bbox_face_hw_embed[j])
        if layout.lhand_kps is None:  # body stage: the two hand boxes are adjacent slots
            groups += [
                (slice(layout.lhand_box, layout.rhand_box + 1), *hand),
                (_slot(layout.face_box), *face),
            ]
        else:
            assert layout.rhand_kps is not None and layout.face_kps is not None  # set together
            hand_kp = (self.pose_hand_embed[k], self.pose_hand_hw_embed[k])
            face_kp = (self.pose_face_embed[k], self.pose_face_hw_embed[k])
            groups += [
                (_slot(layout.lhand_box), *hand),
                (span(layout.lhand_kps), *hand_kp),
                (_slot(layout.rhand_box), *hand),
                (span(layout.rhand_kps), *hand_kp),
                (_slot(layout.face_box), *face),
                (span(layout.face_kps), *face_kp),
            ]
        deltas = []
        for slots, xy_mlp, wh_mlp in groups:
            x = t[:, :, slots]
            deltas.append(
                xy_mlp(x) if wh_mlp is None else torch.cat((xy_mlp(x)[..., :2], wh_mlp(x)), -1)
            )
        delta = torch.cat(deltas, dim=2).view(B, -1, 4)
        return (inverse_sigmoid(ref) + delta).sigmoid()

    def _expand_people(
        self, tgt: torch.Tensor, ref: torch.Tensor, index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep the queries ``index`` (B, G) and give each 21 tokens (:data:`BODY_LAYOUT`).

        tgt (B, 900, C), ref (B, 900, 4) -> (B, G*21, C), (B, G*21, 4)."""
        c = torch.gather(tgt, 1, index[..., None].expand(-1, -1, D))
        r = torch.gather(ref, 1, index[..., None].expand(-1, -1, 4))
        contents, refs = [c[:, :, None]], [r[:, :, None]]
        parts = [
            (self.keypoint_embed, self.pose_embed[4], self.hw),
            (self.lhand_box_embed, self.bbox_hand_embed[4], self.hw_lhand_bbox),
            (self.rhand_box_embed, self.bbox_hand_embed[4], self.hw_rhand_bbox),
            (self.face_box_embed, self.bbox_face_embed[4], self.hw_face_bbox),
        ]
        for embed, mlp, hw in parts:
            child, child_ref = _expand(c, r, embed.weight, mlp, hw.weight)
            contents.append(child)
            refs.append(child_ref)
        B = tgt.shape[0]
        return torch.cat(contents, 2).view(B, -1, D), torch.cat(refs, 2).view(B, -1, 4)

    def _expand_hands_face(
        self, tgt: torch.Tensor, ref: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """21 -> 39 tokens per person: 6 keypoint tokens after each hand/face box token.

        tgt (B, G*21, C), ref (B, G*21, 4) -> (B, G*39, C), (B, G*39, 4)."""
        B = tgt.shape[0]
        t, r = tgt.view(B, -1, 21, D), ref.view(B, -1, 21, 4)
        contents, refs = [t[:, :, :18]], [r[:, :, :18]]
        parts = [
            (18, self.lhand_keypoint_embed, self.pose_hand_embed[2], self.hw_lhand_kps),
            (19, self.rhand_keypoint_embed, self.pose_hand_embed[2], self.hw_rhand_kps),
            (20, self.face_keypoint_embed, self.pose_face_embed[2], self.hw_face_kps),
        ]
        for slot, embed, mlp, hw in parts:
            child, child_ref = _expand(t[:, :, slot], r[:, :, slot], embed.weight, mlp, hw.weight)
            contents += [t[:, :, slot : slot + 1], child]
            refs += [r[:, :, slot : slot + 1], child_ref]
        return torch.cat(contents, 2).view(B, -1, D), torch.cat(refs, 2).view(B, -1, 4)
