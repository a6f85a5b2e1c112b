"""Run-time settings of the AiOS estimator (the ``model:`` section of ``config/camera.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aios_ros.core.config import param

#: what every output of a model without a checkpoint says (logs, overlays, summaries)
UNTRAINED_NOTE = 'untrained weights: poses are meaningless'
#: what the log says when the model is built without a checkpoint (%d: the seed)
UNTRAINED_WARNING = (
    f'AiOS: NO CHECKPOINT (model.checkpoint is empty) - {UNTRAINED_NOTE} '
    '(seeded random weights, seed %d)'
)


@dataclass(frozen=True)
class ModelConfig:
    """How to build and run :class:`aios_ros.model.estimator.AiosEstimator`."""

    checkpoint: str = param(
        '',
        "path of the official aios_checkpoint.pth (Hugging Face ttxskk/AiOS); '' builds "
        'seeded random weights (parity tests only: poses are meaningless)',
    )
    smplx_path: str = param(
        '',
        "folder with SMPLX_NEUTRAL.npz (or the file itself); '' uses the SMPL-X arrays "
        'stored in the checkpoint (the official model does the same)',
    )
    device: Literal['cpu', 'cuda'] = param('cpu', 'where the network runs')
    dtype: Literal['auto', 'fp32', 'bf16'] = param(
        'auto',
        'precision of the network: auto = bf16 on CUDA and on CPUs with native bf16 '
        '(AVX512-BF16, AMX, Arm BF16), fp32 elsewhere; bf16 = autocast (final heads, camera and '
        'scores stay fp32); SMPL-X and post-processing are always fp32',
    )
    short_side: int = param(800, 'network input short side, px (official: 800)')
    max_size: int = param(1333, 'network input long side cap, px (official: 1333)')
    candidate_threshold: float = param(
        0.1, 'lowest score returned per frame (low-score candidates for the tracker)'
    )
    max_people: int = param(
        20, 'most people returned per image (the official selection keeps 50 entries)'
    )
    seed: int = param(0, "seed of the random weights when checkpoint is ''")
    metric_camera: bool = param(
        False,
        'false (official): translation from the fixed 5000 px focal length at the network '
        'input; true: translation re-derived with the real intrinsics K',
    )
    with_vertices: bool = param(
        False, 'also skin all vertices in the estimator (the pipeline recomputes meshes itself)'
    )

    def __post_init__(self) -> None:
        if self.device not in ('cpu', 'cuda'):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if self.dtype not in ('auto', 'fp32', 'bf16'):
            raise ValueError(f"dtype must be 'auto', 'fp32' or 'bf16', got {self.dtype!r}")
        if not 224 <= self.short_side <= self.max_size:
            raise ValueError(
                'need 224 <= short_side <= max_size (the model needs >= 900 feature '
                f'tokens), got {self.short_side}, {self.max_size}'
            )
        if not 0.0 <= self.candidate_threshold <= 1.0:
            raise ValueError(
                f'candidate_threshold must be in [0, 1], got {self.candidate_threshold}'
            )
        if not 1 <= self.max_people <= 50:
            raise ValueError(
                f'max_people must be in [1, 50] (the model keeps 50), got {self.max_people}'
            )
