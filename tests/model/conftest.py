"""Expensive objects of the model tests, built once per session (seeded AiOS, one record)."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from aios_ros.evaluation.parity import record
from aios_ros.model.aios import AiOS
from aios_ros.model.config import ModelConfig
from aios_ros.model.estimator import build_model
from aios_ros.model.preprocess import make_batch

SHORT_SIDE, MAX_SIZE = 256, 427  # the size of the public seeded fixture


@pytest.fixture(scope='session')
def aios_ref(reference_dir: Path) -> Path:
    return reference_dir / 'aios'


@pytest.fixture(scope='session')
def seeded_tools(aios_ref: Path):
    """The reference's own helper scripts (``compare_fixture``, ``seeded_state_dict`` modules)."""
    sys.path.insert(0, str(aios_ref / 'seeded'))
    import compare_fixture

    return compare_fixture


@pytest.fixture(scope='session')
def seeded_model() -> AiOS:
    """AiOS with the ``aios-seeded-v1`` weights for seed 0 (strictly loaded)."""
    torch.set_num_threads(2)
    return build_model(ModelConfig(seed=0))


@pytest.fixture(scope='session')
def synth_image(aios_ref: Path) -> np.ndarray:
    image = cv2.imread(str(aios_ref / 'seeded' / 'synth_A.png'), cv2.IMREAD_COLOR)
    assert image is not None
    return image


@pytest.fixture(scope='session')
def seeded_record(seeded_model: AiOS, synth_image: np.ndarray) -> dict:
    """Parity record of ``synth_A.png`` (fixture keys, all 100 people through SMPL-X)."""
    with torch.inference_mode():
        return record(seeded_model, make_batch([synth_image], SHORT_SIDE, MAX_SIZE))


@pytest.fixture(scope='session')
def official_record(aios_ref: Path) -> dict:
    return torch.load(aios_ref / 'seeded' / 'fixture_s0.pt', weights_only=False)
