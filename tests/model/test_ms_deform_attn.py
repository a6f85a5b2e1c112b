"""Multi-scale deformable attention: official fixtures, fast core vs reference core, edge cases."""

from __future__ import annotations

import pytest
import torch

from aios_ros.model.ms_deform_attn import MSDeformAttn, msda_core_fast, msda_core_reference

CORES = [msda_core_reference, msda_core_fast]
TOL = 5e-6  # fixtures/README.md: independent re-implementations match to <= 5e-6 abs


def _load(reference_dir, name):
    return torch.load(reference_dir / 'aios' / 'fixtures' / name, weights_only=False)


def _random_core_inputs(
    seed,
    batch=1,
    heads=8,
    channels=32,
    shapes=((10, 17), (5, 9), (3, 5), (2, 3)),
    queries=40,
    points=4,
    spread=0.3,
):
    g = torch.Generator().manual_seed(seed)
    spatial = torch.tensor(shapes, dtype=torch.int64)
    s = int((spatial[:, 0] * spatial[:, 1]).sum())
    value = torch.randn(batch, s, heads, channels, generator=g)
    loc = (
        torch.rand(batch, queries, heads, len(shapes), points, 2, generator=g) * (1 + 2 * spread)
        - spread
    )
    attn = torch.rand(batch, queries, heads, len(shapes) * points, generator=g).softmax(-1)
    return value, spatial, loc, attn.view(batch, queries, heads, len(shapes), points)


@pytest.mark.parametrize('core', CORES, ids=lambda f: f.__name__)
@pytest.mark.parametrize('name', ['msda_core.pt', 'msda_core_tiny.pt'])
def test_core_matches_official_fixture(reference_dir, core, name):
    d = _load(reference_dir, name)
    out = core(
        d['value'], d['value_spatial_shapes'], d['sampling_locations'], d['attention_weights']
    )
    assert out.shape == d['output'].shape
    torch.testing.assert_close(out, d['output'], rtol=0, atol=TOL)


@pytest.mark.parametrize('core', CORES, ids=lambda f: f.__name__)
@pytest.mark.parametrize('ref_kind', ['2d', '4d'])
def test_module_matches_official_fixture(reference_dir, core, ref_kind):
    d = _load(reference_dir, 'msda_module.pt')
    module = MSDeformAttn(d_model=256, n_levels=4, n_heads=8, n_points=4)
    module.load_state_dict(d['state_dict'], strict=True)
    module.core = core
    assert d['input_padding_mask'].any(), 'fixture is expected to exercise the padding mask'
    with torch.no_grad():
        out = module(
            d['query'],
            d[f'reference_points_{ref_kind}'],
            d['input_flatten'],
            d['input_spatial_shapes'],
            d['input_level_start_index'],
            d['input_padding_mask'],
        )
    torch.testing.assert_close(out, d[f'output_{ref_kind}'], rtol=0, atol=TOL)


