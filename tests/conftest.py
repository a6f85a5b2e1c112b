"""Session-wide fixtures shared by every test area."""

from __future__ import annotations

from pathlib import Path

import pytest

from aios_ros.synthetic.smplx_model import FULL_NUM_VERTICES, write_synthetic_smplx

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='session')
def smplx_dir(tmp_path_factory) -> Path:
    """Folder holding a small synthetic ``smplx/SMPLX_NEUTRAL.npz`` (1500 vertices, seed 0).

    Pass it to ``SmplxLayer.from_smplx_folder`` / ``SmplxBodyModel.from_smplx_folder``; for a raw
    ``smplx.create`` wrap the call in
    ``aios_ros.body.vertex_keypoints.smplx_keypoint_ids(smplx_dir)``.
    """
    folder = tmp_path_factory.mktemp('smplx_model')
    write_synthetic_smplx(folder, seed=0)
    return folder


@pytest.fixture(scope='session')
def reference_dir() -> Path:
    """The shared reference material (``<parent of repo>/shared/reference``); skips if absent."""
    path = (REPO_ROOT / '..' / 'shared' / 'reference').resolve()
    if not path.is_dir():
        pytest.skip(f'reference material not found at {path} (CI clones it beside the repo)')
    return path


@pytest.fixture(scope='session')
def full_smplx_dir(tmp_path_factory) -> Path:
    """A full-size synthetic model (10475 vertices, 20908 faces: the real SMPL-X sizes)."""
    folder = tmp_path_factory.mktemp('smplx_full')
    write_synthetic_smplx(folder, num_vertices=FULL_NUM_VERTICES, seed=3)
    return folder
