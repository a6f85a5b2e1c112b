"""Header stamps of any message flavour (rclpy or rosbags: anything with ``stamp.sec`` and
``stamp.nanosec``). Stamps are compared as integer nanoseconds: float seconds cannot tell apart
stamps less than ~240 ns apart at today's epoch times."""

from __future__ import annotations

from typing import Any


def stamp_ns(header: Any) -> int:
    """``header.stamp`` as integer nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def stamp_seconds(header: Any) -> float:
    """``header.stamp`` in seconds (float), the time base of the temporal pipeline."""
    return header.stamp.sec + header.stamp.nanosec * 1e-9
