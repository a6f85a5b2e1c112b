"""Ring buffer: windows in seconds, dropped frames, bounded memory."""
import numpy as np
import pytest

from aios_ros.temporal.buffer import RingBuffer

DT = 1.0 / 30.0


def _entry(k, tokens=True):
    e = {'score': np.float32(0.9), 'boxes': np.full((4, 4), k, np.float32),
         'pose': np.broadcast_to(np.eye(3, dtype=np.float32), (53, 3, 3)),
         'betas': np.full(10, k, np.float32), 'expression': np.zeros(10, np.float32),
         'transl': np.array([k, 0, 5], np.float32)}
    if tokens:
        e['tokens'] = np.full((39, 256), k, np.float16)
    return e


def test_window_in_seconds_with_dropped_frames():
    buf = RingBuffer(capacity=16, horizon_s=1.0)
    kept = [0, 1, 2, 5, 6, 9]                  # frames 3, 4, 7, 8 dropped
    for k in kept:
        buf.push(k * DT, _entry(k))
    stamps, data = buf.window(2 * DT - 1e-9, 7 * DT + 1e-9)
    np.testing.assert_allclose(stamps, np.array([2, 5, 6]) * DT)
    np.testing.assert_array_equal(data['betas'][:, 0], [2, 5, 6])
    assert data['tokens'].shape == (3, 39, 256) and data['tokens'].dtype == np.float16
    assert data['pose'].shape == (3, 53, 3, 3)


def test_capacity_and_horizon_bound_memory():
    buf = RingBuffer(capacity=4, horizon_s=0.2)
    for k in range(10):
        buf.push(k * DT, _entry(k))
    stamps, data = buf.window(-np.inf, np.inf)                  # wraps around the ring
    np.testing.assert_allclose(stamps, np.arange(6, 10) * DT)   # capacity 4
    np.testing.assert_array_equal(data['betas'][:, 0], [6, 7, 8, 9])
    stamps, data = buf.window(7.5 * DT, np.inf)
    np.testing.assert_array_equal(data['betas'][:, 0], [8, 9])
    buf.push(20 * DT, _entry(20))                                # horizon: older than 0.2 s gone
    stamps, _ = buf.window(-np.inf, np.inf)
    np.testing.assert_allclose(stamps, [20 * DT])


def test_tokens_only_when_every_entry_has_them():
    buf = RingBuffer(capacity=8, horizon_s=1.0)
    buf.push(0.0, _entry(0, tokens=False))
    buf.push(DT, _entry(1))
    assert 'tokens' not in buf.window(-1, 1)[1]
    assert 'tokens' in buf.window(DT / 2, 1)[1]


def test_stamps_must_increase():
    buf = RingBuffer(capacity=8, horizon_s=1.0)
    buf.push(1.0, _entry(0))
    with pytest.raises(ValueError, match='increase'):
        buf.push(1.0, _entry(1))
