"""Fixtures of the body-model tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aios_ros.body.smplx_layer import SmplxLayer
from aios_ros.synthetic.smplx_model import FULL_NUM_VERTICES, write_synthetic_smplx


@pytest.fixture(scope='session', autouse=True)
def _few_threads():
    torch.set_num_threads(1)


@pytest.fixture(scope='session')
def full_smplx_dir(tmp_path_factory) -> Path:
    """A full-size synthetic model (10475 vertices, 20908 faces: the real SMPL-X sizes)."""
    folder = tmp_path_factory.mktemp('smplx_full')
    write_synthetic_smplx(folder, num_vertices=FULL_NUM_VERTICES, seed=3)
    return folder


@pytest.fixture(scope='session')
def small_layer(smplx_dir) -> SmplxLayer:
    return SmplxLayer.from_smplx_folder(smplx_dir)
