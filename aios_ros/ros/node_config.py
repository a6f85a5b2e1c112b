"""Configuration of the camera node: the ``node:`` section of ``config/camera.yaml``.

Every field becomes the ROS parameter ``node.<name>`` (nested: ``node.markers.<name>``), declared
with a descriptor generated from this class (:mod:`aios_ros.ros.params`): ``metadata['doc']`` is
the description, ``metadata['range']`` the allowed range, and ``metadata['dynamic']`` marks the
few parameters that may change while the node runs; all others are read-only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


def _param(default: Any, doc: str, low: float | None = None, high: float | None = None,
           dynamic: bool = False) -> Any:
    meta: dict = {'doc': doc, 'dynamic': dynamic}
    if low is not None:
        meta['range'] = (low, high)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class MarkerConfig:
    """RViz MarkerArray on ``markers`` (built only while someone subscribes)."""

    mesh: bool = _param(True, 'draw the decimated mesh as a TRIANGLE_LIST', dynamic=True)
    mesh_faces: int = _param(2000, 'target triangle count of the decimated mesh', 100, 100000)
    lifetime_s: float = _param(1.0, 'marker lifetime (s); 0 = until replaced', 0.0, 3600.0,
                               dynamic=True)
    stream: Literal['raw', 'fused'] = _param('raw', 'output stream the markers show',
                                             dynamic=True)


@dataclass(frozen=True)
class NodeConfig:
    """Input handling, threading and optional outputs of ``aios_node``."""

    image_transport: Literal['raw', 'compressed'] = _param(
        'raw', 'subscribe to `image` (sensor_msgs/Image) or `image/compressed` (CompressedImage)')
    drop_policy: Literal['latest', 'every_frame'] = _param(
        'latest', 'latest: live, a newer frame replaces an unprocessed one; '
        'every_frame: replay, process every frame (bounded FIFO)')
    queue_size: int = _param(30, 'every_frame: frames buffered before the oldest is dropped',
                             1, 1000)
    max_input_age_s: float = _param(
        0.0, 'latest: skip frames whose stamp is older than this on the node clock (s); 0 = off',
        0.0, 3600.0, dynamic=True)
    max_pixels: int = _param(4096 * 4096, 'input images with more pixels are refused',
                             1, 1 << 31, dynamic=True)
    fallback_K: tuple[float, ...] = _param(
        (0.0,) * 9, 'row-major 3x3 camera matrix (px) used until CameraInfo arrives; '
        'all zero = model default intrinsics')
    publish_vertices: bool = _param(False, 'fill SmplxBody.vertices (V x 3 floats per person)',
                                    dynamic=True)
    overlay: bool = _param(
        False, 'publish the raw stream drawn over the input image on `overlay` while subscribed',
        dynamic=True)
    diagnostics_period_s: float = _param(1.0, '/diagnostics publishing period (s)', 0.1, 60.0)
    markers: MarkerConfig = field(default_factory=MarkerConfig)

    def __post_init__(self) -> None:
        if len(self.fallback_K) != 9:
            raise ValueError('fallback_K must hold 9 numbers (row-major 3x3)')
