"""Shared, session-scoped inputs of the replay tests: the small synthetic body and a tiny sample."""

import pytest

from aios_ros.body.body_model import SmplxBodyModel
from aios_ros.synthetic import sample_bag as generate


@pytest.fixture(scope='session')
def body_model(smplx_dir):
    return SmplxBodyModel.from_smplx_folder(smplx_dir)


@pytest.fixture(scope='session')
def tiny_frames() -> int:
    return 4


@pytest.fixture(scope='session')
def tiny_bag(body_model, tiny_frames, tmp_path_factory):
    """The first ``tiny_frames`` frames of the sample scene, with ground truth."""
    path = tmp_path_factory.mktemp('in') / 'bag'
    generate.write_sample(path, body_model, frames=tiny_frames)
    return path
