"""Conventions enforced by tools, as ament_flake8 / ament_mypy run in ROS packages: ruff lint
and import order, ruff format, and mypy on the ROS-free core (configs: ruff.toml, mypy.ini)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope='module')
def ruff() -> str:
    path = shutil.which('ruff')
    assert path, 'ruff is a pinned dev dependency (requirements.txt): run scripts/setup.sh'
    return path


def test_ruff_lint_finds_nothing(ruff):
    result = run(ruff, 'check', '--no-cache', '.')
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_changes_nothing(ruff):
    result = run(ruff, 'format', '--check', '--no-cache', '.')
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing():
    result = run(sys.executable, '-m', 'mypy', '--no-incremental')
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_blanket_noqa():
    blanket = [
        f'{p.relative_to(REPO)}:{i}'
        for p in REPO.glob('**/*.py')
        if not {'ws', '.venv', 'data', 'out'} & set(p.relative_to(REPO).parts)
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if '# noqa' in line and '# noqa:' not in line
    ]
    assert blanket == []
