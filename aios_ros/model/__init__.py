"""AiOS (CVPR 2024) whole-body multi-person SMPL-X regressor, re-implemented in pure PyTorch.

The module tree and parameter names follow the official ``AiOSSMPLX`` so that the released
checkpoint loads with ``strict=True``. Entry point for applications: :func:`build_estimator`.
"""
from aios_ros.model.config import ModelConfig
from aios_ros.model.estimator import AiosEstimator, build_estimator

__all__ = ['AiosEstimator', 'ModelConfig', 'build_estimator']
