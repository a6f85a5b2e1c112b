"""TCFM-lite token attention: residual identity, causality, padding, a numpy reference of the
formula, weight files (round trip and every bad case) and the Fuser's tcfm mode with its guard."""
import math

import numpy as np
import pytest
import torch

from aios_ros.config import ConfigError, build
from aios_ros.geometry.so3 import rotation_about
from aios_ros.temporal.config import FusionConfig
from aios_ros.temporal.fusion import Fuser
from aios_ros.temporal.tcfm import MAX_OFFSET_FRAMES, NOMINAL_RATE_HZ, TcfmLite, load_tcfm
from aios_ros.temporal.token_codec import LinearTokenCodec

DT = 1.0 / 30.0
APM = dict(sigma_s=1e6, hand_sigma_s=1e6, orient_sigma_s=1e6, tau=1e6, s_min=-1.0, blend=1.0)


def _module(seed: int = 0) -> TcfmLite:
    """A module with every parameter random (as if trained), so no term is trivially zero."""
    torch.manual_seed(seed)
    module = TcfmLite()
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.1)
        module.raw_weight.fill_(1.5)
        module.learned_weight.fill_(0.7)
    return module.eval()


def _tokens(n: int, k: int, seed: int = 0) -> np.ndarray:
    """Random LayerNorm-scale tokens, scaled so the raw similarities are O(1)."""
    return (np.random.default_rng(seed).normal(size=(n, k, 39, 256)) * 0.25).astype(np.float32)


def _reference(module: TcfmLite, tokens, dt, target, valid, causal) -> np.ndarray:
    """The formula of TEMPORAL_DESIGN.md 4.4 in numpy, one window and slot at a time."""
    p = {k: v.double().numpy() for k, v in module.state_dict().items()}
    out = np.zeros((len(tokens), 39, 256))
    for n, t in enumerate(target):
        idx = np.clip(np.rint(dt[n] * NOMINAL_RATE_HZ), -MAX_OFFSET_FRAMES, MAX_OFFSET_FRAMES)
        r = p['time_bias'][idx.astype(int) + MAX_OFFSET_FRAMES]
        keep = valid[n] & ((np.arange(len(dt[n])) <= t) if causal else True)
        for s in range(39):
            z = tokens[n, :, s].astype(np.float64)
            q, v = (z @ p[f'{m}.weight'].T + p[f'{m}.bias'] for m in ('query', 'value'))
            k = z @ p['key.weight'].T
            logits = (p['raw_weight'] * z @ z[t] / 16.0 + p['learned_weight'] * k @ q[t]
                      / math.sqrt(128) + r)
            y = np.where(keep, np.exp(logits - logits[keep].max()), 0.0)
            y /= y.sum()
            out[n, s] = z[t] + p['out.weight'] @ (y @ v) + p['out.bias']
    return out


def test_parameter_count():
    count = sum(p.numel() for p in TcfmLite().parameters())
    assert count == 4 * 256 * 128 + 2 * 128 + 256 + 2 + 2 * MAX_OFFSET_FRAMES + 1 == 131_603


@pytest.mark.parametrize('causal', [False, True])
def test_batched_windows_match_the_per_slot_reference(causal):
    """Three windows with different targets and stamps beyond the clamped time-bias range:
    batching over windows and slots mixes nothing (STAF's cat-and-view bug would)."""
    module = _module(1)
    tokens = _tokens(3, 5, seed=1)
    tokens[1, 3] = tokens[1, 2] * 1.2                       # a strongly similar neighbour
    target = np.array([2, 4, 0])
    dt = (np.arange(5)[None] - target[:, None]) * DT
    dt[0, 0], dt[2, 4] = -0.6, 0.5                          # clamped to -8 and +8 frames
    valid = np.ones((3, 5), bool)
    got = module.fuse(tokens, dt, target, valid, causal)
    np.testing.assert_allclose(got, _reference(module, tokens, dt, target, valid, causal),
                               atol=2e-5)


