"""ROS test environment: a private DDS domain per session, loopback-only discovery and transport.

env.sh (written by scripts/setup.sh) sets the discovery range, the Fast DDS profile and the field
checks for the user's shell; this file enforces them for tests and adds a per-session domain before
any test creates a context (rcl reads them at init, Fast DDS at its first participant, the message
modules at import). Child processes inherit them through os.environ.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FASTDDS_PROFILE = REPO_ROOT / 'fastdds_profile.xml'
SETUP_HINT = 'run `bash scripts/setup.sh` once, then `. ./env.sh` in the shell that runs pytest'


def _isolate_ros_environment() -> None:
    if not FASTDDS_PROFILE.is_file():
        raise RuntimeError(f'{FASTDDS_PROFILE} is missing: {SETUP_HINT}')
    # Concurrent test sessions on this host must not see each other's topics (loopback-only
    # discovery still connects every local process of the same domain). 1..100 stays well inside
    # Fast DDS's valid port range (domains 0..232).
    os.environ['ROS_DOMAIN_ID'] = str(random.SystemRandom().randint(1, 100))
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ['FASTDDS_DEFAULT_PROFILES_FILE'] = str(FASTDDS_PROFILE)
    os.environ['RMW_IMPLEMENTATION'] = 'rmw_fastrtps_cpp'
    os.environ['ROS_PYTHON_CHECK_FIELDS'] = '1'
    # A node process that crashes in native code (rcl, Fast DDS) leaves its Python stack in the
    # output the tests show, instead of only an exit code -11.
    os.environ['PYTHONFAULTHANDLER'] = '1'
    try:
        import aios_ros.msg  # noqa: F401
    except ImportError as error:
        raise RuntimeError(
            f'the aios_ros messages are not importable ({error}): {SETUP_HINT}'
        ) from error


_isolate_ros_environment()


@pytest.fixture
def ros_context():
    """A freshly initialised rclpy Context, shut down after the test."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)
