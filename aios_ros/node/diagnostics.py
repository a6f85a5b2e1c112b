"""Node health counters and their ``diagnostic_msgs/DiagnosticStatus`` form.

All durations are measured with ``time.monotonic()`` (wall-clock independent, unaffected by
``use_sim_time``): latency is from the image callback to the moment the body arrays are
published. Counters are cumulative since start; rates are over the last reporting period.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from aios_ros.core.types import IntrinsicsSource

LATENCY_WINDOW = 256  # latencies kept for the percentiles (bounded memory)
STALL_ERROR_S = 5.0  # input arrives but nothing processed for this long -> ERROR


@dataclass
class StatsSnapshot:
    """One report: rates in Hz, latencies in ms, counters since start."""

    input_rate_hz: float
    processed_rate_hz: float
    received: int
    processed: int
    dropped: dict[str, int]
    bad_input: dict[str, int]
    latency_p50_ms: float
    latency_p99_ms: float
    people: int
    intrinsics_source: Optional[IntrinsicsSource]
    seconds_since_processed: float
    resets: int = 0
    new_bad_input: int = 0
    switch_cuts: int = 0
    new_transport_lost: int = 0


class NodeStats:
    """Thread-safe counters written by the callback and the worker, read by the timer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received = self._processed = self._people = self._resets = self._switch_cuts = 0
        self._dropped: collections.Counter = collections.Counter()
        self._bad: collections.Counter = collections.Counter()
        self._latency_s: collections.deque = collections.deque(maxlen=LATENCY_WINDOW)
        self._intrinsics: Optional[IntrinsicsSource] = None
        now = time.monotonic()
        self._last_report = (now, 0, 0, 0, 0)  # time, received, processed, bad total, lost
        # when the oldest frame received since the last processed one arrived (None: none
        # waits); a stall is measured from there, not from start-up, so input that begins long
        # after the node does is no false alarm
        self._waiting_since: Optional[float] = None

    def received(self) -> None:
        with self._lock:
            self._received += 1
            if self._waiting_since is None:
                self._waiting_since = time.monotonic()

    def dropped(self, reason: str) -> None:
        """A frame skipped on purpose (superseded, stale, queue full)."""
        with self._lock:
            self._dropped[reason] += 1

    def lost_in_transport(self, count: int) -> None:
        """Frames the middleware reports lost on their way to the node (a best-effort
        subscription misses samples, e.g. large frames under a small transport profile)."""
        with self._lock:
            self._dropped['transport_lost'] += count

    def bad_input(self, reason: str) -> None:
        """A frame that could not be converted (reason = ``ImageConversionError.reason``)."""
        with self._lock:
            self._bad[reason] += 1

    def reset(self) -> None:
        """The pipeline state was reset (the input stamps jumped back in time)."""
        with self._lock:
            self._resets += 1

    def processed(
        self, latency_s: float, people: int, source: IntrinsicsSource, switch_cuts: int
    ) -> None:
        """One frame done; ``switch_cuts``: the pipeline's suspected identity switches so far."""
        with self._lock:
            self._processed += 1
            self._latency_s.append(latency_s)
            self._people, self._intrinsics = people, source
            self._switch_cuts = switch_cuts
            self._waiting_since = None

    def snapshot(self) -> StatsSnapshot:
        """Counters now, rates since the previous snapshot."""
        now = time.monotonic()
        with self._lock:
            t0, received0, processed0, bad0, lost0 = self._last_report
            bad_total, lost = sum(self._bad.values()), self._dropped['transport_lost']
            self._last_report = (now, self._received, self._processed, bad_total, lost)
            dt = max(now - t0, 1e-9)
            lat = np.asarray(self._latency_s, np.float64) * 1e3
            return StatsSnapshot(
                input_rate_hz=(self._received - received0) / dt,
                processed_rate_hz=(self._processed - processed0) / dt,
                received=self._received,
                processed=self._processed,
                dropped=dict(self._dropped),
                bad_input=dict(self._bad),
                latency_p50_ms=float(np.percentile(lat, 50)) if lat.size else float('nan'),
                latency_p99_ms=float(np.percentile(lat, 99)) if lat.size else float('nan'),
                people=self._people,
                intrinsics_source=self._intrinsics,
                seconds_since_processed=(
                    0.0 if self._waiting_since is None else now - self._waiting_since
                ),
                resets=self._resets,
                new_bad_input=bad_total - bad0,
                switch_cuts=self._switch_cuts,
                new_transport_lost=lost - lost0,
            )


def diagnostic_status(
    snap: StatsSnapshot, name: str, hardware_id: str, rounds: int
) -> DiagnosticStatus:
    """OK / WARN (bad input or frames lost in transport in this period, or intrinsics not from
    CameraInfo) / ERROR (frames arrive but none was processed for ``STALL_ERROR_S``).
    ``rounds``: the node's inference rounds so far (shared by its cameras): each is one batched
    estimate over every camera's frame, one forward per network input size among them."""
    level, message = DiagnosticStatus.OK, 'ok'
    if snap.new_transport_lost:
        level = DiagnosticStatus.WARN
        message = f'{snap.new_transport_lost} frame(s) lost in transport'
    elif snap.new_bad_input:
        level, message = DiagnosticStatus.WARN, f'{snap.new_bad_input} bad input frame(s)'
    elif snap.processed and snap.intrinsics_source not in (None, IntrinsicsSource.CAMERA_INFO):
        level, message = DiagnosticStatus.WARN, 'no CameraInfo: fallback intrinsics'
    if snap.input_rate_hz > 0 and snap.seconds_since_processed > STALL_ERROR_S:
        level = DiagnosticStatus.ERROR
        message = f'no frame processed for {snap.seconds_since_processed:.1f} s'
    values = {
        'input_rate_hz': f'{snap.input_rate_hz:.2f}',
        'processed_rate_hz': f'{snap.processed_rate_hz:.2f}',
        'frames_received': str(snap.received),
        'frames_processed': str(snap.processed),
        'latency_p50_ms': f'{snap.latency_p50_ms:.1f}',
        'latency_p99_ms': f'{snap.latency_p99_ms:.1f}',
        'people': str(snap.people),
        'intrinsics_source': (
            'none' if snap.intrinsics_source is None else snap.intrinsics_source.name.lower()
        ),
        'dropped_total': str(sum(snap.dropped.values())),
        'bad_input_total': str(sum(snap.bad_input.values())),
        'pipeline_resets': str(snap.resets),
        'suspected_identity_switches': str(snap.switch_cuts),
        'inference_rounds': str(rounds),
    }
    values.update({f'dropped.{k}': str(v) for k, v in sorted(snap.dropped.items())})
    values.update({f'bad_input.{k}': str(v) for k, v in sorted(snap.bad_input.items())})
    return DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=k, value=v) for k, v in values.items()],
    )
