"""An ``Estimator`` stand-in for runs that feed precomputed detections to the temporal pipeline.

The temporal evaluation and benchmark call ``Pipeline.process_bodies`` with synthetic detections,
so only the body model (forward kinematics after fusion) and, for ``fusion.mode: tokens``, the
stand-in token heads' ``regress`` are used.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from aios_ros.core.types import Bodies, BodyModel, Camera
from aios_ros.synthetic.token_heads import LinearTokenCodec


class SyntheticEstimator:
    """Body model + (optional) stand-in token heads; detections come precomputed."""

    def __init__(self, body_model: BodyModel, codec: LinearTokenCodec | None) -> None:
        self.body_model = body_model
        self._codec = codec

    def estimate(self, image: np.ndarray, camera: Camera) -> Bodies:
        raise NotImplementedError('the detections are precomputed: use Pipeline.process_bodies')

    def estimate_batch(
        self, images: Sequence[np.ndarray], cameras: Sequence[Camera]
    ) -> list[Bodies]:
        raise NotImplementedError('the detections are precomputed: use Pipeline.process_bodies')

    def size_problem(self, width: int, height: int) -> None:
        """Precomputed detections have no image, so any size will do."""

    def default_K(self, width: int, height: int) -> np.ndarray:
        raise NotImplementedError('the camera is passed with every precomputed frame')

    def regress(self, tokens: np.ndarray) -> dict[str, np.ndarray]:
        if self._codec is None:
            raise RuntimeError('no token model in this run')
        return self._codec.regress(tokens)
