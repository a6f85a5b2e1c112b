"""Decoder self-attention of the refinement stages, computed block-sparse (same result).

The refinement-stage mask (ARCHITECTURE.md §4.6) lets a keypoint token see only its own person's
T tokens and a box token see its own person's tokens plus the box tokens of every person. Running
``nn.MultiheadAttention`` with that dense (G*T, G*T) mask spends >95 % of the work on blocked
pairs (3900^2 scores per head at T = 39). Here keypoint queries attend within their person block
and each box query takes one softmax over its own person's T tokens plus the 4(G-1) box tokens of
the other people: identical softmax sets, about 1/40 of the scores.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from aios_ros.core.tokens import TokenLayout


@lru_cache(maxsize=8)
def _slots(
    layout: TokenLayout, groups: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(box slots (4,), keypoint slots (T-4,), own-person block of the box-box scores (4G, 4G))."""
    box = torch.tensor(layout.box_slots, dtype=torch.int64)
    is_box = torch.zeros(layout.size, dtype=torch.bool)
    is_box[box] = True
    kps = torch.nonzero(~is_box)[:, 0]
    person = torch.arange(groups).repeat_interleave(len(box))
    own_block = person[:, None] == person[None, :]
    return box.to(device), kps.to(device), own_block.to(device)


def person_self_attention(
    mha: nn.MultiheadAttention, query_key: torch.Tensor, value: torch.Tensor, layout: TokenLayout
) -> torch.Tensor:
    """``mha(query_key, query_key, value, attn_mask=<refinement mask>)[0]`` without the dense mask.

    Parameters
    ----------
    mha : batch-first ``nn.MultiheadAttention`` (its in/out projections are used).
    query_key : (B, G*T, C) tokens + positional embedding (queries and keys).
    value : (B, G*T, C) tokens.
    layout : per-person slot layout, T = ``layout.size``.

    Returns
    -------
    (B, G*T, C), as the masked dense attention.
    """
    b, n, c = value.shape
    t, heads = layout.size, mha.num_heads
    groups, d = n // t, c // heads
    if groups * t != n:
        raise ValueError(f'{n} tokens are not a whole number of {t}-token person blocks')
    box, kps, own_block = _slots(layout, groups, value.device)
    w, bias = mha.in_proj_weight, mha.in_proj_bias
    qk = F.linear(query_key, w[: 2 * c], bias[: 2 * c]).view(b, groups, t, 2, heads, d)
    q, k = qk.permute(3, 0, 1, 4, 2, 5).unbind(0)  # (B, G, heads, T, d)
    v = F.linear(value, w[2 * c :], bias[2 * c :]).view(b, groups, t, heads, d).transpose(2, 3)
    out = torch.empty_like(v)
    # Keypoint queries see their own person's T tokens only.
    out[:, :, :, kps] = F.scaled_dot_product_attention(
        q[:, :, :, kps].flatten(0, 1), k.flatten(0, 1), v.flatten(0, 1)
    ).view(b, groups, heads, -1, d)
    # Box queries see their own person's T tokens and the box tokens of all other people:
    # one softmax over [own T scores | 4G box scores with the own-person block removed].
    q_box = q[:, :, :, box]  # (B, G, heads, 4, d)
    scale = d**-0.5
    own = (q_box @ k.transpose(-1, -2)) * scale  # (B, G, heads, 4, T)
    q_all = q_box.permute(0, 2, 1, 3, 4).reshape(b, heads, -1, d)  # (B, heads, 4G, d)
    k_all = k[:, :, :, box].permute(0, 2, 1, 3, 4).reshape(b, heads, -1, d)
    v_all = v[:, :, :, box].permute(0, 2, 1, 3, 4).reshape(b, heads, -1, d)
    others = ((q_all @ k_all.transpose(-1, -2)) * scale).masked_fill_(own_block, float('-inf'))
    probs = torch.cat((own.permute(0, 2, 1, 3, 4).reshape(b, heads, -1, t), others), -1).softmax(-1)
    p_own = probs[..., :t].reshape(b, heads, groups, -1, t).transpose(1, 2)
    box_out = (p_own @ v).transpose(1, 2).reshape(b, heads, -1, d) + probs[..., t:] @ v_all
    out[:, :, :, box] = box_out.view(b, heads, groups, -1, d).transpose(1, 2)
    attn_output: torch.Tensor = mha.out_proj(out.permute(0, 1, 3, 2, 4).reshape(b, n, c))
    return attn_output
