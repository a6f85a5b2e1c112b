"""Self-attention masks of the refinement stages (ARCHITECTURE.md §4.6), checked by hand."""
from __future__ import annotations

import torch

from aios_ros.model.decoder import self_attention_mask
from aios_ros.model.tokens import BODY_LAYOUT, WHOLE_BODY_LAYOUT


def _visible(mask, query):
    return set(torch.nonzero(~mask[query]).flatten().tolist())


def test_whole_body_mask_two_people():
    mask = self_attention_mask(WHOLE_BODY_LAYOUT, 2, torch.device('cpu'))
    assert mask.shape == (78, 78) and mask.dtype == torch.bool
    # body box of person 1 (token 39): other person's 4 box tokens + all of its own 39 tokens
    assert _visible(mask, 39) == {0, 18, 25, 32} | set(range(39, 78))
    # a face keypoint of person 0 (slot 35) sees only person 0
    assert _visible(mask, 35) == set(range(39))
    # the right-hand box of person 0 (slot 25) sees person 0 and person 1's box tokens
    assert _visible(mask, 25) == set(range(39)) | {39, 57, 64, 71}


def test_body_mask_box_slots():
    mask = self_attention_mask(BODY_LAYOUT, 3, torch.device('cpu'))
    boxes = {p * 21 + s for p in range(3) for s in (0, 18, 19, 20)}
    assert _visible(mask, 21 + 19) == set(range(21, 42)) | boxes
    assert _visible(mask, 42 + 5) == set(range(42, 63))
