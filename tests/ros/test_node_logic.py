"""The node's ROS-free logic: frame hand-over, intrinsics choice, health counters and levels."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus

from aios_ros.app.intrinsics import CAMERA_INFO_REJECTIONS, IntrinsicsSelector
from aios_ros.core.types import IntrinsicsSource
from aios_ros.model.camera import default_K
from aios_ros.node import diagnostics
from aios_ros.node.diagnostics import NodeStats, diagnostic_status
from aios_ros.node.frame_queue import FrameQueue


def test_latest_policy_keeps_only_the_newest_frame():
    q = FrameQueue('latest', capacity=30)
    assert [q.put(i) for i in range(4)] == [False, True, True, True]
    assert q.take(0.0) == [(0, 3)] and q.take(0.0) == []


def test_every_frame_policy_is_a_bounded_fifo():
    q = FrameQueue('every_frame', capacity=3)
    assert [q.put(i) for i in range(5)] == [False, False, False, True, True]
    assert [q.take(0.0) for _ in range(4)] == [[(0, 2)], [(0, 3)], [(0, 4)], []]


def test_a_round_takes_the_next_frame_of_every_camera_that_has_one():
    q = FrameQueue('every_frame', capacity=3, lanes=3)
    q.put('a0', 0), q.put('a1', 0), q.put('c0', 2)
    assert q.take(0.0) == [(0, 'a0'), (2, 'c0')]  # the silent camera 1 holds nothing back
    assert q.take(0.0) == [(0, 'a1')]
    live = FrameQueue('latest', capacity=3, lanes=2)
    assert [live.put(i, 1) for i in range(3)] == [False, True, True]
    assert live.take(0.0) == [(1, 2)]


def test_close_wakes_a_waiting_worker():
    q = FrameQueue('latest', capacity=1, lanes=2)
    got = []
    worker = threading.Thread(target=lambda: got.append(q.take(10.0)))
    worker.start()
    q.close()
    worker.join(2.0)
    assert not worker.is_alive() and got == [[]]
    q.put(1)
    assert q.take(0.0) == []


def test_intrinsics_priority_camera_info_then_parameter_then_model():
    def default(w, h):
        return default_K(w, h, 800, 1333)

    sel = IntrinsicsSelector([0.0] * 9, default)
    cam = sel.camera_for(640, 480)
    assert cam.source == IntrinsicsSource.MODEL_DEFAULT
    # Network input 1066 x 800 (short side 800): 5000 px there = 5000 * 640 / 1066 px here.
    np.testing.assert_allclose(cam.K, [[5000 * 640 / 1066, 0, 320], [0, 3000, 240], [0, 0, 1]])
    assert 'model default' in sel.fallback_reason('/cam/camera_info')
    sel = IntrinsicsSelector([500.0, 0, 320, 0, 500, 240, 0, 0, 1], default)
    assert sel.camera_for(640, 480).source == IntrinsicsSource.PARAMETER
    assert sel.update_camera_info([0.0] * 9, 640, 480) == 'uncalibrated'  # ignored
    assert 'uncalibrated' in sel.fallback_reason('/cam/camera_info')
    assert sel.update_camera_info([600.0, 0, 320, 0, 600, 240, 0, 0, 1], 640, 480) is None
    cam = sel.camera_for(320, 240)  # half-size image: K scaled
    assert cam.source == IntrinsicsSource.CAMERA_INFO
    np.testing.assert_allclose(cam.K, [[300, 0, 160], [0, 300, 120], [0, 0, 1]])


def test_model_default_K_respects_the_long_side_limit():
    K = default_K(4000, 1000, 800, 1333)  # long side limits: input 1332 x 333
    assert K[0, 0] == pytest.approx(5000 * 4000 / 1332) and K[0, 2] == 2000
    assert K[1, 1] == pytest.approx(5000 * 1000 / 333)


def status_values(status) -> dict:
    return {kv.key: kv.value for kv in status.values}


def test_stats_counters_and_levels():
    stats = NodeStats()
    for _ in range(4):
        stats.received()
    stats.dropped('superseded')
    for cuts, latency in enumerate((0.010, 0.020, 0.030)):
        stats.processed(latency, 2, IntrinsicsSource.CAMERA_INFO, cuts)
    snap = stats.snapshot()
    assert (snap.received, snap.processed, snap.dropped) == (4, 3, {'superseded': 1})
    assert snap.latency_p50_ms == pytest.approx(20.0) and 29.0 < snap.latency_p99_ms <= 30.0
    status = diagnostic_status(snap, 'n: pipeline', '/n', 0)
    assert status.level == DiagnosticStatus.OK
    values = status_values(status)
    assert values['dropped.superseded'] == '1' and values['people'] == '2'
    assert values['intrinsics_source'] == 'camera_info'
    assert values['suspected_identity_switches'] == '2'  # the pipeline's latest count
    stats.bad_input('corrupt_compressed')
    status = diagnostic_status(stats.snapshot(), 'n: pipeline', '/n', 0)
    assert (
        status.level == DiagnosticStatus.WARN
        and status_values(status)['bad_input.corrupt_compressed'] == '1'
    )
    # The WARN is about new bad input only: the next period is OK again.
    assert diagnostic_status(stats.snapshot(), 'n', '/n', 0).level == DiagnosticStatus.OK


def test_fallback_intrinsics_warn_and_a_stall_is_an_error():
    stats = NodeStats()
    stats.processed(0.01, 0, IntrinsicsSource.MODEL_DEFAULT, 0)
    assert diagnostic_status(stats.snapshot(), 'n', '/n', 0).level == DiagnosticStatus.WARN
    snap = stats.snapshot()
    snap.input_rate_hz, snap.seconds_since_processed = 30.0, 6.0
    status = diagnostic_status(snap, 'n', '/n', 0)
    assert status.level == DiagnosticStatus.ERROR and 'no frame processed' in status.message


def test_a_stall_counts_from_the_first_waiting_frame_not_from_start_up(monkeypatch):
    clock = {'now': 100.0}
    monkeypatch.setattr(diagnostics.time, 'monotonic', lambda: clock['now'])
    stats = NodeStats()
    clock['now'] = 160.0  # input begins a minute after the node started
    stats.received()
    clock['now'] = 161.0
    assert diagnostic_status(stats.snapshot(), 'n', '/n', 0).level != DiagnosticStatus.ERROR
    stats.processed(0.5, 1, IntrinsicsSource.CAMERA_INFO, 0)
    stats.received()
    clock['now'] = 161.0 + diagnostics.STALL_ERROR_S + 1  # that frame never gets processed
    status = diagnostic_status(stats.snapshot(), 'n', '/n', 0)
    assert (
        status.level == DiagnosticStatus.ERROR and 'no frame processed for 6.0 s' in status.message
    )


GOOD_K = [600.0, 0, 320, 0, 600, 240, 0, 0, 1]


@pytest.mark.parametrize(
    'k, size, reason',
    [
        ([np.nan] + GOOD_K[1:], (640, 480), 'non_finite'),
        (GOOD_K[:4] + [np.inf] + GOOD_K[5:], (640, 480), 'non_finite'),
        (GOOD_K[:2] + [np.nan] + GOOD_K[3:], (640, 480), 'non_finite'),
        ([0.0] * 9, (640, 480), 'uncalibrated'),
        ([-600.0] + GOOD_K[1:], (640, 480), 'non_positive_focal'),
        (GOOD_K[:4] + [0.0] + GOOD_K[5:], (640, 480), 'non_positive_focal'),
        (GOOD_K[:8] + [0.0], (640, 480), 'malformed'),
        (GOOD_K[:6] + [1.0] + GOOD_K[7:], (640, 480), 'malformed'),
        (GOOD_K, (0, 480), 'no_size'),
        (GOOD_K, (640, 0), 'no_size'),
    ],
)
def test_unusable_camera_info_is_rejected_with_its_reason(k, size, reason):
    sel = IntrinsicsSelector([0.0] * 9, lambda w, h: default_K(w, h, 800, 1333))
    assert sel.update_camera_info(k, *size) == reason
    cam = sel.camera_for(640, 480)
    assert cam.source == IntrinsicsSource.MODEL_DEFAULT and np.isfinite(cam.K).all()
    assert CAMERA_INFO_REJECTIONS[reason] in sel.fallback_reason('/cam/camera_info')
