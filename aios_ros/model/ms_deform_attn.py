"""Multi-scale deformable attention (Deformable-DETR / AiOS ``MSDeformAttn``).

Two interchangeable sampling cores with identical semantics:

* :func:`msda_core_reference` — one ``F.grid_sample`` per level, then a weighted sum over
  levels and points. Straightforward, used as the oracle in tests.
* :func:`msda_core_fast` — the default. Bilinear sampling is written as a sparse weighted gather:
  every (query, head) output row is a weighted sum of 64 value rows (levels x points x 4 bilinear
  corners), computed by one ``F.embedding_bag(mode='sum', per_sample_weights=...)`` call. The
  attention weights are folded into the bilinear corner weights, so the (heads, channels, queries,
  levels*points) intermediate of the reference never exists; value rows keep their natural
  (B, S, heads, channels) order (one copy with a zero border per level, which replaces all
  out-of-map tests). For the 22k-query encoder of an 800x1333 input it is 3.5-8x faster than
  the reference on the shared 2-core CPU (measured interleaved:
  ``python -m aios_ros.tools.bench_model --size 800x1333 --msda ...``).

Sampling semantics (both cores): a normalised location ``(x, y)`` on level ``l`` of size
``(h_l, w_l)`` is sampled bilinearly at the pixel position ``(x*w_l - 0.5, y*h_l - 0.5)``; corner
taps outside the map contribute zero (``grid_sample`` with ``align_corners=False``,
``padding_mode='zeros'``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    'LevelGeometry',
    'MSDeformAttn',
    'level_geometry',
    'level_shapes',
    'msda_core_fast',
    'msda_core_reference',
]


def level_shapes(spatial_shapes: ShapesLike) -> list[tuple[int, int]]:
    """(h, w) python ints per level from an (L, 2) tensor, a sequence of pairs or a
    :class:`LevelGeometry`.

    Reading a tensor is a host read (a synchronisation for a CUDA tensor); the network itself
    passes a :class:`LevelGeometry` built from Python ints, as CUDA-graph capture requires.
    """
    if isinstance(spatial_shapes, LevelGeometry):
        return list(spatial_shapes.shapes)
    if isinstance(spatial_shapes, torch.Tensor):
        if spatial_shapes.dim() != 2 or spatial_shapes.shape[1] != 2:
            raise ValueError(f'spatial_shapes must be (L, 2), got {tuple(spatial_shapes.shape)}')
        spatial_shapes = spatial_shapes.tolist()
    return [(int(h), int(w)) for h, w in spatial_shapes]


def _per_level(
    values: list[float], points: int, device: torch.device, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """(L, P) tensor whose row l is values[l], made by fill kernels only: a tensor built from
    Python data would be a host-to-device copy, illegal during CUDA-graph capture."""
    return torch.stack([torch.full((points,), v, dtype=dtype, device=device) for v in values])


@dataclasses.dataclass(frozen=True)
class LevelGeometry:
    """Level sizes of one input size and the small constant tensors the fast core reads.

    Built once per network forward (:class:`aios_ros.model.transformer.Transformer`), inside the
    step a CUDA graph captures: the tensors then live in the graph's own memory pool for exactly
    as long as the graph (a cache shared between graphs could free or reuse them under a live
    graph, which reads them on every replay without running Python).

    shapes: L (h, w); wh_full (L, P, 2) level (w, h); row_const (heads, L, P), row_step_y (L, P)
    float32 and corner_step (4, L, P) int32: row arithmetic of :func:`_bilinear_taps`.
    """

    shapes: tuple[tuple[int, int], ...]
    heads: int
    points: int
    wh_full: torch.Tensor
    row_const: torch.Tensor
    row_step_y: torch.Tensor
    corner_step: torch.Tensor

    @classmethod
    def build(
        cls, shapes: ShapesLike, heads: int, points: int, device: torch.device
    ) -> 'LevelGeometry':
        levels = level_shapes(shapes)
        wp = [float(w + 3) for _, w in levels]
        padded = [(h + 3) * (w + 3) for h, w in levels]
        starts = [float(sum(padded[:i])) for i in range(len(levels))]
        heads_col = torch.arange(heads, dtype=torch.float32, device=device).view(heads, 1, 1)
        return cls(
            shapes=tuple(levels),
            heads=heads,
            points=points,
            wh_full=torch.stack(
                (
                    _per_level([float(w) for _, w in levels], points, device),
                    _per_level([float(h) for h, _ in levels], points, device),
                ),
                dim=-1,
            ),
            # Row of padded pixel (i, j), level l, head h: (start_l + (i+1)*wp + (j+1))*heads + h.
            row_const=_per_level([(p + 1 + s) * heads for p, s in zip(wp, starts)], points, device)
            + heads_col,
            row_step_y=_per_level([p * heads for p in wp], points, device),
            corner_step=torch.stack(
                [
                    _per_level([c * heads for c in corner], points, device, torch.int32)
                    for corner in ([0.0] * len(wp), [1.0] * len(wp), wp, [p + 1 for p in wp])
                ]
            ),
        )


ShapesLike = Union[torch.Tensor, Sequence[Sequence[int]], LevelGeometry]


def level_geometry(
    spatial_shapes: ShapesLike, heads: int, points: int, device: torch.device
) -> LevelGeometry:
    """``spatial_shapes`` itself if it is a matching :class:`LevelGeometry`, else a new one."""
    if (
        isinstance(spatial_shapes, LevelGeometry)
        and (spatial_shapes.heads, spatial_shapes.points) == (heads, points)
        and spatial_shapes.wh_full.device == device
    ):
        return spatial_shapes
    return LevelGeometry.build(spatial_shapes, heads, points, device)


def _check_core_inputs(
    value: torch.Tensor,
    shapes: list[tuple[int, int]],
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> None:
    b, s, heads, _ = value.shape
    levels = attention_weights.shape[-2]
    if len(shapes) != levels:
        raise ValueError(f'{len(shapes)} spatial shapes given for {levels} levels')
    if sum(h * w for h, w in shapes) != s:
        raise ValueError(f'spatial_shapes {shapes} do not cover the {s} value tokens')
    if (
        sampling_locations.shape != (*attention_weights.shape, 2)
        or attention_weights.shape[2] != heads
        or attention_weights.shape[0] != b
    ):
        raise ValueError(
            'sampling_locations must be (B, Lq, heads, levels, points, 2) and '
            'attention_weights (B, Lq, heads, levels, points), matching value (B, S, heads, C); '
            f'got {tuple(sampling_locations.shape)}, {tuple(attention_weights.shape)}, '
            f'{tuple(value.shape)}'
        )


def msda_core_reference(
    value: torch.Tensor,
    spatial_shapes: ShapesLike,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """Deformable sampling with one ``grid_sample`` per level (the oracle).

    Parameters
    ----------
    value : (B, S, heads, C) per-head values, levels flattened row-major and concatenated.
    spatial_shapes : (L, 2) int64 tensor or L pairs, (h, w) of each level.
    sampling_locations : (B, Lq, heads, L, P, 2) normalised (x, y); [0, 1] spans the level.
    attention_weights : (B, Lq, heads, L, P), already normalised.

    Returns
    -------
    (B, Lq, heads*C), heads concatenated head-major.
    """
    shapes = level_shapes(spatial_shapes)
    _check_core_inputs(value, shapes, sampling_locations, attention_weights)
    b, _, heads, c = value.shape
    _, lq, _, levels, points, _ = sampling_locations.shape
    grids = 2 * sampling_locations - 1
    sampled = []
    for lvl, value_l in enumerate(value.split([h * w for h, w in shapes], dim=1)):
        h, w = shapes[lvl]
        value_l = value_l.permute(0, 2, 3, 1).reshape(b * heads, c, h, w)
        grid_l = grids[:, :, :, lvl].transpose(1, 2).reshape(b * heads, lq, points, 2)
        sampled.append(
            F.grid_sample(
                value_l, grid_l, mode='bilinear', padding_mode='zeros', align_corners=False
            )
        )  # (B*heads, C, Lq, P)
    stacked = torch.stack(sampled, dim=-2).flatten(-2)  # (B*heads, C, Lq, L*P)
    weights = attention_weights.transpose(1, 2).reshape(b * heads, 1, lq, levels * points)
    out = (stacked * weights).sum(-1).view(b, heads * c, lq)
    return out.transpose(1, 2).contiguous()


def _padded_table(value: torch.Tensor, shapes: list[tuple[int, int]]) -> torch.Tensor:
    """Value rows with every level zero-padded by 1 pixel top/left and 2 bottom/right.

    The border makes every bilinear corner of a location clamped to [-1, w] x [-1, h] a valid row
    whose value is the exact zero that ``grid_sample`` uses outside the map, so no per-corner
    validity test is needed. Returns the (B*S_pad*heads, C) table.
    """
    b, _, heads, c = value.shape
    padded = [(h + 3) * (w + 3) for h, w in shapes]
    table = value.new_zeros(b, sum(padded), heads, c)
    start = 0
    for (h, w), size, level in zip(shapes, padded, value.split([h * w for h, w in shapes], dim=1)):
        dst = table[:, start : start + size].view(b, h + 3, w + 3, heads, c)
        dst[:, 1 : h + 1, 1 : w + 1] = level.view(b, h, w, heads, c)
        start += size
    return table.view(-1, c)


def _bilinear_taps(
    geometry: LevelGeometry,
    rows_per_image: int,
    locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices into the padded table and their weights: 4 bilinear corners per sample.

    Returns ``(index int32, weight float32)``, both (B*Lq*heads, 4*L*P); the weights include the
    attention weight. All broadcast operands are full (L, P) blocks so every elementwise kernel
    runs over long contiguous inner loops (inner-dim broadcasts are several times slower on CPU).
    Row numbers are formed in float32, exact below 2**24.
    """
    b, lq, heads, levels, points, _ = locations.shape
    if b * rows_per_image >= 2**24:
        raise ValueError(f'batch of {b} too large for msda_core_fast row arithmetic (rows < 2**24)')
    wh_full = geometry.wh_full
    pix = locations * wh_full - 0.5  # (B, Lq, H, L, P, 2) pixels
    pix = torch.minimum(pix.clamp_(min=-1.0), wh_full)
    corner0 = pix.floor()
    frac = pix.sub_(corner0)
    fx, fy = frac[..., 0], frac[..., 1]
    ay1 = attention_weights * fy
    wy = torch.stack((attention_weights - ay1, ay1), dim=3)  # (B, Lq, H, 2, L, P)
    wx = torch.stack((1 - fx, fx), dim=3)
    # Corner order (y0,x0), (y0,x1), (y1,x0), (y1,x1): (B, Lq, H, 2, 2, L, P) -> 4 corners.
    weight = (wy.unsqueeze(4) * wx.unsqueeze(3)).flatten(3, 4)

    base = torch.addcmul(geometry.row_const, corner0[..., 1], geometry.row_step_y)
    base.add_(corner0[..., 0], alpha=heads)
    if b > 1:
        image_off = torch.arange(b, dtype=torch.float32, device=base.device) * rows_per_image
        base.add_(image_off.view(b, 1, 1, 1, 1))
    index = base.to(torch.int32).unsqueeze(3) + geometry.corner_step  # (B, Lq, H, 4, L, P)
    return index.view(b * lq * heads, -1), weight.reshape(b * lq * heads, -1)


