"""Deformable transformer of AiOS: level embeddings, encoder, two-stage selection, decoder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from aios_ros.model.decoder import DecoderOutput, TransformerDecoder
from aios_ros.model.encoder import TransformerEncoder, encoder_reference_points
from aios_ros.model.heads import MLP
from aios_ros.model.ms_deform_attn import LevelGeometry
from aios_ros.model.two_stage import Selection, select_queries

NUM_QUERIES = 900
N_HEADS, N_POINTS = 8, 4  # of every deformable attention (encoder and decoder)


def valid_ratios(mask: torch.Tensor) -> torch.Tensor:
    """mask (B, h, w) True on padding -> (B, 2) = (valid_w / w, valid_h / h)."""
    _, h, w = mask.shape
    valid_h = (~mask[:, :, 0]).sum(1).float() / h
    valid_w = (~mask[:, 0, :]).sum(1).float() / w
    return torch.stack((valid_w, valid_h), -1)


@dataclass
class TransformerOutput:
    """memory (B, S, C) encoder output; mask_flatten (B, S) True on padding; shapes L (h, w);
    valid_ratios (B, L, 2); selection: two-stage result; decoder: decoder result."""

    memory: torch.Tensor
    mask_flatten: torch.Tensor
    shapes: list[tuple[int, int]]
    valid_ratios: torch.Tensor
    selection: Selection
    decoder: DecoderOutput

    @property
    def spatial_shapes(self) -> torch.Tensor:
        """(L, 2) int64 (h, w) on the CPU (official record layout; made on request only, so the
        forward holds no tensor built from Python data)."""
        return torch.tensor(self.shapes, dtype=torch.long)

    @property
    def level_start_index(self) -> torch.Tensor:
        """(L,) int64 first token of each level, on the CPU."""
        sizes = self.spatial_shapes.prod(1)
        return torch.cat((sizes.new_zeros((1,)), sizes.cumsum(0)[:-1]))


class Transformer(nn.Module):
    """Official ``transformer`` module (names ``level_embed``, ``encoder``, ``decoder``,
    ``enc_output``, ``enc_output_norm``, ``enc_out_bbox_embed``, ``enc_out_class_embed``)."""

    def __init__(self, d_model: int = 256, num_levels: int = 4) -> None:
        super().__init__()
        self.level_embed = nn.Parameter(torch.zeros(num_levels, d_model))
        self.encoder = TransformerEncoder()
        self.decoder = TransformerDecoder()
        self.enc_output = nn.Linear(d_model, d_model)
        self.enc_output_norm = nn.LayerNorm(d_model)
        self.enc_out_bbox_embed = MLP(d_model, d_model, 4, 3)
        self.enc_out_class_embed = nn.Linear(d_model, 2)

    def forward(
        self,
        srcs: list[torch.Tensor],
        masks: list[torch.Tensor],
        pos: list[torch.Tensor],
        final_reference: bool = False,
    ) -> TransformerOutput:
        """srcs, pos: L x (B, C, h, w); masks: L x (B, h, w) True on padding."""
        shapes = cast('list[tuple[int, int]]', [tuple(s.shape[-2:]) for s in srcs])  # (h, w)
        # Level shapes are Python ints (per input bucket); the sampling constants all 12
        # deformable attentions read are built from them once, inside the forward.
        geometry = LevelGeometry.build(shapes, N_HEADS, N_POINTS, srcs[0].device)
        src_flatten = torch.cat([s.flatten(2).transpose(1, 2) for s in srcs], 1)
        mask_flatten = torch.cat([m.flatten(1) for m in masks], 1)
        lvl_pos = torch.cat(
            [
                p.flatten(2).transpose(1, 2) + self.level_embed[lvl].view(1, 1, -1)
                for lvl, p in enumerate(pos)
            ],
            1,
        )
        ratios = torch.stack([valid_ratios(m) for m in masks], 1)
        reference_points = encoder_reference_points(shapes, ratios)
        memory = self.encoder(src_flatten, lvl_pos, reference_points, geometry, None, mask_flatten)
        selection = select_queries(
            self.enc_output,
            self.enc_output_norm,
            self.enc_out_class_embed,
            self.enc_out_bbox_embed,
            memory,
            mask_flatten,
            shapes,
            NUM_QUERIES,
        )
        decoded = self.decoder(
            selection.content,
            selection.boxes_unsig,
            memory,
            mask_flatten,
            geometry,
            None,
            ratios,
            final_reference,
        )
        return TransformerOutput(memory, mask_flatten, shapes, ratios, selection, decoded)
