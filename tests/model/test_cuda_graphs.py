"""Bucketed graph runner: bucketing, static-buffer padding, copy-out, re-capture, fallback."""

from __future__ import annotations

import copy
import logging

import pytest
import torch
from torch import nn

from aios_ros.model.cuda_graphs import BucketPolicy, EagerCapture, GraphRunner


class MaskedNet(nn.Module):
    """Small mask-aware network: conv features averaged over the valid pixels + a linear head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, 4)

    def forward(self, images: torch.Tensor, mask: torch.Tensor) -> dict:
        valid = (~mask)[:, None].to(images.dtype)
        feat = torch.relu(self.conv(images)) * valid
        pooled = feat.sum((2, 3)) / valid.sum((2, 3))
        return {'logits': self.head(pooled), 'parts': (pooled, feat.amax((2, 3)))}


def _padded_reference(net, images, policy):
    b, c, h, w = images.shape
    hb, wb = policy.bucket(h, w)
    padded = torch.zeros(b, c, hb, wb)
    padded[..., :h, :w] = images
    mask = torch.ones(b, hb, wb, dtype=torch.bool)
    mask[:, :h, :w] = False
    with torch.no_grad():
        return net(padded, mask)


class CountingCapture(EagerCapture):
    def __init__(self) -> None:
        self.captures = 0
        self.replays = 0

    def capture(self, step):
        self.captures += 1
        replay, outputs = super().capture(step)

        def counted():
            self.replays += 1
            replay()

        return counted, outputs


class FailingCapture:
    """Fails as torch.cuda.graph does: capture_end's error, the breaking op as its context."""

    def __init__(self) -> None:
        self.attempts = 0

    def capture(self, step):
        self.attempts += 1
        try:
            raise RuntimeError('operation not permitted when stream is capturing')
        except RuntimeError:
            raise RuntimeError('operation failed due to a previous error during capture')


def test_bucket_policy_rounds_up_to_the_multiple():
    assert BucketPolicy(multiple=32).bucket(800, 1333) == (800, 1344)
    assert BucketPolicy(multiple=32).bucket(33, 1) == (64, 32)
    assert BucketPolicy(multiple=64).bucket(900, 100) == (960, 128)
    with pytest.raises(ValueError, match='positive'):
        BucketPolicy(multiple=64).bucket(0, 10)


def test_runner_matches_padded_eager_forward_and_reuses_the_bucket():
    net, policy, strategy = MaskedNet().eval(), BucketPolicy(multiple=16), CountingCapture()
    runner = GraphRunner(net, 'cpu', policy, strategy)
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(2, 3, 20, 27, generator=g), torch.randn(2, 3, 18, 30, generator=g)
    out_a = runner(a)
    out_b = runner(b)  # same 32x32 bucket: no new capture
    assert runner.buckets == [(2, 3, 32, 32, torch.float32)]
    assert (strategy.captures, strategy.replays) == (1, 2)
    for out, images in ((out_a, a), (out_b, b)):
        ref = _padded_reference(net, images, policy)
        torch.testing.assert_close(out['logits'], ref['logits'])
        torch.testing.assert_close(out['parts'][1], ref['parts'][1])
    # Returned tensors are copies: the second replay did not overwrite the first result.
    assert not torch.allclose(out_a['logits'], out_b['logits'])
    assert isinstance(out_a['parts'], tuple)


def test_caller_mask_is_kept_inside_the_bucket():
    net, policy = MaskedNet().eval(), BucketPolicy(multiple=16)
    runner = GraphRunner(net, 'cpu', policy, EagerCapture())
    images = torch.randn(1, 3, 16, 16)
    images[..., 10:] = 0  # the caller's own zero-padded batch ...
    mask = torch.zeros(1, 16, 16, dtype=torch.bool)
    mask[:, :, 10:] = True  # ... and its padding mask
    out = runner(images, mask)
    torch.testing.assert_close(
        out['logits'], _padded_reference(net, images[..., :10], policy)['logits']
    )


def test_new_bucket_recaptures_and_least_recently_used_is_dropped():
    strategy = CountingCapture()
    runner = GraphRunner(
        MaskedNet().eval(), 'cpu', BucketPolicy(multiple=8), strategy, max_buckets=2
    )
    for h in (8, 16, 8, 24, 8):
        runner(torch.randn(1, 3, h, 8))
    # 8 (capture), 16 (capture), 8 (replay), 24 (capture, drops 16), 8 (replay)
    assert strategy.captures == 3
    assert [k[2] for k in runner.buckets] == [24, 8]