def test_zero_output_projection_is_the_identity():
    module = _module()
    with torch.no_grad():
        module.out.weight.zero_()
        module.out.bias.zero_()
    tokens = _tokens(2, 4)
    target = np.array([1, 3])
    got = module.fuse(tokens, (np.arange(4) - target[:, None]) * DT, target, np.ones((2, 4), bool),
                      False)
    assert np.array_equal(got, tokens[[0, 1], target])


def test_raw_similarity_concentrates_attention_on_the_most_similar_frame():
    """b = 0, r = 0, a large: all weight on the entry with the largest <z_t, z_j> (here 2 z_t)."""
    module = _module()
    with torch.no_grad():
        module.raw_weight.fill_(50.0)
        module.learned_weight.zero_()
        module.time_bias.zero_()
    tokens = _tokens(1, 4)
    tokens[0, 3] = 2.0 * tokens[0, 1]
    got = module.fuse(tokens, (np.arange(4) - 1)[None] * DT, np.array([1]), np.ones((1, 4), bool),
                      False)
    p = {k: v.numpy() for k, v in module.state_dict().items()}
    value = tokens[0, 3] @ p['value.weight'].T + p['value.bias']
    expected = tokens[0, 1] + value @ p['out.weight'].T + p['out.bias']
    np.testing.assert_allclose(got[0], expected, atol=1e-5)


def test_causal_mask_hides_the_entries_after_the_target():
    module = _module()
    tokens = _tokens(1, 5)
    changed = tokens.copy()
    changed[0, 3:] = _tokens(1, 2, seed=7)[0]
    dt = (np.arange(5) - 2)[None] * DT
    args = (dt, np.array([2]), np.ones((1, 5), bool))
    assert np.array_equal(module.fuse(tokens, *args, True), module.fuse(changed, *args, True))
    change = module.fuse(tokens, *args, False) - module.fuse(changed, *args, False)
    assert np.abs(change).max() > 1e-3


def test_padded_entries_have_no_effect():
    module = _module()
    tokens = _tokens(1, 3)
    dt = (np.arange(3) - 1)[None] * DT
    plain = module.fuse(tokens, dt, np.array([1]), np.ones((1, 3), bool), False)
    padded = np.concatenate([tokens, 100.0 * _tokens(1, 2, seed=3)], axis=1)  # garbage padding
    pad_dt = np.concatenate([dt, np.zeros((1, 2))], axis=1)
    valid = np.array([[True, True, True, False, False]])
    got = module.fuse(padded, pad_dt, np.array([1]), valid, False)
    np.testing.assert_allclose(got, plain, atol=1e-6)


def test_save_and_load_round_trip(tmp_path):
    module = _module(2)
    path = tmp_path / 'tcfm.pt'
    torch.save(module.state_dict(), path)
    loaded = load_tcfm(path)
    tokens = _tokens(2, 3)
    args = (tokens, np.zeros((2, 3)), np.array([0, 2]), np.ones((2, 3), bool), False)
    assert np.array_equal(loaded.fuse(*args), module.fuse(*args))
    assert not loaded.training


def _bad_files(tmp_path):
    good = _module().state_dict()
    wrong_shape = dict(good, time_bias=torch.zeros(9))
    non_finite = dict(good, raw_weight=torch.tensor(float('nan')))
    cases = [
        ('not a torch state_dict file', b'plain text, not a zip archive'),
        ('not a torch state_dict file', TcfmLite()),  # a pickled module: refused by weights_only
        ('not a mapping', [1, 2, 3]),
        ("missing keys \\['value.bias'\\]", {k: v for k, v in good.items() if k != 'value.bias'}),
        ("unexpected keys \\['extra'\\]", dict(good, extra=torch.zeros(1))),
        (r'time_bias has shape \(9,\), expected \(17,\)', wrong_shape),
        ('raw_weight has non-finite values', non_finite),
        ('time_bias is not a floating-point tensor',
         dict(good, time_bias=torch.zeros(17, dtype=torch.long))),
    ]
    for i, (message, content) in enumerate(cases):
        path = tmp_path / f'bad{i}.pt'
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            torch.save(content, path)
        yield message, path


