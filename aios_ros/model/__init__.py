"""AiOS (CVPR 2024) whole-body multi-person SMPL-X regressor, re-implemented in pure PyTorch.

The module tree and parameter names follow the official ``AiOSSMPLX`` so that the released
checkpoint loads with ``strict=True``. Entry point for applications: :func:`build_estimator`
(imported lazily, so reading a :class:`ModelConfig` does not import torch).
"""

from typing import Any

from aios_ros.model.config import ModelConfig

__all__ = ['AiosEstimator', 'ModelConfig', 'build_estimator']


def __getattr__(name: str) -> Any:
    if name in ('AiosEstimator', 'build_estimator'):
        from aios_ros.model import estimator

        return getattr(estimator, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
