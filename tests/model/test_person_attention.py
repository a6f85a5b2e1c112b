"""Block-sparse refinement-stage self-attention equals dense masked nn.MultiheadAttention."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from aios_ros.model.decoder import self_attention_mask
from aios_ros.model.person_attention import person_self_attention
from aios_ros.model.tokens import BODY_LAYOUT, WHOLE_BODY_LAYOUT


@pytest.mark.parametrize('layout', [BODY_LAYOUT, WHOLE_BODY_LAYOUT], ids=['T21', 'T39'])
def test_matches_dense_masked_attention(layout):
    torch.manual_seed(0)
    groups, batch = 6, 2
    mha = nn.MultiheadAttention(64, 8, batch_first=True).eval()
    nn.init.normal_(mha.in_proj_bias, std=0.5)
    tokens = torch.randn(batch, groups * layout.size, 64)
    query_key = tokens + torch.randn_like(tokens)
    mask = self_attention_mask(layout, groups, tokens.device)
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