def test_every_bad_weights_file_gets_a_clear_error(tmp_path):
    for message, path in _bad_files(tmp_path):
        with pytest.raises(ValueError, match=message) as err:
            load_tcfm(path)
        assert str(path) in str(err.value) and 'training' in str(err.value)
    with pytest.raises(FileNotFoundError, match='no file .*missing.pt.*training'):
        load_tcfm(tmp_path / 'missing.pt')
    with pytest.raises(ConfigError, match='tcfm_weights.*training'):
        build(FusionConfig, {'mode': 'tcfm'})


def _entries(angles, tokens):
    """Buffer entries whose pose rows are rotations about z by ``angles`` (rad) for every joint."""
    k = len(angles)
    pose = np.broadcast_to(rotation_about([0, 0, 1.0], np.asarray(angles))[:, None], (k, 53, 3, 3))
    return {'score': np.ones(k, np.float32), 'pose': pose.astype(np.float32), 'tokens': tokens}


@pytest.fixture
def weights(tmp_path):
    path = tmp_path / 'tcfm.pt'
    module = _module(3)
    with torch.no_grad():
        module.out.weight.mul_(0.01)                        # a mild, trained-looking update
    torch.save(module.state_dict(), path)
    return str(path)


def test_fuser_tcfm_mode_re_regresses_the_fused_block(weights, windows_of):
    codec = LinearTokenCodec(0)
    angles = np.deg2rad([0.0, 4.0, 8.0])
    pose = rotation_about([0, 0, 1.0], angles)[:, None].repeat(53, 1)
    tokens = codec.encode(pose, np.zeros((3, 10)), np.zeros((3, 10)))
    windows = windows_of([_entries(angles, tokens), _entries(angles[:2], tokens[:2])], [1, 0])
    cfg = FusionConfig(mode='tcfm', tcfm_weights=weights, lag_frames=0, **APM)
    res = Fuser(cfg, codec.regress).fuse(windows, np.array([DT, 0.0]))
    params = Fuser(FusionConfig(**APM)).fuse(windows, np.array([DT, 0.0]))
    fused = load_tcfm(weights).fuse(np.stack([tokens[:3], np.r_[tokens[:2], tokens[:1]]]),
                                    np.array([[-DT, 0.0, DT], [0.0, DT, 0.0]]), np.array([1, 0]),
                                    np.array([[True] * 3, [True, True, False]]), True)
    expected = codec.regress(fused)
    assert res.pose.shape == (2, 53, 3, 3) and res.expression.shape == (2, 10)
    assert not res.fallback.any()
    np.testing.assert_allclose(res.pose[:, 1:], expected['pose'][:, 1:], atol=1e-5)
    np.testing.assert_allclose(res.pose[:, 0], params.pose[:, 0], atol=1e-6)  # orientation: params
    np.testing.assert_allclose(res.expression, expected['expression'], atol=1e-5)


def test_fuser_tcfm_guard_falls_back_to_parameter_fusion(weights, windows_of):
    codec = LinearTokenCodec(0)
    angles = np.deg2rad([0.0, 5.0, 10.0])
    flipped = np.broadcast_to(rotation_about([1.0, 0, 0], np.pi / 2), (3, 53, 3, 3))
    tokens = codec.encode(flipped, np.zeros((3, 10)), np.zeros((3, 10)))  # heads say: 90 deg off
    cfg = FusionConfig(mode='tcfm', tcfm_weights=weights, **APM)
    res = Fuser(cfg, codec.regress).fuse(windows_of([_entries(angles, tokens)], [1]), np.array([DT]))
    params = Fuser(FusionConfig(**APM)).fuse(windows_of([_entries(angles, tokens)], [1]), np.array([DT]))
    assert res.fallback[0]
    np.testing.assert_allclose(res.pose, params.pose, atol=1e-6)


def test_fuser_tcfm_mode_needs_a_regressor(weights):
    with pytest.raises(ValueError, match='"tcfm" needs an estimator with regress'):
        Fuser(FusionConfig(mode='tcfm', tcfm_weights=weights))
