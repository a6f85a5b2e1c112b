"""Real-motion scenes: the recorded motion is kept, placed upright in the camera frame."""

from pathlib import Path

import numpy as np
import pytest

from aios_ros.geometry.so3 import exp_map
from aios_ros.synthetic.mocap_scenes import (
    R_CAMERA_WORLD,
    Clip,
    load_clip,
    load_clips,
    make_mocap_scene,
)
from aios_ros.synthetic.scenes import FLOOR_Y, FPS

MOTION = Path(__file__).resolve().parents[3] / 'shared' / 'reference' / 'motion'


def _write_clip(path, n=240, rate=120.0):
    """A clip walking 2 m along world y at rate ``rate``, knees swinging."""
    poses = np.zeros((n, 156), np.float32)
    poses[:, 0] = np.pi / 2  # upright: body y axis -> world z
    poses[:, 4 * 3] = 0.5 + 0.4 * np.sin(np.arange(n) / 10)  # left knee
    trans = np.zeros((n, 3), np.float32)
    trans[:, 1] = np.linspace(0.0, 2.0, n)
    trans[:, 2] = 0.9
    np.savez(path, poses=poses, trans=trans, mocap_framerate=np.float64(rate))
    return poses, trans


def test_load_clip_resamples_to_the_camera_rate(tmp_path):
    poses, trans = _write_clip(tmp_path / 'walk.npz')
    clip = load_clip(tmp_path / 'walk.npz')
    assert clip.pose.shape == (60, 53, 3, 3) and clip.trans.shape == (60, 3)
    np.testing.assert_allclose(clip.trans, trans[::4], atol=1e-6)
    np.testing.assert_allclose(clip.pose[:, 4], exp_map(poses[::4, 12:15].astype(float)), atol=1e-6)
    np.testing.assert_allclose(clip.pose[:, 52], np.tile(np.eye(3), (60, 1, 1)))  # jaw at rest
    _write_clip(tmp_path / 'odd.npz', rate=50.0)
    with pytest.raises(ValueError, match='cannot be resampled'):
        load_clip(tmp_path / 'odd.npz')
    with pytest.raises(FileNotFoundError, match='no motion clips'):
        load_clips(tmp_path / 'missing')


def test_scene_keeps_the_recorded_motion_upright_in_the_camera(tmp_path):
    _write_clip(tmp_path / 'walk.npz', n=960)
    clip = load_clip(tmp_path / 'walk.npz')
    scene = make_mocap_scene(3, [clip], num_people=3, duration_s=6.0)
    assert len(scene.stamps) == 6 * FPS
    assert make_mocap_scene(3, [clip], 3, 6.0).people[1].transl.tolist() == (
        scene.people[1].transl.tolist()
    )
    for person in scene.people:
        vis = person.visible
        assert vis.any()
        # body joints move as recorded: the knee rotation is one of the clip's
        knee = person.pose[vis, 4]
        err = np.abs(knee[:, None] - clip.pose[None, :, 4]).max(axis=(2, 3)).min(axis=1)
        assert err.max() < 1e-9
        # upright: the body's up axis (rest +y) points up in the camera (-y)
        up = person.pose[vis, 0] @ np.array([0.0, 1.0, 0.0])
        assert (up[:, 1] < -0.99).all()
        np.testing.assert_allclose(person.transl[vis, 1], FLOOR_Y - 0.9, atol=1e-6)
        # walking speed of the clip: 2 m in 8 s, never faster (no jumps inside a segment)
        step = np.linalg.norm(np.diff(person.transl, axis=0), axis=1)
        both = vis[1:] & vis[:-1]
        assert step[both].max() < 0.25 / FPS * 1.01 + 1e-9
    assert np.allclose(R_CAMERA_WORLD @ R_CAMERA_WORLD.T, np.eye(3))
    assert np.linalg.det(R_CAMERA_WORLD) == pytest.approx(1.0)


@pytest.mark.skipif(not MOTION.is_dir(), reason=f'no motion clips in {MOTION}')
def test_real_clips_build_scenes_with_people_in_view():
    clips = load_clips(MOTION)
    assert {c.name for c in clips} >= {'walk_turn_amass', 'stand_amass'}
    assert all(isinstance(c, Clip) and len(c.pose) >= 60 for c in clips)
    scene = make_mocap_scene(0, clips, num_people=5, duration_s=12.0)
    shown = np.array([p.visible.mean() for p in scene.people])
    assert (shown > 0.3).all() and (shown < 1.0).all()  # gaps, entries/exits, but mostly seen
