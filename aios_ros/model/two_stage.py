"""Two-stage query selection: score every encoder token as a box proposal and keep the top 900.

The selected tokens become the decoder's initial content queries and their refined proposals the
initial reference boxes (official ``two_stage_type='standard'``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from aios_ros.model.heads import MLP, full_precision


def encoder_proposals(
    memory: torch.Tensor, padding_mask: torch.Tensor, spatial_shapes: list[tuple[int, int]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token anchor boxes and the memory with unusable tokens zeroed.

    memory (B, S, C); padding_mask (B, S) True on padding; spatial_shapes L (h, w).
    Returns memory (B, S, C) zeroed at padded/invalid tokens and proposals (B, S, 4) as logits of
    cxcywh ``((j+0.5)/valid_w, (i+0.5)/valid_h, 0.05*2^l, 0.05*2^l)``, +inf where unusable
    (padded, or any coordinate outside (0.01, 0.99)).
    """
    batch = memory.shape[0]
    level_proposals: list[torch.Tensor] = []
    start = 0
    for lvl, (h, w) in enumerate(spatial_shapes):
        mask = padding_mask[:, start : start + h * w].view(batch, h, w)
        valid_h = (~mask[:, :, 0]).sum(1)
        valid_w = (~mask[:, 0, :]).sum(1)
        grid_y, grid_x = torch.meshgrid(
            torch.linspace(0, h - 1, h, dtype=torch.float32, device=memory.device),
            torch.linspace(0, w - 1, w, dtype=torch.float32, device=memory.device),
            indexing='ij',
        )
        grid = torch.stack((grid_x, grid_y), -1)
        scale = torch.stack((valid_w, valid_h), 1).view(batch, 1, 1, 2)
        grid = (grid[None].expand(batch, -1, -1, -1) + 0.5) / scale
        wh = torch.ones_like(grid) * 0.05 * (2.0**lvl)
        level_proposals.append(torch.cat((grid, wh), -1).view(batch, -1, 4))
        start += h * w
    proposals = torch.cat(level_proposals, 1)
    usable = ((proposals > 0.01) & (proposals < 0.99)).all(-1, keepdim=True) & ~padding_mask[
        ..., None
    ]
    proposals = torch.log(proposals / (1 - proposals)).masked_fill(~usable, float('inf'))
    return memory.masked_fill(~usable, 0.0), proposals


@dataclass
class Selection:
    """Result of the two-stage selection (K = 900 queries, sorted by descending score).

    logits (B, S, 2): scores of all tokens; indices (B, K): selected token indices;
    content (B, K, C): decoder initial content; boxes_unsig (B, K, 4): initial reference logits;
    proposals (B, K, 4): the selected anchors in sigmoid space.
    """

    logits: torch.Tensor
    indices: torch.Tensor
    content: torch.Tensor
    boxes_unsig: torch.Tensor
    proposals: torch.Tensor


def select_queries(
    enc_output: nn.Linear,
    enc_output_norm: nn.LayerNorm,
    class_embed: nn.Linear,
    bbox_embed: MLP,
    memory: torch.Tensor,
    padding_mask: torch.Tensor,
    spatial_shapes: list[tuple[int, int]],
    num_queries: int,
) -> Selection:
    """Score all encoder tokens and gather the top ``num_queries`` (see :class:`Selection`)."""
    masked, proposals = encoder_proposals(memory, padding_mask, spatial_shapes)
    content_all = enc_output_norm(enc_output(masked))
    with full_precision(content_all):
        logits = class_embed(content_all.float())
    indices = torch.topk(logits.max(-1)[0], num_queries, dim=1)[1]

    def gather(x: torch.Tensor) -> torch.Tensor:
        return torch.gather(x, 1, indices[..., None].expand(-1, -1, x.shape[-1]))

    # The box MLP is row-wise: running it on the selected tokens only (900 of up to 22k) gives
    # the same boxes.
    content, selected = gather(content_all), gather(proposals)
    return Selection(
        logits=logits,
        indices=indices,
        content=content,
        boxes_unsig=bbox_embed(content) + selected,
        proposals=selected.sigmoid(),
    )
