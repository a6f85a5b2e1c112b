"""Deformable transformer encoder: 6 post-norm layers of multi-scale deformable self-attention.

Tokens are the flattened feature maps of the 4 levels (batch-first (B, S, 256)).
"""

from __future__ import annotations

import torch
from torch import nn

from aios_ros.model.ms_deform_attn import MSDeformAttn, ShapesLike


def feed_forward(
    x: torch.Tensor, linear1: nn.Linear, linear2: nn.Linear, chunk_rows: int = 512
) -> torch.Tensor:
    """``linear2(relu(linear1(x)))`` for x (..., C), computed in chunks of rows.

    Row-wise, so the result is the same; a (chunk, d_ffn) hidden block stays in cache instead of a
    (S, 2048) round trip through memory, ~20 % faster for the 9k-22k encoder tokens on CPU. On a
    GPU the chunks would only add launches (~530 GEMMs per forward), so it runs in one piece.
    """
    if x.device.type != 'cpu':
        whole: torch.Tensor = linear2(linear1(x).relu_())
        return whole
    flat = x.reshape(-1, x.shape[-1])
    out = torch.cat([linear2(linear1(rows).relu_()) for rows in flat.split(chunk_rows)])
    return out.view(*x.shape[:-1], out.shape[-1])


class EncoderLayer(nn.Module):
    """x = norm1(x + MSDA(x + pos, ref, x)); x = norm2(x + linear2(relu(linear1(x))))."""

    def __init__(self, d_model: int = 256, d_ffn: int = 2048) -> None:
        super().__init__()
        self.self_attn = MSDeformAttn(d_model, 4, 8, 4)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(
        self,
        src: torch.Tensor,
        pos: torch.Tensor,
        reference_points: torch.Tensor,
        spatial_shapes: ShapesLike,
        level_start_index: torch.Tensor | None,
        key_padding_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """src, pos (B, S, C); reference_points (B, S, L, 2) normalised xy; spatial_shapes (L, 2)
        (h, w); level_start_index (L,); key_padding_mask (B, S) True on padding -> (B, S, C)."""
        attn = self.self_attn(
            src + pos, reference_points, src, spatial_shapes, level_start_index, key_padding_mask
        )
        src = self.norm1(src + attn)
        src = self.norm2(src + feed_forward(src, self.linear1, self.linear2))
        return src


def encoder_reference_points(
    spatial_shapes: list[tuple[int, int]], valid_ratios: torch.Tensor
) -> torch.Tensor:
    """Pixel centres of every level, normalised to the valid area and re-scaled per target level.

    spatial_shapes: L (h, w); valid_ratios (B, L, 2) as (w, h) -> (B, S, L, 2) xy.
    """
    refs = []
    device = valid_ratios.device
    for lvl, (h, w) in enumerate(spatial_shapes):
        ref_y, ref_x = torch.meshgrid(
            torch.linspace(0.5, h - 0.5, h, dtype=torch.float32, device=device),
            torch.linspace(0.5, w - 0.5, w, dtype=torch.float32, device=device),
            indexing='ij',
        )
        ref_y = ref_y.reshape(-1)[None] / (valid_ratios[:, None, lvl, 1] * h)
        ref_x = ref_x.reshape(-1)[None] / (valid_ratios[:, None, lvl, 0] * w)
        refs.append(torch.stack((ref_x, ref_y), -1))
    return torch.cat(refs, 1)[:, :, None] * valid_ratios[:, None]


class TransformerEncoder(nn.Module):
    """Six :class:`EncoderLayer`; no final norm."""

    def __init__(self, num_layers: int = 6) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer() for _ in range(num_layers))

    def forward(
        self,
        src: torch.Tensor,
        pos: torch.Tensor,
        reference_points: torch.Tensor,
        spatial_shapes: ShapesLike,
        level_start_index: torch.Tensor | None,
        key_padding_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """src, pos (B, S, C) -> memory (B, S, C); reference points from
        :func:`encoder_reference_points`; other arguments as in :class:`EncoderLayer`."""
        for layer in self.layers:
            src = layer(
                src, pos, reference_points, spatial_shapes, level_start_index, key_padding_mask
            )
        return src
