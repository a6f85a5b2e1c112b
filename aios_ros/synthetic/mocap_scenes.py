"""Multi-person scenes made of real motion capture, for the temporal evaluation.

The clips are AMASS sequences (SMPL+H fits of optical mocap; ``../shared/reference/motion/``,
evaluation only, never shipped): ``poses`` (T, 156) axis-angle of 52 joints (global orientation
in a z-up world, 21 body joints, 15 + 15 hand joints: SMPL-X joints 0-21 and 25-54), ``trans``
(T, 3) metres, ``mocap_framerate``. They are resampled to the camera rate by taking every n-th
frame (120 -> 30 fps: every 4th), and the jaw is kept at rest.

Composition of a scene (deterministic in the seed), in the camera and people of
:mod:`aios_ros.synthetic.scenes`: every person plays a chain of clip segments of at least
``_MIN_SEGMENT_S`` (each from a random start frame, turned by a random heading about the vertical;
walks are aimed at a point in view, so paths cross at different depths). Between two segments the
person is hidden for 0.3-0.7 s (behind an occluder: the pose change between clips is never seen)
and goes on from where they were. People enter late and leave early at random, walk out of and
back into the view, and get one or two further occlusion gaps. The motion inside a segment is
the recorded one, untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aios_ros.core.smplx import NUM_POSE_JOINTS
from aios_ros.geometry.so3 import exp_map
from aios_ros.synthetic.scenes import (
    FLOOR_Y,
    FPS,
    WIDTH,
    K,
    Person,
    Scene,
    in_view,
    occlusion_gaps,
)

#: world (z up) -> camera optical frame (x right, y down, z forward): x_c = x_w, y_c = -z_w,
#: z_c = y_w (a proper rotation, applied to translation and global orientation alike)
R_CAMERA_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
_MIN_SEGMENT_S = 1.5
_DEPTH_M = (3.0, 7.5)


@dataclass(frozen=True)
class Clip:
    """One mocap clip at the camera rate: pose (T, 53, 3, 3) rotations (joint 0 in the z-up
    world), trans (T, 3) metres in the z-up world."""

    name: str
    pose: np.ndarray
    trans: np.ndarray


def load_clip(path: str | Path, fps: float = FPS) -> Clip:
    """Read an AMASS-layout ``.npz`` and resample it to ``fps`` (an integer divisor of its rate)."""
    with np.load(path) as data:
        rate = float(data['mocap_framerate'])
        poses = np.asarray(data['poses'], np.float64)
        trans = np.asarray(data['trans'], np.float64)
    step = rate / fps
    if abs(step - round(step)) > 1e-6 or step < 1:
        raise ValueError(f'{path}: {rate} fps cannot be resampled to {fps} fps by taking frames')
    if poses.ndim != 2 or poses.shape[1] < 52 * 3 or len(trans) != len(poses):
        raise ValueError(f'{path}: need poses (T, 156) and trans (T, 3), got {poses.shape}')
    poses, trans = poses[:: int(round(step))], trans[:: int(round(step))]
    aa = np.zeros((len(poses), NUM_POSE_JOINTS, 3))
    aa[:, :52] = poses[:, : 52 * 3].reshape(-1, 52, 3)  # jaw (joint 52) stays at rest
    return Clip(Path(path).stem, exp_map(aa), trans)


def load_clips(folder: str | Path, fps: float = FPS) -> list[Clip]:
    """Every ``*.npz`` clip of ``folder``, in name order."""
    paths = sorted(Path(folder).glob('*.npz'))
    if not paths:
        raise FileNotFoundError(f'no motion clips (*.npz) in {folder}')
    return [load_clip(p, fps) for p in paths]


def make_mocap_scene(
    seed: int,
    clips: list[Clip],
    num_people: int = 5,
    duration_s: float = 12.0,
    max_gap_s: float = 1.0,
) -> Scene:
    """A deterministic scene of ``num_people`` people moving as ``clips``; see the module
    docstring."""
    rng = np.random.default_rng(seed + 104729)
    n = int(round(duration_s * FPS))
    people = []
    for pid in range(num_people):
        enter = 0 if pid < 2 else int(rng.integers(0, n // 4 + 1))
        leave = n if rng.uniform() < 0.6 else n - int(rng.integers(0, n // 4 + 1))
        pose, transl, shown = _timeline(rng, clips, n, enter, leave)
        visible = shown & in_view(transl) & ~occlusion_gaps(rng, n, max_gap_s)
        betas = rng.normal(0.0, 1.0, 10) * np.r_[1.5, 1.5, np.ones(8)]
        people.append(Person(pid, pose, betas, np.zeros((n, 10)), transl, visible))
    return Scene(np.arange(n) / FPS, people)


def _timeline(
    rng: np.random.Generator, clips: list[Clip], n: int, enter: int, leave: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pose (n, 53, 3, 3), transl (n, 3) and shown (n,) of one person.

    Frames outside the segments (before entering, between segments, after leaving) hold the
    nearest segment's pose and position and are not shown.
    """
    pose = np.tile(np.eye(3), (n, NUM_POSE_JOINTS, 1, 1))
    transl = np.zeros((n, 3))
    shown = np.zeros(n, bool)
    depth = rng.uniform(*_DEPTH_M)
    here = np.array([rng.uniform(-0.4, 0.4) * _half_width(depth), depth])  # (x, z) in camera
    t, first = enter, True
    min_len = int(_MIN_SEGMENT_S * FPS)
    while t < leave:
        if not first:
            gap = int(rng.uniform(0.3, 0.7) * FPS)
            pose[t : t + gap], transl[t : t + gap] = pose[t - 1], transl[t - 1]
            t += gap
            if t >= leave:
                break
        clip = clips[int(rng.integers(len(clips)))]
        start = int(rng.integers(0, max(len(clip.pose) - min_len, 0) + 1))
        length = min(len(clip.pose) - start, leave - t)
        seg_pose, seg_transl = _place(rng, clip, start, start + length, here)
        pose[t : t + length], transl[t : t + length] = seg_pose, seg_transl
        shown[t : t + length] = True
        here = seg_transl[-1, [0, 2]]
        t += length
        first = False
    if enter > 0:
        pose[:enter], transl[:enter] = pose[enter], transl[enter]
    last = int(np.flatnonzero(shown).max()) if shown.any() else 0
    pose[last + 1 :], transl[last + 1 :] = pose[last], transl[last]
    return pose, transl, shown


