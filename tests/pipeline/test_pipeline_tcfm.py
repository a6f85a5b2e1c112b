"""fusion.mode tcfm through the pipeline: TCFM-lite weights from a file, re-regression, guard."""
import dataclasses

import numpy as np
import pytest
import torch

from aios_ros.config import build
from aios_ros.geometry.so3 import rotation_about
from aios_ros.pipeline.pipeline import Pipeline
from aios_ros.temporal.config import TemporalConfig
from aios_ros.temporal.tcfm import TcfmLite
from aios_ros.temporal.token_codec import LinearTokenCodec

DT = 1.0 / 30.0


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    """A TcfmLite state_dict with random weights and a tiny output projection."""
    torch.manual_seed(0)
    module = TcfmLite()
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.1)
        module.out.weight.mul_(1e-3)
        module.out.bias.mul_(1e-3)
    path = tmp_path_factory.mktemp('tcfm') / 'tcfm.pt'
    torch.save(module.state_dict(), path)
    return str(path)


def _config(lag, mode, weights=''):
    fusion = {'lag_frames': lag, 'mode': mode} | ({'tcfm_weights': weights} if weights else {})
    cfg = build(TemporalConfig, {'fusion': fusion, 'tracker': {'n_init': 1}})
    return dataclasses.replace(cfg, filters=dataclasses.replace(cfg.filters, enabled=False))


def _frames(people_at, flip_tokens=False):
    """Two people crossing; with ``flip_tokens`` their tokens encode a pose 90 degrees off."""
    frames = []
    for k in range(5):
        b = people_at([[-1.0 + 0.03 * k, 0.0, 4.0], [1.0 - 0.03 * k, 0.0, 6.0]], knee_angle=0.1 * k)
        if flip_tokens:
            flipped = np.broadcast_to(rotation_about([1.0, 0, 0], np.pi / 2), b.pose.shape)
            b = dataclasses.replace(b, tokens=LinearTokenCodec(0).encode(flipped, b.betas,
                                                                          b.expression))
        frames.append(b)
    return frames


def _run(estimator, cfg, frames, camera):
    pipe = Pipeline(estimator, cfg, with_vertices=False)
    outs = [pipe.process_bodies(f, camera, k * DT, k) for k, f in enumerate(frames)]
    return [o.fused.bodies for o in outs if o.fused is not None] + [f.bodies for f in pipe.flush()]


@pytest.mark.parametrize('lag', [0, 2])
def test_tcfm_mode_runs_through_the_regressor(body_model, camera, people_at, estimator_for,
                                              weights, lag):
    frames = _frames(people_at)
    fused = _run(estimator_for(body_model), _config(lag, 'tcfm', weights), frames, camera)
    assert len(fused) == len(frames)
    for bodies, raw in zip(fused, frames):
        assert bodies.pose.shape == (2, 53, 3, 3) and bodies.joints_3d.shape == raw.joints_3d.shape
        assert np.isfinite(bodies.pose).all()
        # tokens encode the raw poses and the module barely changes them: close to raw
        np.testing.assert_allclose(bodies.pose[:, 4], raw.pose[:, 4], atol=0.02)


def test_tcfm_guard_falls_back_to_parameter_fusion(body_model, camera, people_at, estimator_for,
                                                   weights):
    frames = _frames(people_at, flip_tokens=True)
    tcfm = _run(estimator_for(body_model), _config(2, 'tcfm', weights), frames, camera)
    params = _run(estimator_for(body_model), _config(2, 'params'), frames, camera)
    for a, b in zip(tcfm, params):
        np.testing.assert_allclose(a.pose, b.pose, atol=1e-6)
        np.testing.assert_allclose(a.expression, b.expression, atol=1e-6)
