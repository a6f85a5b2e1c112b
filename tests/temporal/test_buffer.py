"""Identity ring buffers: windows in seconds, dropped frames, bounded memory, padding."""

import numpy as np
import pytest

from aios_ros.temporal.buffer import IdentityBuffers

DT = 1.0 / 30.0


def _entries(values, tokens=True):
    """One entry per value k (identity rows in the order given): fields filled with k."""
    k = np.asarray(values, np.float32)
    n = len(k)
    e = {
        'score': np.full(n, 0.9, np.float32),
        'boxes': np.broadcast_to(k[:, None, None], (n, 4, 4)),
        'pose': np.broadcast_to(np.eye(3, dtype=np.float32), (n, 53, 3, 3)),
        'betas': np.broadcast_to(k[:, None], (n, 10)),
        'expression': np.zeros((n, 10), np.float32),
        'transl': np.stack([k, np.zeros(n), np.full(n, 5.0)], 1),
    }
    e['tokens'] = (
        np.broadcast_to(k[:, None, None], (n, 39, 256)).astype(np.float16) if tokens else None
    )
    return e


def test_window_in_seconds_with_dropped_frames():
    buf = IdentityBuffers(capacity=16, horizon_s=1.0)
    kept = [0, 1, 2, 5, 6, 9]  # frames 3, 4, 7, 8 dropped
    for k in kept:
        buf.push(np.array([7]), k * DT, _entries([k]))
    w = buf.windows(np.array([7]), 2 * DT - 1e-9, 7 * DT + 1e-9)
    np.testing.assert_allclose(w.stamps[0], np.array([2, 5, 6]) * DT)
    np.testing.assert_array_equal(w.data['betas'][0, :, 0], [2, 5, 6])
    assert w.data['tokens'].shape == (1, 3, 39, 256) and w.data['tokens'].dtype == np.float16
    assert w.data['pose'].shape == (1, 3, 53, 3, 3) and w.valid.tolist() == [[1.0, 1.0, 1.0]]


def test_capacity_and_horizon_bound_memory():
    buf = IdentityBuffers(capacity=4, horizon_s=0.2)
    for k in range(10):
        buf.push(np.array([1]), k * DT, _entries([k]))
    w = buf.windows(np.array([1]), -np.inf, np.inf)  # wraps around the ring
    np.testing.assert_allclose(w.stamps[0], np.arange(6, 10) * DT)  # capacity 4
    np.testing.assert_array_equal(w.data['betas'][0, :, 0], [6, 7, 8, 9])
    w = buf.windows(np.array([1]), 7.5 * DT, np.inf)
    np.testing.assert_array_equal(w.data['betas'][0, :, 0], [8, 9])
    buf.push(np.array([1]), 20 * DT, _entries([20]))  # horizon: older than 0.2 s gone
    np.testing.assert_allclose(buf.windows(np.array([1]), -np.inf, np.inf).stamps, [[20 * DT]])


def test_identities_are_padded_to_the_longest_window_and_rows_are_reused():
    buf = IdentityBuffers(capacity=8, horizon_s=1.0)
    for k in range(3):
        buf.push(
            np.array([3, 4]) if k else np.array([3]),
            k * DT,
            _entries([10 + k, 20 + k][: 2 if k else 1]),
        )
    w = buf.windows(np.array([4, 3, 99]), -np.inf, np.inf)  # 99: unknown, empty window
    np.testing.assert_array_equal(w.valid, [[1, 1, 0], [1, 1, 1], [0, 0, 0]])
    np.testing.assert_array_equal(w.data['betas'][0, :2, 0], [21, 22])
    np.testing.assert_array_equal(w.data['betas'][1, :, 0], [10, 11, 12])
    np.testing.assert_allclose(w.stamps[0], [DT, 2 * DT, 0.0])
    buf.forget(3)
    buf.push(np.array([5]), 3 * DT, _entries([50]))  # takes the freed row, nothing old
    np.testing.assert_array_equal(
        buf.windows(np.array([5]), -np.inf, np.inf).data['betas'][:, :, 0], [[50]]
    )
    assert 3 not in buf and 5 in buf


def test_many_identities_grow_the_rows():
    buf = IdentityBuffers(capacity=4, horizon_s=1.0)
    ids = np.arange(40)
    for k in range(2):
        buf.push(ids, k * DT, _entries(ids + 100 * k, tokens=False))
    w = buf.windows(ids, -np.inf, np.inf)
    np.testing.assert_array_equal(w.data['betas'][:, :, 0], np.stack([ids, ids + 100], 1))


def test_tokens_only_when_every_entry_has_them():
    buf = IdentityBuffers(capacity=8, horizon_s=1.0)
    buf.push(np.array([1]), 0.0, _entries([0], tokens=False))
    buf.push(np.array([1]), DT, _entries([1]))
    assert 'tokens' not in buf.windows(np.array([1]), -1, 1).data
    assert 'tokens' in buf.windows(np.array([1]), DT / 2, 1).data


def test_stamps_must_increase_per_identity():
    buf = IdentityBuffers(capacity=8, horizon_s=1.0)
    buf.push(np.array([1]), 1.0, _entries([0]))
    buf.push(np.array([2]), 0.5, _entries([0]))  # another identity: fine
    with pytest.raises(ValueError, match='increase'):
        buf.push(np.array([1]), 1.0, _entries([1]))
