"""Run-time settings of the AiOS estimator (the ``model:`` section of ``config/camera.yaml``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: what every output of a model without a checkpoint says (logs, overlays, summaries)
UNTRAINED_NOTE = 'untrained weights: poses are meaningless'


@dataclass(frozen=True)
class ModelConfig:
    """How to build and run :class:`aios_ros.model.estimator.AiosEstimator`.

    checkpoint:          path of the official ``aios_checkpoint.pth`` (Hugging Face ``ttxskk/AiOS``);
                         '' builds seeded random weights (parity tests only: poses are meaningless).
    smplx_path:          folder with ``SMPLX_NEUTRAL.npz`` (or the file itself); '' uses the SMPL-X
                         arrays stored in the checkpoint (the official model does the same).
    device:              'cpu' or 'cuda'.
    dtype:               'fp32' or 'bf16' (autocast for the network; SMPL-X and post-processing stay fp32).
    short_side/max_size: network input size rule (official: 800 / 1333), pixels.
    candidate_threshold: lowest score returned by ``estimate`` (low-score candidates for tracking).
    max_people:          most people returned per image (official selection keeps 50 entries).
    seed:                seed of the random weights when ``checkpoint`` is ''.
    metric_camera:       False (official): translation from the fixed 5000 px focal length at the
                         network input; True: translation re-derived with the real intrinsics K.
    with_vertices:       also skin all vertices in ``estimate`` (the pipeline recomputes meshes itself).
    """

    checkpoint: str = ''
    smplx_path: str = ''
    device: Literal['cpu', 'cuda'] = 'cpu'
    dtype: Literal['fp32', 'bf16'] = 'fp32'
    short_side: int = 800
    max_size: int = 1333
    candidate_threshold: float = 0.1
    max_people: int = 20
    seed: int = 0
    metric_camera: bool = False
    with_vertices: bool = False

    def __post_init__(self) -> None:
        if self.device not in ('cpu', 'cuda'):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if self.dtype not in ('fp32', 'bf16'):
            raise ValueError(f"dtype must be 'fp32' or 'bf16', got {self.dtype!r}")
        if not 224 <= self.short_side <= self.max_size:
            raise ValueError('need 224 <= short_side <= max_size (the model needs >= 900 feature '
                             f'tokens), got {self.short_side}, {self.max_size}')
        if not 0.0 <= self.candidate_threshold <= 1.0:
            raise ValueError(f'candidate_threshold must be in [0, 1], got {self.candidate_threshold}')
        if not 1 <= self.max_people <= 50:
            raise ValueError(f'max_people must be in [1, 50] (the model keeps 50), got {self.max_people}')
