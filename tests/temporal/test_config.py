"""Temporal configuration: YAML sections, defaults and bad values."""

from pathlib import Path

import pytest

from aios_ros.app.settings import Settings
from aios_ros.core.config import ConfigError, build, read_parameters
from aios_ros.temporal.config import TemporalConfig

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_yaml_sections_equal_the_documented_defaults():
    params = read_parameters(REPO_ROOT / 'config' / 'camera.yaml')
    assert build(Settings, params).temporal == build(TemporalConfig, {})


@pytest.mark.parametrize(
    'section, values, message',
    [
        ('fusion', {'lag_frames': 5}, 'lag_frames'),
        ('fusion', {'mode': 'magic'}, 'mode'),
        ('fusion', {'s_min': 1.5}, 's_min'),
        ('tracker', {'coast_s': 2.0}, 'coast_s'),
        ('tracker', {'n_init': 1.5}, 'n_init'),
        ('filters', {'raw': {'body': {'min_cutoff': 0.0}}}, 'min_cutoff'),
        ('tracker', {'max_agee_s': 1.0}, 'max_agee_s'),
    ],
)
def test_bad_values_are_named(section, values, message):
    with pytest.raises(ConfigError, match=message):
        build(Settings, {section: values})
