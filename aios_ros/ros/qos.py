"""QoS profiles of the node's topics (REP 2003 and the conventions table in the README).

Camera inputs are subscribed best-effort, which matches both best-effort and reliable
publishers (a reliable subscription would not hear a best-effort camera). The image QoS can
be overridden per topic with the standard ``qos_overrides.<topic>.subscription.*`` parameters,
e.g. ``reliability: reliable`` for lossless bag replay. Every output is reliable (what RViz,
rqt and image_transport subscribe with; a reliable publisher also serves best-effort
subscribers), overridable with ``qos_overrides.<topic>.publisher.*``. ``<topic>`` is always the
resolved name, after namespace and remapping.
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


def image_qos(depth: int) -> QoSProfile:
    """Sensor-data image subscription: best effort, volatile, keep the last ``depth``.

    Depth 1 in live mode, so DDS itself never queues stale frames; the replay mode's FIFO size
    in ``every_frame`` mode.
    """
    return QoSProfile(
        depth=depth,
        history=HistoryPolicy.KEEP_LAST,
        reliability=ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )


CAMERA_INFO = image_qos(1)
# Results: small, consumers want every one.
BODIES = QoSProfile(
    depth=10,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
# Static model description, latched for late joiners.
MODEL_INFO = QoSProfile(
    depth=1,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
# RViz subscribes to markers reliably.
MARKERS = QoSProfile(
    depth=2,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
# Reliable like every output: RViz's image display and image_transport subscribe reliably, and a
# best-effort publisher matches no reliable subscriber. Depth 1: a late overlay is worthless.
OVERLAY = QoSProfile(
    depth=1,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
DIAGNOSTICS = QoSProfile(
    depth=10,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
# tf2_ros' dynamic broadcaster QoS: reliable, a deep queue, so bursts of frames reach every
# listener.
TF = QoSProfile(
    depth=100,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