def _place(
    rng: np.random.Generator, clip: Clip, start: int, stop: int, here: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Frames [start, stop) of ``clip`` in the camera frame, starting at ``here`` (x, z), turned
    by a heading about the vertical: a walk towards a point in view, else a random one."""
    trans = clip.trans[start:stop]
    travel = trans[-1, :2] - trans[0, :2]
    if np.linalg.norm(travel) > 0.5:
        depth = rng.uniform(*_DEPTH_M)
        goal = np.array([rng.uniform(-0.8, 0.8) * _half_width(depth), depth])
        # camera (x, z) = world (x, y) after the turn: aim the clip's travel at the goal
        heading = np.arctan2(*(goal - here)[::-1]) - np.arctan2(travel[1], travel[0])
        heading += rng.normal(0.0, 0.2)
    else:
        heading = rng.uniform(-np.pi, np.pi)
    turn = R_CAMERA_WORLD @ exp_map(np.array([0.0, 0.0, heading]))
    pose = clip.pose[start:stop].copy()
    pose[:, 0] = turn @ pose[:, 0]
    transl = (trans - trans[0]) @ turn.T
    transl[:, [0, 2]] += here
    transl[:, 1] = FLOOR_Y - trans[:, 2]  # mocap heights are above the floor
    return pose, transl


def _half_width(depth: float) -> float:
    """Half the width of the view (m) at ``depth``."""
    return float(depth * WIDTH / 2 / K[0, 0])
