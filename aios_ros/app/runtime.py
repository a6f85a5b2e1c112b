"""What a process builds once from its settings and shares between its cameras.

The node and the offline replay both call :func:`load_estimator` (unless they are handed an
estimator) and :func:`make_runtime`, then make one :class:`~aios_ros.app.processor.FrameProcessor`
per camera from the runtime, so a replayed frame goes through the same parts as a live one.
:func:`keep_cpu_heap` (the CPU estimator calls it too) is for a process that starts threads of
its own: called before them, their forwards reuse the heap as well.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

import numpy as np

from aios_ros.app.settings import Settings
from aios_ros.core.config import ConfigError
from aios_ros.core.types import Camera, Estimator, IntrinsicsSource
from aios_ros.model.config import UNTRAINED_NOTE, UNTRAINED_WARNING, ModelConfig
from aios_ros.model.cpu_heap import keep_cpu_heap as keep_cpu_heap  # re-exported for the node
from aios_ros.render.display_geometry import DisplayGeometry, display_geometry


@dataclass(frozen=True)
class Runtime:
    """The estimator and what is derived from it once (the decimated display mesh); ``note`` is
    what every output of an untrained model says ('' with a checkpoint)."""

    settings: Settings
    estimator: Estimator
    display: DisplayGeometry
    note: str


def make_runtime(settings: Settings, estimator: Estimator) -> Runtime:
    """Runtime around a built estimator (the node also accepts injected estimators)."""
    return Runtime(
        settings,
        estimator,
        display_geometry(estimator.body_model, settings.node.markers.mesh_faces),
        UNTRAINED_NOTE if not settings.model.checkpoint else '',
    )


def untrained_warning(model: ModelConfig) -> str | None:
    """What to log when ``model`` runs without a checkpoint (None with one)."""
    return None if model.checkpoint else UNTRAINED_WARNING % model.seed


def load_estimator(model: ModelConfig) -> Estimator:
    """The AiOS estimator of ``model``; a bad SMPL-X path fails before the slow checkpoint load.
    Missing or broken files raise :class:`ConfigError` (or FileNotFoundError) with a message
    that says where to get them."""
    if model.smplx_path:
        from aios_ros.body.smplx_layer import resolve_smplx_file

        resolve_smplx_file(model.smplx_path)
    from aios_ros.model.checkpoint import CheckpointError  # torch is imported only here
    from aios_ros.model.estimator import build_estimator

    try:
        return build_estimator(model)
    except CheckpointError as exc:  # its message says where the checkpoint comes from
        raise ConfigError(str(exc)) from exc


def warm_up(estimator: Estimator, model: ModelConfig, frames: int = 1) -> None:
    """Run ``frames`` blank frames of the network's largest input (``short_side`` x
    ``max_size``) through ``estimator`` in one forward (one per camera of a node), so the first
    camera frames do not pay for first-call allocations and kernel selection. On CUDA this
    captures the graph of that batch and input size; a round of other frames (fewer cameras, or
    another size bucket) captures its own the first time it comes."""
    height, width = model.short_side, model.max_size
    camera = Camera(
        estimator.default_K(width, height), width, height, IntrinsicsSource.MODEL_DEFAULT
    )
    estimator.estimate_batch([np.zeros((height, width, 3), np.uint8)] * frames, [camera] * frames)


def release_memory(model: ModelConfig) -> None:
    """Return the memory of estimators no longer referenced; on CUDA, the cached GPU blocks too
    (PyTorch's caching allocator keeps freed blocks otherwise)."""
    gc.collect()
    if model.device == 'cuda':
        import torch

        torch.cuda.empty_cache()
