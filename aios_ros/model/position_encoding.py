"""Sine positional encodings: image feature maps (temperature 20) and decoder boxes (10000)."""

from __future__ import annotations

import math

import torch
from torch import nn


def _interleave_sin_cos(x: torch.Tensor) -> torch.Tensor:
    """(..., D) angles -> (..., D) as [sin(x0), cos(x1), sin(x2), cos(x3), ...]."""
    return torch.stack((x[..., 0::2].sin(), x[..., 1::2].cos()), dim=-1).flatten(-2)


def _inverse_frequencies(num_feats: int, temperature: float, device: torch.device) -> torch.Tensor:
    """(num_feats,) divisors temperature^(2*floor(i/2)/num_feats)."""
    dim_t = torch.arange(num_feats, dtype=torch.float32, device=device)
    return temperature ** (2 * torch.div(dim_t, 2, rounding_mode='floor') / num_feats)


class PositionEmbeddingSineHW(nn.Module):
    """Normalised sine encoding of pixel positions inside the valid (unpadded) image area.

    Official ``PositionEmbeddingSineHW(128, temperatureH=20, temperatureW=20, normalize=True)``;
    no parameters.
    """

    def __init__(
        self, num_pos_feats: int = 128, temperature_h: float = 20.0, temperature_w: float = 20.0
    ) -> None:
        super().__init__()
        self.num_pos_feats = num_pos_feats
        self.temperature_h = temperature_h
        self.temperature_w = temperature_w

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        """mask (B, H, W) bool, True on padding -> (B, 2*num_pos_feats, H, W) float32,
        [pos_y, pos_x]."""
        not_mask = ~mask
        y = not_mask.cumsum(1, dtype=torch.float32)
        x = not_mask.cumsum(2, dtype=torch.float32)
        y = y / (y[:, -1:, :] + 1e-6) * (2 * math.pi)
        x = x / (x[:, :, -1:] + 1e-6) * (2 * math.pi)
        pos_x = _interleave_sin_cos(
            x[..., None] / _inverse_frequencies(self.num_pos_feats, self.temperature_w, mask.device)
        )
        pos_y = _interleave_sin_cos(
            y[..., None] / _inverse_frequencies(self.num_pos_feats, self.temperature_h, mask.device)
        )
        return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)


def box_sine_embedding(boxes: torch.Tensor) -> torch.Tensor:
    """Decoder query encoding (official ``gen_sineembed_for_position``, temperature 10000).

    boxes (..., 4) cxcywh in [0, 1] -> (..., 512) = concat of the 128-d encodings of (y, x, w, h).
    """
    dim_t = _inverse_frequencies(128, 10000.0, boxes.device)
    parts = [_interleave_sin_cos(boxes[..., i, None] * (2 * math.pi) / dim_t) for i in (1, 0, 2, 3)]
    return torch.cat(parts, dim=-1)
