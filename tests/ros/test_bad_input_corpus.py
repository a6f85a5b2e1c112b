"""The bad-input corpus (``bad_inputs.py``): each case refused with its reason, in the frame path
and over DDS in the node, which counts every one and keeps publishing only finite values."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage

from aios_ros.app.processor import FrameProcessor
from aios_ros.app.runtime import make_runtime
from aios_ros.app.settings import Settings
from aios_ros.ros import image_conversion

from .test_node import compressed_image, counter, raw_image, ros, wait_for  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bad_inputs import CASES  # noqa: E402
from estimator_double import CountingEstimator  # noqa: E402


def test_the_corpus_has_forty_cases_and_every_reason():
    assert len(CASES) >= 40 and len({name for name, _, _ in CASES}) == len(CASES)
    reasons = {reason for _, _, reason in CASES}
    assert reasons == set(image_conversion.REASONS) | {'unusable_size'}
    kinds = {type(build()).__name__ for _, build, _ in CASES}
    assert kinds == {'Image', 'CompressedImage'}


@pytest.fixture(scope='module')
def processor():
    return FrameProcessor(make_runtime(Settings(), CountingEstimator()))


@pytest.mark.parametrize('name, build, reason', CASES, ids=[c[0] for c in CASES])
def test_each_case_is_refused_with_its_reason(processor, name, build, reason):
    with pytest.raises(image_conversion.ImageConversionError) as info:
        processor.decode(build(), processor.runtime.settings.node)
    assert info.value.reason == reason and str(info.value)


def _finite(msg) -> bool:
    body_floats = [
        (body, field)
        for body in msg.bodies
        for field, kind in body.get_fields_and_field_types().items()
        if kind.startswith(('float', 'sequence<float', 'array<float'))
    ]
    return all(np.isfinite(np.asarray(getattr(b, f), np.float64)).all() for b, f in body_floats)


def test_the_node_counts_the_whole_corpus_and_publishes_only_finite_values(ros):  # noqa: F811
    """Raw cases go to the raw-image node, compressed ones to the compressed node; each is
    counted under its reason before the next is sent, and a good frame after each kind of input
    is still processed."""
    expected: dict[tuple[str, str], int] = {}
    for i, (_, build, reason) in enumerate(CASES):
        msg = build()
        name = 'comp' if isinstance(msg, CompressedImage) else 'raw'
        key = f'bad_input.{reason}'
        expected.setdefault((name, key), counter(ros, name, key))
        expected[(name, key)] += 1
        msg.header.stamp.sec = 1000 + i
        ros['probes'][name].image_pub.publish(msg)
        wait_for(
            lambda n=name, k=key, v=expected[(name, key)]: counter(ros, n, k) >= v,
            what=f'{key} counted for case {i}',
        )
    for (name, key), count in expected.items():
        assert counter(ros, name, key) == count, key
    for name, make in (('raw', raw_image), ('comp', compressed_image)):
        probe = ros['probes'][name]
        probe.image_pub.publish(make(2000, 100))
        assert len(probe.output_for('bodies', 2000).bodies) == 2
        assert all(_finite(m) for m in probe.received['bodies'])