def msda_core_fast(
    value: torch.Tensor,
    spatial_shapes: ShapesLike,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """Same contract as :func:`msda_core_reference`, computed as one weighted ``embedding_bag``.

    Always samples and sums in float32 (returns float32), also under bf16/fp16 autocast: low
    precision bilinear weights would move the sampling points (official AMP does the same).
    """
    shapes = level_shapes(spatial_shapes)
    _check_core_inputs(value, shapes, sampling_locations, attention_weights)
    b, _, heads, c = value.shape
    _, lq, _, _, points, _ = sampling_locations.shape
    geometry = level_geometry(spatial_shapes, heads, points, value.device)
    table = _padded_table(value.float(), shapes)
    index, weight = _bilinear_taps(
        geometry, table.shape[0] // b, sampling_locations.float(), attention_weights.float()
    )
    out = F.embedding_bag(index, table, mode='sum', per_sample_weights=weight)
    return out.view(b, lq, heads * c)


def _sampling_locations(
    offsets: torch.Tensor, reference_points: torch.Tensor, wh_full: torch.Tensor
) -> torch.Tensor:
    """Normalised sampling locations (B, Lq, H, L, P, 2) from offsets (B, Lq, H, L, P, 2).

    2-d references (B, Lq, L, 2): ``ref + offset / (w_l, h_l)``; 4-d boxes (B, Lq, L, 4):
    ``ref_xy + offset / P * ref_wh * 0.5``. Per-query terms are laid out as contiguous
    (L, P, 2) blocks first so that only the head dimension is broadcast.
    """
    b, lq, _, levels, points, _ = offsets.shape

    def per_point(x: torch.Tensor) -> torch.Tensor:  # (B, Lq, L, 2) -> (B, Lq, 1, L, P, 2)
        return x[:, :, None, :, None, :].expand(b, lq, 1, levels, points, 2).contiguous()

    if reference_points.shape[-1] == 2:
        return torch.div(offsets, wh_full).add_(per_point(reference_points))
    if reference_points.shape[-1] == 4:
        scale = per_point(reference_points[..., 2:] / points * 0.5)
        return torch.addcmul(per_point(reference_points[..., :2]), offsets, scale)
    raise ValueError(
        f'reference_points last dimension must be 2 or 4, got {reference_points.shape[-1]}'
    )


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention with the official parameter names.

    Parameters
    ----------
    d_model : channels C of queries and values.
    n_levels, n_heads, n_points : feature levels L, heads, sampling points per head and level.
    """

    def __init__(self, d_model: int = 256, n_levels: int = 4, n_heads: int = 8, n_points: int = 4):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f'd_model {d_model} must be divisible by n_heads {n_heads}')
        self.d_model, self.n_levels, self.n_heads, self.n_points = (
            d_model,
            n_levels,
            n_heads,
            n_points,
        )
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self.core = msda_core_fast
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """Official initialisation: offsets point radially per head, uniform attention."""
        nn.init.zeros_(self.sampling_offsets.weight)
        angles = torch.arange(self.n_heads, dtype=torch.float32) * (2 * math.pi / self.n_heads)
        dirs = torch.stack((angles.cos(), angles.sin()), -1)
        dirs = dirs / dirs.abs().max(-1, keepdim=True)[0]
        scale = torch.arange(1, self.n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        grid = dirs.view(self.n_heads, 1, 1, 2).repeat(1, self.n_levels, self.n_points, 1) * scale
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for proj in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(proj.weight)
            nn.init.zeros_(proj.bias)

    def forward(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        input_flatten: torch.Tensor,
        input_spatial_shapes: ShapesLike,
        input_level_start_index: torch.Tensor | None,
        input_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attend from every query to sampled points of the multi-level value map.

        Parameters
        ----------
        query : (B, Lq, C).
        reference_points : (B, Lq, L, 2) normalised (x, y) in [0, 1] of each level, or
            (B, Lq, L, 4) boxes (cx, cy, w, h); for boxes the offsets are scaled by
            w,h * 0.5 / n_points.
        input_flatten : (B, S, C) values, levels flattened row-major and concatenated.
        input_spatial_shapes : (L, 2) int64 (h, w) per level, L pairs, or a
            :class:`LevelGeometry` (what the network passes: no host read, no constants built
            per call).
        input_level_start_index : (L,) int64 first token of each level (implied by the shapes;
            kept for the official signature, may be None).
        input_padding_mask : (B, S) bool, True on padded tokens (their values count as 0), or None.

        Returns
        -------
        (B, Lq, C).
        """
        b, lq, _ = query.shape
        s = input_flatten.shape[1]
        heads, levels, points = self.n_heads, self.n_levels, self.n_points
        value = self.value_proj(input_flatten)
        if input_padding_mask is not None:
            # Multiplying by the keep mask equals the official masked_fill(0) for finite values and
            # is a vectorised broadcast (masked_fill over the channel dim is not).
            value = value * (~input_padding_mask)[..., None].to(value.dtype)
        value = value.view(b, s, heads, self.d_model // heads)
        offsets = self.sampling_offsets(query).float().view(b, lq, heads, levels, points, 2)
        attn = self.attention_weights(query).float().view(b, lq, heads, levels * points)
        attn = attn.softmax(-1).view(b, lq, heads, levels, points)
        geometry = level_geometry(input_spatial_shapes, heads, points, offsets.device)
        locations = _sampling_locations(offsets, reference_points.float(), geometry.wh_full)
        out = self.core(value, geometry, locations, attn)
        output: torch.Tensor = self.output_proj(out)
        return output
