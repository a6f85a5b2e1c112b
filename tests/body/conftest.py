"""Fixtures of the body-model tests."""

from __future__ import annotations

import pytest
import torch

from aios_ros.body.smplx_layer import SmplxLayer


@pytest.fixture(scope='session', autouse=True)
def _few_threads():
    torch.set_num_threads(1)


@pytest.fixture(scope='session')
def small_layer(smplx_dir) -> SmplxLayer:
    return SmplxLayer.from_smplx_folder(smplx_dir)
