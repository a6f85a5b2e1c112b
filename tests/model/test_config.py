"""ModelConfig validation and the ``model:`` section of config/camera.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from aios_ros.core.config import ConfigError, build, read_parameters
from aios_ros.model.config import ModelConfig

CONFIG = Path(__file__).resolve().parents[2] / 'config' / 'camera.yaml'


def test_yaml_model_section_is_complete():
    section = read_parameters(CONFIG)['model']
    config = build(ModelConfig, section, 'model.')
    assert set(section) == set(ModelConfig.__dataclass_fields__)
    assert config.checkpoint == '' and config.short_side <= config.max_size


@pytest.mark.parametrize(
    'values, message',
    [
        ({'device': 'tpu'}, 'device'),
        ({'dtype': 'fp16'}, 'dtype'),
        ({'short_side': 900, 'max_size': 800}, 'short_side'),
        ({'candidate_threshold': 1.5}, 'candidate_threshold'),
        ({'max_people': 51}, 'max_people'),
    ],
)
def test_invalid_values(values, message):
    with pytest.raises(ConfigError, match=message):
        build(ModelConfig, values, 'model.')
