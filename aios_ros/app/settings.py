"""Settings of the whole package: one :class:`Settings` root with a section per part, one loader.

The sections are the parts' own frozen dataclasses (``model``: :class:`ModelConfig`,
``tracker``/``fusion``/``filters``: the temporal stage's, ``node``: :class:`NodeConfig` below).
Every leaf field becomes the ROS parameter ``<section>.<name>`` (nested: ``node.markers.<name>``),
declared with a descriptor generated from the field's metadata (:func:`aios_ros.core.config.param`:
description, range, and ``dynamic`` for the few parameters that may change while the node runs).
The node builds :class:`Settings` from its ROS parameters; the offline tools with
:func:`load_settings` from the same YAML file.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Optional

from aios_ros.core.config import build, flatten, param, read_parameters, unflatten
from aios_ros.core.smplx import check_body_head_joints
from aios_ros.model.config import ModelConfig
from aios_ros.temporal.config import FilterConfig, FusionConfig, TemporalConfig, TrackerConfig

#: a camera namespace: a relative ROS name (``front``, ``head/left``)
CAMERA_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*')


@dataclass(frozen=True)
class MarkerConfig:
    """RViz MarkerArray on ``markers`` (built only while someone subscribes)."""

    mesh: bool = param(True, 'draw the decimated mesh as a TRIANGLE_LIST', dynamic=True)
    mesh_faces: int = param(2000, 'target triangle count of the decimated mesh', 100, 100000)
    lifetime_s: float = param(
        1.0, 'marker lifetime (s); 0 = until replaced', 0.0, 3600.0, dynamic=True
    )
    stream: Literal['raw', 'fused'] = param('raw', 'output stream the markers show', dynamic=True)


@dataclass(frozen=True)
class TfConfig:
    """TF frames per tracked person on ``/tf``, from the stream the markers show."""

    enabled: bool = param(True, 'publish `<prefix><track_id>/<joint>` frames on /tf')
    frames: tuple[str, ...] = param(
        ('pelvis', 'head'), 'SMPL-X joints that get a frame (skeleton joints 0..24, smplx names)'
    )
    prefix: str = param('aios/', 'prefix of the child frame names')

    def __post_init__(self) -> None:
        check_body_head_joints(self.frames, 'TF frames')


@dataclass(frozen=True)
class NodeConfig:
    """Input handling, threading and optional outputs of ``aios_node``."""

    autostart: bool = param(
        True,
        'configure (load and warm up the model) and activate at start; false: wait for '
        '`ros2 lifecycle set`',
    )
    cameras: tuple[str, ...] = param(
        (),
        'camera namespaces served by this node, each with its own topics '
        '(`<camera>/image`, `<camera>/bodies`, ...), estimated together each round (one '
        'forward per network input size); '
        'empty = one camera on `image`',
    )
    image_transport: Literal['raw', 'compressed'] = param(
        'raw', 'subscribe to `image` (sensor_msgs/Image) or `image/compressed` (CompressedImage)'
    )
    drop_policy: Literal['latest', 'every_frame'] = param(
        'latest',
        'latest: live, a newer frame replaces an unprocessed one; '
        'every_frame: replay, process every frame (bounded FIFO)',
    )
    queue_size: int = param(
        30, 'every_frame: frames buffered before the oldest is dropped', 1, 1000
    )
    max_input_age_s: float = param(
        0.0,
        'latest: skip frames whose stamp is older than this on the node clock (s); 0 = off',
        0.0,
        3600.0,
        dynamic=True,
    )
    max_pixels: int = param(
        4096 * 4096, 'input images with more pixels are refused', 1, 1 << 31, dynamic=True
    )
    fallback_K: tuple[float, ...] = param(
        (0.0,) * 9,
        'row-major 3x3 camera matrix (px) used until CameraInfo arrives; '
        'all zero = model default intrinsics',
    )
    publish_vertices: bool = param(
        False, 'fill SmplxBody.vertices (V x 3 floats per person)', dynamic=True
    )
    overlay: bool = param(
        False,
        'publish the raw stream drawn over the input image on `overlay` while subscribed',
        dynamic=True,
    )
    diagnostics_period_s: float = param(1.0, '/diagnostics publishing period (s)', 0.1, 60.0)
    markers: MarkerConfig = field(default_factory=MarkerConfig)
    tf: TfConfig = field(default_factory=TfConfig)

    def __post_init__(self) -> None:
        if len(self.fallback_K) != 9:
            raise ValueError('fallback_K must hold 9 numbers (row-major 3x3)')
        bad = [c for c in self.cameras if not CAMERA_NAME.fullmatch(c)]
        if bad:
            raise ValueError(
                f'cameras {bad} are not relative ROS names (tokens of letters, digits and _, '
                "not starting with a digit, joined by '/')"
            )
        if len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f'cameras must be distinct, got {list(self.cameras)}')


@dataclass(frozen=True)
class Settings:
    """Every section of the parameter file, one attribute per section."""

    model: ModelConfig = field(default_factory=ModelConfig)
    node: NodeConfig = field(default_factory=NodeConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)

    @property
    def temporal(self) -> TemporalConfig:
        """The sections the temporal pipeline reads."""
        return TemporalConfig(self.tracker, self.fusion, self.filters)


#: section name -> its dataclass (the prefixes of the ROS parameter names)
SECTIONS: dict[str, type] = {f.name: f.default_factory for f in dataclasses.fields(Settings)}


def load_settings(
    path: Optional[Path] = None, overrides: Optional[Mapping[str, Any]] = None
) -> Settings:
    """Settings from the parameter file ``path`` (default: the package's ``config/camera.yaml``;
    none found: the defaults), then ``overrides`` ({dotted parameter name: value}) on top.
    Unknown names, wrong types and values out of range raise :class:`ConfigError`."""
    path = path if path is not None else default_config_file()
    params = read_parameters(path) if path is not None else {}
    return build(Settings, unflatten(flatten(params) | dict(overrides or {})))


def default_config_file() -> Optional[Path]:
    """``config/camera.yaml`` of the source tree, else of the installed package share."""
    path = Path(__file__).resolve().parents[2] / 'config' / 'camera.yaml'
    if path.is_file():
        return path
    try:
        from ament_index_python.packages import get_package_share_directory

        path = Path(get_package_share_directory('aios_ros')) / 'config' / 'camera.yaml'
    except (ImportError, KeyError, ValueError):
        return None
    return path if path.is_file() else None
