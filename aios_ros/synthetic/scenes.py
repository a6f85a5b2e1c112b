"""Synthetic multi-person SMPL-X sequences with known ground truth, for the temporal evaluation.

A scene is a fixed pinhole camera (optical frame: x right, y down, z forward, metres) watching
people walk on a floor 1.0 m below the camera. Paths are built so that walks cross in the image
at different depths, some people enter or leave the field of view, and every person may
disappear behind occluders for gaps of up to ``max_gap_s`` seconds. Poses are smooth: a walking
cycle on hips, knees, shoulders and elbows plus low-pass random motion on every joint.

Everything is deterministic in the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aios_ros.core.smplx import NUM_POSE_JOINTS
from aios_ros.geometry.so3 import exp_map

FPS = 30.0
WIDTH, HEIGHT = 1280, 720
K = np.array([[1000.0, 0.0, 640.0], [0.0, 1000.0, 360.0], [0.0, 0.0, 1.0]])
FLOOR_Y = 1.0  # floor below the camera, metres (y down)
_PELVIS_HEIGHT = 0.95
# Rest frame of SMPL-X is y up / face +z; camera frame is y down: turn the body upright.
_UPRIGHT = np.diag([1.0, -1.0, -1.0])
_SWING = {
    1: (0.45, 0.0),
    2: (0.45, np.pi),
    4: (0.5, np.pi / 2),
    5: (0.5, 3 * np.pi / 2),
    16: (0.25, np.pi),
    17: (0.25, 0.0),
    18: (0.3, np.pi),
    19: (0.3, 0.0),
}


@dataclass
class Person:
    """Ground truth of one identity over the whole scene (T frames).

    pose (T, 53, 3, 3), betas (10,), expression (T, 10), transl (T, 3) metres, visible (T,) bool
    (inside the image and not occluded).
    """

    person_id: int
    pose: np.ndarray
    betas: np.ndarray
    expression: np.ndarray
    transl: np.ndarray
    visible: np.ndarray


@dataclass
class Scene:
    """``stamps`` (T,) seconds and the people; the camera is the module constant ``K``."""

    stamps: np.ndarray
    people: list[Person]


def make_scene(
    seed: int, num_people: int = 5, duration_s: float = 12.0, max_gap_s: float = 2.0
) -> Scene:
    """A deterministic scene; see the module docstring."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(duration_s * FPS))) / FPS
    people = []
    for pid in range(num_people):
        transl, heading = _walk(rng, t)
        pose = _poses(rng, t, heading)
        expression = 0.5 * smooth_noise(rng, len(t), 10, 1.0)
        visible = in_view(transl) & ~occlusion_gaps(rng, len(t), max_gap_s)
        people.append(
            Person(
                pid,
                pose,
                rng.normal(0.0, 1.0, 10) * np.r_[1.5, 1.5, np.ones(8)],
                expression,
                transl,
                visible,
            )
        )
    return Scene(t, people)


def _walk(rng: np.random.Generator, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pelvis path (T, 3) and heading (T,) radians (0 = walking towards +x).

    People pace left and right across the view (turning near or beyond its edges, so some leave
    and re-enter) at different depths, so their paths cross in the image again and again.
    """
    depth = rng.uniform(3.0, 8.0)
    half_width = depth * WIDTH / 2 / K[0, 0]
    amp = rng.uniform(0.9, 1.3) * half_width
    omega = rng.uniform(0.8, 1.5) / amp  # peak walking speed 0.8 .. 1.5 m/s
    phase = rng.uniform(0, 2 * np.pi)
    x = rng.uniform(-0.2, 0.2) * half_width + amp * np.sin(omega * t + phase)
    z = depth + 0.4 * np.sin(2 * np.pi * rng.uniform(0.03, 0.1) * t + rng.uniform(0, 2 * np.pi))
    vx, vz = np.gradient(x, t), np.gradient(z, t)
    y = np.full_like(x, FLOOR_Y - _PELVIS_HEIGHT) + 0.02 * np.sin(2 * np.pi * 2 * t)
    return np.stack([x, y, z], axis=1), np.unwrap(np.arctan2(vz, vx))


def _poses(rng: np.random.Generator, t: np.ndarray, heading: np.ndarray) -> np.ndarray:
    """(T, 53, 3, 3): walking cycle + smooth random motion, global orient from the heading."""
    n = len(t)
    freq = rng.uniform(0.8, 1.1)
    aa = 0.12 * smooth_noise(rng, n, NUM_POSE_JOINTS * 3, 0.8).reshape(n, NUM_POSE_JOINTS, 3)
    aa[:, 22:52] *= 2.0  # fingers move more than the spine
    for joint, (amp, phase) in _SWING.items():
        aa[:, joint, 0] += amp * np.sin(2 * np.pi * freq * t + phase)
    aa[:, 4:6, 0] = np.abs(aa[:, 4:6, 0])  # knees only bend forward
    pose = exp_map(aa)
    # Body faces its walking direction: yaw about the camera's vertical axis (-y).
    yaw = exp_map(np.outer(np.pi / 2 - heading, [0.0, -1.0, 0.0]))
    pose[:, 0] = yaw @ _UPRIGHT @ pose[:, 0]
    return pose


def smooth_noise(rng: np.random.Generator, n: int, dims: int, cutoff_hz: float) -> np.ndarray:
    """(n, dims) unit-variance Gaussian noise low-passed below ``cutoff_hz``."""
    spec = np.fft.rfft(rng.normal(size=(n, dims)), axis=0)
    freqs = np.fft.rfftfreq(n, 1.0 / FPS)
    spec *= np.exp(-0.5 * (freqs / cutoff_hz) ** 2)[:, None]
    out = np.fft.irfft(spec, n=n, axis=0)
    return out / np.maximum(out.std(axis=0, keepdims=True), 1e-9)


def in_view(transl: np.ndarray) -> np.ndarray:
    """Pelvis projects inside the image with a margin of a quarter body width."""
    u = K[0, 0] * transl[:, 0] / transl[:, 2] + K[0, 2]
    margin = 0.15 * K[0, 0] / transl[:, 2]
    return (u > -margin) & (u < WIDTH + margin) & (transl[:, 2] > 1.0)


def occlusion_gaps(rng: np.random.Generator, n: int, max_gap_s: float) -> np.ndarray:
    """(n,) bool: one or two full-occlusion gaps of 0.2 s .. max_gap_s."""
    hidden = np.zeros(n, bool)
    for _ in range(rng.integers(1, 3)):
        length = int(rng.uniform(0.2, max_gap_s) * FPS)
        start = int(rng.integers(0, max(n - length, 1)))
        hidden[start : start + length] = True
    return hidden