def test_capture_failure_falls_back_to_eager_with_one_warning(caplog):
    net, policy, strategy = MaskedNet().eval(), BucketPolicy(multiple=16), FailingCapture()
    runner = GraphRunner(net, 'cpu', policy, strategy)
    images = torch.randn(1, 3, 20, 20)
    with caplog.at_level(logging.WARNING, logger='aios_ros.model.cuda_graphs'):
        outs = [runner(images), runner(images), runner(torch.randn(1, 3, 40, 40))]
    (warning,) = [r for r in caplog.records if 'capture failed' in r.message]
    # the root cause with its traceback, not capture_end's secondary error
    assert 'not permitted when stream is capturing' in warning.getMessage()
    assert warning.exc_info is not None and 'previous error' not in str(warning.exc_info[1])
    assert 'not permitted' in str(runner.capture_error)
    assert strategy.attempts == 1  # the failure is remembered: no new attempt for a new bucket
    assert runner.replays == 0 and len(runner.buckets) == 2
    torch.testing.assert_close(outs[0]['logits'], _padded_reference(net, images, policy)['logits'])
    torch.testing.assert_close(outs[1]['logits'], outs[0]['logits'])


def test_autocast_dtype_is_applied():
    runner = GraphRunner(
        MaskedNet().eval(), 'cpu', BucketPolicy(), EagerCapture(), autocast_dtype=torch.bfloat16
    )
    assert runner(torch.randn(1, 3, 8, 8))['logits'].dtype == torch.bfloat16


def test_rejects_bad_inputs():
    runner = GraphRunner(MaskedNet().eval(), 'cpu')
    with pytest.raises(ValueError, match='B, C, H, W'):
        runner(torch.randn(3, 8, 8))
    with pytest.raises(ValueError, match='mask must be bool'):
        runner(torch.randn(1, 3, 8, 8), torch.zeros(1, 8, 8))


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason='real CUDA-graph capture needs a CUDA device'
)
def test_cuda_graph_replay_matches_eager_and_eviction_frees_the_pool(caplog):
    net = MaskedNet().cuda().eval()
    reference = copy.deepcopy(net).cpu()  # the captured net's memory is never moved
    runner = GraphRunner(net, 'cuda', BucketPolicy(multiple=16), max_buckets=1)
    g = torch.Generator().manual_seed(2)
    with caplog.at_level(logging.WARNING, logger='aios_ros.model.cuda_graphs'):
        for h, w in ((20, 27), (18, 30)):  # one bucket: capture, then replays
            images = torch.randn(1, 3, h, w, generator=g)
            out = runner(images.cuda())
            ref = _padded_reference(reference, images, runner.policy)
            torch.testing.assert_close(out['logits'].cpu(), ref['logits'], rtol=1e-5, atol=1e-5)
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        runner(torch.randn(1, 3, 40, 12, device='cuda'))  # new bucket: re-capture ...
        runner(torch.randn(1, 3, 20, 27, device='cuda'))  # ... and back: the 48x16 one is dropped
        del out
        torch.cuda.synchronize()
    assert runner.capture_error is None and not caplog.records
    assert runner.replays == 4 and runner.buckets == [(1, 3, 32, 32, torch.float32)]
    # same live buckets as at `before` (plus `out`, released): the evicted pool is returned
    assert torch.cuda.memory_allocated() <= before


def test_runner_serves_the_real_model(seeded_model):
    # The real output tree (dict of tensors) goes through capture, replay and copy-out.
    policy = BucketPolicy(multiple=32)
    strategy = CountingCapture()
    runner = GraphRunner(lambda img, mask: seeded_model(img, mask)[0], 'cpu', policy, strategy)
    images = torch.randn(1, 3, 200, 300, generator=torch.Generator().manual_seed(3))
    out = runner(images)
    assert runner.buckets == [(1, 3, 224, 320, torch.float32)]
    ref = _padded_reference(lambda img, mask: seeded_model(img, mask)[0], images, policy)
    assert out.keys() == ref.keys()
    for key in ('pred_logits', 'pred_boxes', 'rotmat', 'tokens'):
        torch.testing.assert_close(out[key], ref[key], rtol=0, atol=0)