def test_hand_computed_bilinear_and_outside_taps():
    # One level 2x3, one head, one channel: value(i, j) = 10*i + j.
    value = torch.tensor([0.0, 1.0, 2.0, 10.0, 11.0, 12.0]).view(1, 6, 1, 1)
    shapes = torch.tensor([[2, 3]])
    # Pixel centres: x_pix = x*3 - 0.5, y_pix = y*2 - 0.5.
    pix = torch.tensor(
        [
            [0.0, 0.0],  # exact pixel (0,0) -> 0
            [1.5, 0.5],  # between 4 pixels -> mean(1,2,11,12) = 6.5
            [2.5, 1.0],  # half outside on the right: 0.5*12 = 6
            [-1.0, 0.0],  # fully outside -> 0
            [0.25, 1.0],
        ]
    )  # 0.75*10 + 0.25*11 = 10.25
    loc = torch.stack(((pix[:, 0] + 0.5) / 3, (pix[:, 1] + 0.5) / 2), -1).view(1, 5, 1, 1, 1, 2)
    attn = torch.ones(1, 5, 1, 1, 1)
    expected = torch.tensor([0.0, 6.5, 6.0, 0.0, 10.25]).view(1, 5, 1)
    for core in CORES:
        torch.testing.assert_close(core(value, shapes, loc, attn), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize('seed,batch,spread', [(0, 1, 0.3), (1, 2, 0.3), (2, 2, 3.0)])
def test_fast_core_matches_reference_core(seed, batch, spread):
    # spread 3.0 puts most samples far outside the maps (clamping/padding path).
    value, shapes, loc, attn = _random_core_inputs(seed, batch=batch, spread=spread)
    ref = msda_core_reference(value, shapes, loc, attn)
    torch.testing.assert_close(msda_core_fast(value, shapes, loc, attn), ref, rtol=0, atol=TOL)


def test_fast_core_gradients_match_reference():
    value, shapes, loc, attn = _random_core_inputs(3, heads=2, queries=7)
    grads = []
    for core in CORES:
        v, a = value.clone().requires_grad_(), attn.clone().requires_grad_()
        core(v, shapes, loc, a).square().sum().backward()
        grads.append((v.grad, a.grad))
    torch.testing.assert_close(grads[1][0], grads[0][0], rtol=0, atol=1e-5)
    torch.testing.assert_close(grads[1][1], grads[0][1], rtol=0, atol=1e-4)


def test_padded_tokens_do_not_contribute():
    torch.manual_seed(4)
    module = MSDeformAttn(d_model=32, n_levels=2, n_heads=2, n_points=3).eval()
    torch.nn.init.normal_(module.attention_weights.weight, std=0.3)
    shapes = torch.tensor([[4, 6], [2, 3]])
    start = torch.tensor([0, 24])
    x = torch.randn(2, 30, 32)
    mask = torch.zeros(2, 30, dtype=torch.bool)
    mask[1, 3:24:6] = True
    mask[1, 27:] = True
    query, ref = torch.randn(2, 9, 32), torch.rand(2, 9, 2, 2)
    garbage = x.clone()
    garbage[mask] = 1e3
    with torch.no_grad():
        outs = [module(query, ref, inp, shapes, start, mask) for inp in (x, garbage)]
        module.core = msda_core_reference
        ref_out = module(query, ref, x, shapes, start, mask)
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=1e-5)
    torch.testing.assert_close(outs[0], ref_out, rtol=0, atol=1e-5)
    with torch.no_grad():
        unmasked = module(query, ref, x, shapes, start, None)
    assert not torch.allclose(unmasked[1], ref_out[1], atol=1e-3)  # the mask really changed row 1
    torch.testing.assert_close(unmasked[0], ref_out[0], rtol=0, atol=1e-5)


def test_box_reference_scales_offsets_by_half_box_over_points():
    module = MSDeformAttn(d_model=16, n_levels=1, n_heads=1, n_points=2)
    with torch.no_grad():
        module.sampling_offsets.bias.copy_(torch.tensor([4.0, 0.0, 0.0, -2.0]))
    seen = {}

    def spy(value, shapes, loc, attn):
        seen['loc'] = loc
        return msda_core_reference(value, shapes, loc, attn)

    module.core = spy
    box = torch.tensor([0.5, 0.4, 0.2, 0.6]).view(1, 1, 1, 4)
    module(
        torch.zeros(1, 1, 16), box, torch.randn(1, 6, 16), torch.tensor([[2, 3]]), torch.tensor([0])
    )
    # loc = centre + off / n_points * wh * 0.5
    expected = torch.tensor([[0.5 + 4 / 2 * 0.2 * 0.5, 0.4], [0.5, 0.4 - 2 / 2 * 0.6 * 0.5]])
    torch.testing.assert_close(seen['loc'].view(2, 2), expected)


def test_rejects_inconsistent_inputs():
    value, shapes, loc, attn = _random_core_inputs(5)
    with pytest.raises(ValueError, match='do not cover'):
        msda_core_fast(value[:, 1:], shapes, loc, attn)
    module = MSDeformAttn(d_model=32, n_levels=4, n_heads=8, n_points=4)
    with pytest.raises(ValueError, match='2 or 4'):
        module(
            torch.zeros(1, 3, 32),
            torch.zeros(1, 3, 4, 3),
            torch.zeros(1, 185, 32),
            shapes,
            torch.zeros(4, dtype=torch.int64),
        )
