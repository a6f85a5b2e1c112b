"""The cameras of one node: each with its own topics, frame path and counters.

``node.cameras`` empty: one camera without a name on today's topics (``image``, ``bodies``, ...).
With names, camera ``front`` has ``front/image``, ``front/camera_info``, ``front/bodies``, ...
(relative: under the node's namespace, remappable one by one), its own ``/diagnostics`` status
and TF frames ``<node.tf.prefix>front/<track_id>/<joint>``. Identities are per camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from aios_ros.app.processor import FrameProcessor
from aios_ros.node.diagnostics import NodeStats


@dataclass
class NodeCamera:
    """One camera of the node; ``lane`` is its lane in the node's frame queue. Publishers exist
    from configure on, subscriptions while active, the processor once the model is loaded."""

    name: str
    lane: int
    stats: NodeStats = field(default_factory=NodeStats)
    processor: Optional[FrameProcessor] = None
    publishers: dict[str, Any] = field(default_factory=dict)
    subscriptions: list[Any] = field(default_factory=list)
    #: resolved topic names, kept as text: a worker still names them after deactivate
    image_topic: str = ''
    info_topic: str = ''

    def topic(self, base: str) -> str:
        """The relative topic ``base`` of this camera (``front/bodies``; ``bodies`` unnamed)."""
        return f'{self.name}/{base}' if self.name else base


def node_cameras(names: tuple[str, ...]) -> list[NodeCamera]:
    """The cameras of ``node.cameras`` (empty: the one unnamed camera)."""
    return [NodeCamera(name, lane) for lane, name in enumerate(names or ('',))]
