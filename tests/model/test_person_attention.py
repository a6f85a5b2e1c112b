"""Refinement-stage self-attention (ARCHITECTURE.md §4.6): the dense mask, checked by hand, and the
block-sparse computation, which must equal dense masked ``nn.MultiheadAttention``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aios_ros.core.tokens import BODY_LAYOUT, WHOLE_BODY_LAYOUT, TokenLayout
from aios_ros.model.person_attention import person_self_attention


def self_attention_mask(layout: TokenLayout, groups: int) -> torch.Tensor:
    """Dense refinement-stage mask (G*T, G*T) bool, True = blocked: a token sees its own person's
    tokens; box tokens also see the box tokens of every other person."""
    T = layout.size
    person = torch.arange(groups * T) // T
    is_box = torch.zeros(T, dtype=torch.bool)
    is_box[list(layout.box_slots)] = True
    is_box = is_box.repeat(groups)
    allowed = (person[:, None] == person[None, :]) | (is_box[:, None] & is_box[None, :])
    return ~allowed


def _visible(mask, query):
    return set(torch.nonzero(~mask[query]).flatten().tolist())


def test_whole_body_mask_two_people():
    mask = self_attention_mask(WHOLE_BODY_LAYOUT, 2)
    assert mask.shape == (78, 78) and mask.dtype == torch.bool
    # body box of person 1 (token 39): other person's 4 box tokens + all of its own 39 tokens
    assert _visible(mask, 39) == {0, 18, 25, 32} | set(range(39, 78))
    # a face keypoint of person 0 (slot 35) sees only person 0
    assert _visible(mask, 35) == set(range(39))
    # the right-hand box of person 0 (slot 25) sees person 0 and person 1's box tokens
    assert _visible(mask, 25) == set(range(39)) | {39, 57, 64, 71}


def test_body_mask_box_slots():
    mask = self_attention_mask(BODY_LAYOUT, 3)
    boxes = {p * 21 + s for p in range(3) for s in (0, 18, 19, 20)}
    assert _visible(mask, 21 + 19) == set(range(21, 42)) | boxes
    assert _visible(mask, 42 + 5) == set(range(42, 63))


@pytest.mark.parametrize('layout', [BODY_LAYOUT, WHOLE_BODY_LAYOUT], ids=['T21', 'T39'])
def test_matches_dense_masked_attention(layout):
    torch.manual_seed(0)
    groups, batch = 6, 2
    mha = nn.MultiheadAttention(64, 8, batch_first=True).eval()
    nn.init.normal_(mha.in_proj_bias, std=0.5)
    tokens = torch.randn(batch, groups * layout.size, 64)
    query_key = tokens + torch.randn_like(tokens)
    mask = self_attention_mask(layout, groups)
    with torch.no_grad():
        dense = mha(query_key, query_key, tokens, attn_mask=mask, need_weights=False)[0]
        sparse = person_self_attention(mha, query_key, tokens, layout)
    torch.testing.assert_close(sparse, dense, rtol=0, atol=2e-6)
    # The mask matters: unmasked attention differs.
    with torch.no_grad():
        free = mha(query_key, query_key, tokens, need_weights=False)[0]
    assert (free - dense).abs().max() > 1e-2


def test_rejects_partial_person_blocks():
    mha = nn.MultiheadAttention(16, 2, batch_first=True)
    x = torch.zeros(1, 40, 16)
    with pytest.raises(ValueError, match='person blocks'):
        person_self_attention(mha, x, x, WHOLE_BODY_LAYOUT)
