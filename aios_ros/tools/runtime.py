"""Everything the offline tools build once from the parameter file, from the node's own parts.

The configuration sections, the estimator factory, the intrinsics rule, the image decoders, the
mesh decimation for markers/overlay and the message builders are the ones ``aios_node`` uses, so
a replayed frame goes through the same code as a live one.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from aios_ros.config import ConfigError, build, read_parameters
from aios_ros.model.config import UNTRAINED_NOTE, ModelConfig
from aios_ros.pipeline.pipeline import Pipeline
from aios_ros.pipeline.types import Bodies, Camera
from aios_ros.render.display_geometry import DisplayGeometry, display_geometry
from aios_ros.render.overlay import render_overlay
from aios_ros.ros import node as aios_node
from aios_ros.ros.image_conversion import compressed_to_bgr, image_to_bgr
from aios_ros.ros.intrinsics import IntrinsicsSelector
from aios_ros.ros.markers import marker_array
from aios_ros.ros.messages import STREAM_FUSED, STREAM_RAW, body_array, body_model_info
from aios_ros.ros.node_config import NodeConfig
from aios_ros.temporal.config import TemporalConfig, from_parameters


@dataclass(frozen=True)
class RuntimeOverrides:
    """Command-line values that replace ``model.*`` parameters (None = keep the file's)."""

    checkpoint: Optional[str] = None
    smplx: Optional[str] = None
    short_side: Optional[int] = None


@dataclass
class Runtime:
    """Configured estimator plus the node's per-frame building blocks."""

    model: ModelConfig
    node: NodeConfig
    temporal: TemporalConfig
    estimator: Any
    display: DisplayGeometry
    note: str

    def new_pipeline(self) -> Pipeline:
        """A fresh pipeline (one per camera); vertices are needed for overlay and mesh markers."""
        return Pipeline(self.estimator, self.temporal, with_vertices=True)

    def new_intrinsics(self) -> IntrinsicsSelector:
        return IntrinsicsSelector.for_model(self.node.fallback_K, self.model.short_side,
                                            self.model.max_size)

    def decode(self, msg: Any) -> np.ndarray:
        """Image or CompressedImage message -> (H, W, 3) uint8 BGR."""
        convert = compressed_to_bgr if hasattr(msg, 'format') else image_to_bgr
        return convert(msg, self.node.max_pixels)

    def body_array(self, bodies: Bodies, header: Any, fused: bool, source) -> Any:
        lag = self.temporal.fusion.lag_frames if fused else 0
        return body_array(bodies, header, STREAM_FUSED if fused else STREAM_RAW, lag, source,
                          self.node.publish_vertices)

    def marker_array(self, bodies: Bodies, header: Any) -> Any:
        faces = self.display.faces if self.node.markers.mesh else None
        return marker_array(bodies, header, self.display.parents, faces,
                            self.node.markers.lifetime_s)

    def overlay(self, image: np.ndarray, bodies: Bodies, camera: Camera) -> np.ndarray:
        return render_overlay(image, bodies, camera, self.display.faces, self.display.parents,
                              note=self.note or None)

    def body_model_info(self, header: Any) -> Any:
        return body_model_info(self.estimator.body_model, self.display.faces, header)


def load_runtime(config: Optional[Path], overrides: RuntimeOverrides) -> Runtime:
    """Read the parameter file (default: the package's ``config/camera.yaml``), apply the
    overrides and build the estimator; bad or missing files raise ConfigError/FileNotFoundError
    with a message that says where to get them."""
    path = config if config is not None else aios_node.default_config_file()
    params = read_parameters(path) if path is not None else {}
    model = build(ModelConfig, params.get('model'), 'model.')
    changes = {k: v for k, v in (('checkpoint', overrides.checkpoint),
                                 ('smplx_path', overrides.smplx),
                                 ('short_side', overrides.short_side)) if v is not None}
    try:
        model = dataclasses.replace(model, **changes)
    except ValueError as exc:
        raise ConfigError(f'model: {exc}') from exc
    _check_smplx_path(model)
    from aios_ros.model.checkpoint import CheckpointError  # torch is imported only here
    from aios_ros.model.estimator import build_estimator
    try:
        estimator = build_estimator(model)
    except CheckpointError as exc:      # its message says where the checkpoint comes from
        raise ConfigError(str(exc)) from exc
    return make_runtime(estimator, model,
                        build(NodeConfig, params.get('node'), 'node.'), from_parameters(params))


def make_runtime(estimator: Any, model: ModelConfig, node: NodeConfig,
                 temporal: TemporalConfig) -> Runtime:
    """Runtime around an already built estimator (the node accepts injected estimators too)."""
    return Runtime(model, node, temporal, estimator,
                   display_geometry(estimator.body_model, node.markers.mesh_faces),
                   UNTRAINED_NOTE if not model.checkpoint else '')


def _check_smplx_path(model: ModelConfig) -> None:
    """Fail on a bad SMPL-X path before the (slow) checkpoint load, with the loader's message."""
    if model.smplx_path:
        from aios_ros.body.smplx_layer import resolve_smplx_file
        resolve_smplx_file(model.smplx_path)

