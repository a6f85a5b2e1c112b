"""The package driven only through the real ROS 2 tools, as a user does: ``ros2 launch`` of the
shipped two-camera launch file, ``ros2 run``, ``ros2 param``, ``ros2 topic echo``,
``ros2 lifecycle``, and Ctrl-C / SIGTERM while frames flow.

The tools are not on PyPI; ``../shared/ros2-cli`` (beside the repository, as on CI) brings the
upstream ones and is installed into the venv once per session (idempotent); without it these
tests skip. The nodes run the seeded AiOS at the smallest input (about 30 s to build on two
cores), all three at once, so the module costs about one model build.
"""

from __future__ import annotations

import array
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from aios_ros.core.smplx import BODY_HEAD_JOINTS
from aios_ros.msg import SmplxBodyArray
from aios_ros.ros import qos

from .collected_process import CollectedProcess

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ROS2_CLI = REPO / '..' / 'shared' / 'ros2-cli'
CLI_WS = REPO / 'ws' / 'ros2-cli'
START_TIMEOUT_S = 240.0
HEIGHT, WIDTH = 240, 320


@pytest.fixture(scope='session')
def cli_env() -> dict:
    """os.environ plus the tools' paths, with a ROS 2 daemon for this session's domain."""
    if not (ROS2_CLI / 'install.sh').is_file():
        pytest.skip(f'{ROS2_CLI} is absent: the real ROS 2 tools are not available')
    subprocess.run(
        ['bash', str(ROS2_CLI / 'install.sh'), str(REPO / '.venv'), str(CLI_WS)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    dump = subprocess.run(
        ['bash', '-c', f'. {CLI_WS / "ros2-cli-env.sh"} && env -0'],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    env = dict(item.split('=', 1) for item in dump.split('\0') if '=' in item)
    # `--no-daemon` discovery is too short for a node that just started (ros2-cli README)
    subprocess.run(['ros2', 'daemon', 'start'], env=env, check=True, capture_output=True)
    yield env
    subprocess.run(['ros2', 'daemon', 'stop'], env=env, capture_output=True)


def ros2(env: dict, *args: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        ['ros2', *args], env=env, capture_output=True, text=True, timeout=timeout_s
    )


class Launched(CollectedProcess):
    """A process group started like a user's terminal command, its output collected."""

    def __init__(self, argv: list[str], env: dict) -> None:
        super().__init__(argv, env=env, start_new_session=True)

    def interrupt(self, sig: int) -> tuple[int, float]:
        """``sig`` to the whole group, as a terminal's Ctrl-C does; exit code and seconds."""
        start = time.monotonic()
        os.killpg(self.proc.pid, sig)
        return self.finish(30.0), time.monotonic() - start

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class Probe:
    """Publishes camera images to ``namespaces`` and listens to /diagnostics from inside the
    test."""

    def __init__(self, namespaces: tuple[str, ...] = ('front', 'rear', 'solo')) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node('cli_probe', context=self.context)
        self.diagnostics: list = []
        self.node.create_subscription(
            DiagnosticArray, '/diagnostics', self.diagnostics.append, qos.DIAGNOSTICS
        )
        reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pubs = {
            ns: self.node.create_publisher(Image, f'/{ns}/image', reliable) for ns in namespaces
        }
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()
        self._flowing = threading.Event()

    def flow(self, ns: str, hz: float = 5.0) -> None:
        """Keep publishing frames to ``ns`` (stamps 1000, 1001, ...) until :meth:`close`."""

        def run() -> None:
            sec = 1000
            while not self._flowing.is_set():
                self.image_pubs[ns].publish(image(sec))
                sec += 1
                time.sleep(1.0 / hz)

        threading.Thread(target=run, daemon=True).start()

    def close(self) -> None:
        self._flowing.set()
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def image(stamp_sec: int) -> Image:
    msg = Image(height=HEIGHT, width=WIDTH, encoding='bgr8', step=WIDTH * 3)
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp_sec, 424242
    msg.header.frame_id = 'front_optical'
    pixels = np.random.default_rng(stamp_sec).integers(0, 256, (HEIGHT, WIDTH, 3), np.uint8)
    msg.data = array.array('B', pixels.tobytes())
    return msg


@pytest.fixture(scope='module')
def config_file(smplx_dir, tmp_path_factory) -> Path:
    """config/camera.yaml with the smallest model input."""
    config = yaml.safe_load((REPO / 'config' / 'camera.yaml').read_text())
    params = config['/**']['ros__parameters']
    params['model'].update(short_side=HEIGHT, max_size=WIDTH, smplx_path=str(smplx_dir))
    params['node']['diagnostics_period_s'] = 0.5
    path = tmp_path_factory.mktemp('cli') / 'small.yaml'
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope='module')
def stack(cli_env, config_file):
    """``ros2 launch aios_ros multi_camera.launch.py`` (front, rear) and ``ros2 run aios_ros
    aios_node`` (namespace solo), started together."""
    launch = Launched(
        ['ros2', 'launch', 'aios_ros', 'multi_camera.launch.py', f'config:={config_file}'],
        cli_env,
    )
    run = Launched(
        ['ros2', 'run', 'aios_ros', 'aios_node', '--ros-args', '-r', '__ns:=/solo']
        + ['--params-file', str(config_file)],
        cli_env,
    )
    probe = Probe()
    timings = {}
    try:
        deadline = time.monotonic() + 60
        while ros2(cli_env, 'param', 'get', '/front/aios_node', 'model.short_side').returncode:
            assert time.monotonic() < deadline, launch.output
        timings['launch -> first parameter answer (s)'] = time.monotonic() - launch.started
        launch.wait_for('subscribed to', count=2)
        run.wait_for('subscribed to')
        yield {'launch': launch, 'run': run, 'probe': probe, 'env': cli_env, 'timings': timings}
    finally:
        probe.close()
        launch.kill()
        run.kill()
        print('\n' + '\n'.join(f'{k}: {v:.1f}' for k, v in timings.items()))


def eventually(predicate, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f'timed out: {what}'
        time.sleep(0.1)


def test_param_describe_shows_the_descriptors(stack):
    for ns in ('front', 'rear'):
        result = ros2(stack['env'], 'param', 'describe', f'/{ns}/aios_node', 'node.max_pixels')
        assert result.returncode == 0, result.stderr
        assert 'Type: integer' in result.stdout and 'input images with more' in result.stdout
        assert 'Min value: 1' in result.stdout and 'Read only' not in result.stdout  # dynamic


def test_each_camera_of_the_launch_has_its_own_tf_prefix(stack):
    for ns in ('front', 'rear'):
        result = ros2(stack['env'], 'param', 'get', f'/{ns}/aios_node', 'node.tf.prefix')
        assert result.stdout.strip() == f'String value is: aios/{ns}/', result.stderr


def test_topic_echo_receives_bodies_with_the_image_header(stack):
    probe, env = stack['probe'], stack['env']
    echo = subprocess.Popen(
        ['ros2', 'topic', 'echo', '--once', '/front/bodies', 'aios_ros/msg/SmplxBodyArray']
        + ['--field', 'header'],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        pub = probe.image_pubs['front']
        while not (probe.node.count_subscribers('/front/bodies') and pub.get_subscription_count()):
            assert time.monotonic() < deadline, 'ros2 topic echo never subscribed'
            time.sleep(0.1)
        # The probe seeing the echo's subscription does not mean the node's (volatile) bodies
        # writer has matched it yet; under load that takes seconds, and a body array published
        # before is never delivered to the echo. So frames keep coming until one answer arrives.
        deadline, stamp = time.monotonic() + 120, 7
        while echo.poll() is None:
            assert time.monotonic() < deadline, stack['launch'].output
            pub.publish(image(stamp))
            stamp += 1
            time.sleep(1.0)
        out, err = echo.communicate(timeout=10)
    finally:
        echo.kill()
    stack['timings']['launch -> first bodies message (s)'] = (
        time.monotonic() - stack['launch'].started
    )
    header = yaml.safe_load(out.split('---')[0])
    assert 7 <= header['stamp']['sec'] < stamp, (header, err)
    assert header == {
        'stamp': {'sec': header['stamp']['sec'], 'nanosec': 424242},
        'frame_id': 'front_optical',
    }, err


def test_diagnostics_hold_one_status_per_node(stack):
    probe = stack['probe']
    deadline = time.monotonic() + 30
    wanted = {'/front/aios_node: pipeline', '/rear/aios_node: pipeline'}
    while not wanted <= {s.name for a in probe.diagnostics for s in a.status}:
        assert time.monotonic() < deadline, {s.name for a in probe.diagnostics for s in a.status}
        time.sleep(0.1)


def test_ros2_lifecycle_drives_the_node(stack):
    env, node = stack['env'], '/rear/aios_node'
    probe = stack['probe'].node

    def lifecycle(*args: str) -> str:
        result = ros2(env, 'lifecycle', *args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    assert lifecycle('get', node).startswith('active')
    assert 'Transitioning successful' in lifecycle('set', node, 'deactivate')
    assert lifecycle('get', node).startswith('inactive')
    eventually(lambda: not probe.count_subscribers('/rear/image'), 'subscriptions released')
    assert probe.count_publishers('/rear/bodies') == 1  # still configured
    assert 'Transitioning successful' in lifecycle('set', node, 'activate')
    eventually(lambda: probe.count_subscribers('/rear/image'), 'subscribed again')
    lifecycle('set', node, 'deactivate')
    assert 'Transitioning successful' in lifecycle('set', node, 'cleanup')  # model freed
    assert lifecycle('get', node).startswith('unconfigured')
    eventually(lambda: not probe.count_publishers('/rear/bodies'), 'publishers destroyed')
    assert 'Transitioning successful' in lifecycle('set', node, 'shutdown')
    # finalized: the process ends by itself, and launch calls that a clean finish
    stack['launch'].wait_for('process has finished cleanly', timeout_s=20)


def test_ctrl_c_to_ros2_run_while_frames_flow(stack):
    # SIGINT: ros2run's own wrapper dies of a SIGTERM sent to it (exit -15) whatever the node does;
    # the node's SIGTERM handling is covered in test_node_signals.py
    run, probe = stack['run'], stack['probe']
    probe.flow('solo')
    run.wait_for('model warmed up')
    time.sleep(3.0)
    code, seconds = run.interrupt(signal.SIGINT)
    stack['timings']['ros2 run Ctrl-C -> exit (s)'] = seconds
    assert code == 0, run.output
    assert 'Traceback' not in run.output and 'frame failed' not in run.output, run.output


def test_ctrl_c_to_ros2_launch_while_frames_flow(stack):
    launch, probe = stack['launch'], stack['probe']
    probe.flow('front')
    time.sleep(3.0)
    code, seconds = launch.interrupt(signal.SIGINT)  # the group: terminal and launch both send
    stack['timings']['ros2 launch Ctrl-C -> exit (s)'] = seconds
    out = launch.output
    assert code == 0, out
    assert 'process has died' not in out and 'Traceback' not in out, out
    assert 'frame failed' not in out and 'stopped by SIGINT' in out, out


def test_tf_frames_per_person_match_the_published_joints(cli_env):
    """``ros2 topic echo /tf`` (tf2_msgs comes with the real tools) receives one transform per
    tracked person and joint (default: pelvis, head) at the position the bodies publish. The node
    runs the test estimator (three people in these images) with the TF defaults."""
    node = Launched(
        [sys.executable, str(HERE / 'node_double_main.py'), '0', '--ros-args']
        + ['-r', '__ns:=/tfcam', '-p', 'tracker.n_init:=1'],
        cli_env,
    )
    probe = Probe(('tfcam',))
    bodies: list = []
    probe.node.create_subscription(SmplxBodyArray, '/tfcam/bodies', bodies.append, qos.BODIES)
    echo = subprocess.Popen(
        ['ros2', 'topic', 'echo', '--once', '/tf', 'tf2_msgs/msg/TFMessage'],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        node.wait_for('subscribed to')
        deadline, stamp = time.monotonic() + 60, 1
        while echo.poll() is None:
            assert time.monotonic() < deadline, node.output
            probe.image_pubs['tfcam'].publish(image(stamp))
            stamp += 1
            time.sleep(0.2)
        out, err = echo.communicate(timeout=10)
        (transforms,) = yaml.safe_load(out.split('---')[0]).values()
        sent = transforms[0]['header']['stamp']
        eventually(
            lambda: any(b.header.stamp.sec == sent['sec'] for b in bodies), 'bodies of that frame'
        )
    finally:
        echo.kill()
        node.kill()
        probe.close()
    (frame,) = [b for b in bodies if b.header.stamp.sec == sent['sec']]
    assert len(frame.bodies) == 3, err
    expected = {
        f'aios/{person.track_id}/{joint}': np.reshape(person.joints_3d, (-1, 3))[
            BODY_HEAD_JOINTS.index(joint)
        ]
        for person in frame.bodies
        for joint in ('pelvis', 'head')
    }
    assert sorted(t['child_frame_id'] for t in transforms) == sorted(expected)
    for t in transforms:
        assert t['header'] == {'stamp': sent, 'frame_id': 'front_optical'}
        position = [t['transform']['translation'][a] for a in 'xyz']
        np.testing.assert_allclose(position, expected[t['child_frame_id']], atol=1e-4)
        rotation = [t['transform']['rotation'][a] for a in 'xyzw']
        assert abs(np.linalg.norm(rotation) - 1.0) < 1e-6


def test_one_launch_serves_two_cameras_with_one_model(cli_env, config_file):
    """``ros2 launch aios_ros camera.launch.py cameras:=[left,right]``: one node reads both
    cameras and answers each on its own topics, with that camera's headers."""
    launch = Launched(
        ['ros2', 'launch', 'aios_ros', 'camera.launch.py', 'cameras:=[left,right]']
        + [f'config:={config_file}'],
        cli_env,
    )
    probe = Probe(('left', 'right'))
    echoes = {
        cam: subprocess.Popen(
            ['ros2', 'topic', 'echo', '--once', f'/{cam}/bodies', 'aios_ros/msg/SmplxBodyArray']
            + ['--field', 'header'],
            env=cli_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cam in ('left', 'right')
    }
    first_stamp = {'left': 1000, 'right': 5000}  # the cameras' stamps never coincide
    try:
        launch.wait_for('subscribed to', count=2)
        result = ros2(cli_env, 'param', 'get', '/aios_node', 'node.cameras')
        assert result.stdout.strip() == "String values are: ['left', 'right']", result.stderr
        deadline, k = time.monotonic() + 90, 0
        while any(echo.poll() is None for echo in echoes.values()):
            assert time.monotonic() < deadline, launch.output
            for cam, pub in probe.image_pubs.items():
                pub.publish(image(first_stamp[cam] + k))
            k += 1
            time.sleep(0.3)
        headers = {
            cam: yaml.safe_load(echo.communicate(timeout=10)[0].split('---')[0])
            for cam, echo in echoes.items()
        }
    finally:
        for echo in echoes.values():
            echo.kill()
        probe.close()
        launch.kill()
    for cam, header in headers.items():
        assert first_stamp[cam] <= header['stamp']['sec'] < first_stamp[cam] + k, headers
        assert header['stamp']['nanosec'] == 424242 and header['frame_id'] == 'front_optical'
    assert 'frame failed' not in launch.output, launch.output
