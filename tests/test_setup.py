"""scripts/setup.sh is idempotent, and .ci/run runs the README's two quick-start commands."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV = REPO_ROOT / '.venv'
WS = REPO_ROOT / 'ws'


def _files(root: Path):
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != '__pycache__']
        for name in names:
            yield Path(folder, name)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _snapshot() -> dict[str, object]:
    """What a re-run must leave alone: the generated files (content and mtime), the install tree
    (content: colcon rewrites its own bookkeeping files with identical content), the compiled
    message libraries (mtime: no recompilation) and the venv (every file's mtime and size)."""
    state: dict[str, object] = {}
    for name in ('env.sh', 'fastdds_profile.xml'):
        path = REPO_ROOT / name
        state[name] = (_sha256(path), path.stat().st_mtime_ns)
    for path in _files(WS / 'install'):
        state[str(path)] = _sha256(path)
    for path in (WS / 'build' / 'aios_ros').glob('*.so'):
        state[str(path)] = path.stat().st_mtime_ns
    for path in _files(VENV):
        stat = path.stat()
        state[str(path)] = (stat.st_mtime_ns, stat.st_size)
    return state


def _run_setup() -> str:
    env = {k: v for k, v in os.environ.items() if k != '_ROS_WHEELS_BOOTSTRAP_COMPLETE'}
    run = subprocess.run(
        ['bash', str(REPO_ROOT / 'scripts' / 'setup.sh')],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stderr


def test_second_setup_run_changes_nothing():
    if not (REPO_ROOT / 'env.sh').is_file():
        pytest.fail('env.sh is missing: run `bash scripts/setup.sh` first')
    _run_setup()  # brings the install tree up to date with the sources (a no-op in CI)
    before = _snapshot()
    output = _run_setup()
    after = _snapshot()

    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert changed == []
    log = (WS / 'setup.log').read_text()
    assert 'Successfully installed' not in log and '\nwrote ' not in log
    print(output.strip().splitlines()[-1])


def test_readme_quick_start_is_two_commands_run_by_ci():
    readme = (REPO_ROOT / 'README.md').read_text().splitlines()
    block = readme[readme.index('<!-- quick-start -->') + 1 : readme.index('<!-- /quick-start -->')]
    commands = [line for line in block if line.strip() and not line.startswith('```')]
    assert len(commands) == 2
    assert commands[0].startswith('bash scripts/setup.sh')
    assert 'pytest' in commands[1] and commands[1].startswith('. ./env.sh')
    # .ci/run runs these two commands literally and refuses to run when this block differs.
    ci = (REPO_ROOT / '.ci' / 'run').read_text()
    assert '<!-- quick-start -->' in ci and 'README.md' in ci


def test_env_sh_runs_the_installed_executables():
    """In a fresh shell, `. ./env.sh` gives the built messages and `ros2 run aios_ros ...`."""
    script = (
        '. ./env.sh && python -c "from aios_ros.msg import SmplxBodyArray" '
        '&& ros2 run aios_ros replay --help && ros2 run aios_ros no_such_executable'
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ('PYTHONPATH', 'LD_LIBRARY_PATH', '_ROS_WHEELS_BOOTSTRAP_COMPLETE')
    }
    run = subprocess.run(
        ['bash', '-c', script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert 'usage:' in run.stdout, run.stdout + run.stderr
    assert run.returncode == 1
    # env.sh's own `ros2 run`, or the real ros2cli once tests/ros has installed it in the venv
    assert (
        "no executable 'no_such_executable' in package 'aios_ros'" in run.stderr
        or run.stderr.strip() == 'No executable found'
    )
