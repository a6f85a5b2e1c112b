"""launch/camera.launch.py and config/camera.yaml against the node and the CMake install rules.

`launch`/`launch_ros` have no PyPI wheels, so what needs them is skipped here (and runs on a
ROS install); everything else is checked statically.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aios_ros.app.settings import SECTIONS
from aios_ros.core.config import flatten, read_parameters
from aios_ros.node.params import param_specs

REPO = Path(__file__).resolve().parents[2]
LAUNCH_FILE = REPO / 'launch' / 'camera.launch.py'
CONFIG_FILE = REPO / 'config' / 'camera.yaml'
PYTHON_TYPES = {'bool': bool, 'int': int, 'float': float, 'str': str}


@pytest.fixture(scope='module')
def specs() -> dict:
    return {spec.name: spec for spec in param_specs(SECTIONS)}


@pytest.fixture(scope='module')
def launch_tree() -> ast.Module:
    return ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))


def string_constants(tree: ast.AST) -> list[str]:
    return [
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def test_launch_names_an_executable_that_cmake_installs(launch_tree):
    calls = [
        n
        for n in ast.walk(launch_tree)
        if isinstance(n, ast.Call) and getattr(n.func, 'id', None) == 'Node'
    ]
    packages = [
        k.value.value for c in calls for k in c.keywords if k.arg == 'package'
    ]  # the node, and rviz2 for rviz:=true
    assert sorted(packages) == ['aios_ros', 'rviz2']
    ours = next(
        c for c in calls if any(getattr(k.value, 'value', '') == 'aios_ros' for k in c.keywords)
    )
    kwargs = {k.arg: k.value for k in ours.keywords}
    executable = kwargs['executable'].value
    cmake = (REPO / 'CMakeLists.txt').read_text()
    installed = re.search(r'install\(PROGRAMS([^)]*)DESTINATION lib/\$\{PROJECT_NAME\}\)', cmake)
    assert installed and f'scripts/{executable}' in installed.group(1).split()
    script = REPO / 'scripts' / executable
    assert script.is_file() and os.access(script, os.X_OK)
    assert 'from aios_ros.node.node import main' in script.read_text()


def test_launch_passes_only_declared_parameters(launch_tree, specs):
    (setup,) = [
        n for n in launch_tree.body if isinstance(n, ast.FunctionDef) and n.name == 'launch_setup'
    ]
    passed = {s for s in string_constants(setup) if re.fullmatch(r'[a-z_]+(\.[a-z_]+)+', s)}
    assert {
        'node.image_transport',
        'node.drop_policy',
        'model.checkpoint',
        'model.smplx_path',
    } <= passed
    assert passed <= set(specs), f'not declared by the node: {passed - set(specs)}'
    assert 'use_sim_time' in string_constants(launch_tree)  # declared by every rclpy node
    choices = {
        'transport': specs['node.image_transport'].choices,
        'drop_policy': specs['node.drop_policy'].choices,
    }
    source = LAUNCH_FILE.read_text()
    for argument, values in choices.items():
        assert f"'{argument}': {list(values)!r}" in source


def test_launch_remaps_the_topics_the_node_subscribes_to():
    node_source = (REPO / 'aios_ros' / 'node' / 'node.py').read_text()
    launch_source = LAUNCH_FILE.read_text()
    for topic in ('image', 'camera_info'):
        assert f"('{topic}', arg('{topic}'))" in launch_source
        assert f"'{topic}'" in node_source


def test_default_config_exists_and_is_installed(launch_tree):
    constants = string_constants(launch_tree)
    assert 'config' in constants and 'camera.yaml' in constants and CONFIG_FILE.is_file()
    cmake = (REPO / 'CMakeLists.txt').read_text()
    assert re.search(
        r'install\(DIRECTORY[^)]*\bconfig\b[^)]*DESTINATION share/\$\{PROJECT_NAME\}', cmake
    )


def test_every_config_key_is_a_declared_parameter_of_the_right_type(specs):
    values = flatten(read_parameters(CONFIG_FILE))
    unknown = sorted(set(values) - set(specs))
    assert not unknown, f'config/camera.yaml keys the node does not declare: {unknown}'
    for name, value in values.items():
        kind = specs[name].kind
        items = value if kind.endswith('[]') else [value]
        expected = PYTHON_TYPES[kind.rstrip('[]')]
        # ROS parameters are strictly typed: 1 is not accepted for a double parameter.
        assert all(type(v) is expected for v in items), f'{name}: {value!r} is not {kind}'
        if specs[name].choices:
            assert value in specs[name].choices, name


def test_node_section_documents_the_defaults(specs):
    values = flatten(read_parameters(CONFIG_FILE))
    node_specs = [s for s in specs.values() if s.name.startswith('node.')]
    assert {s.name: s.default for s in node_specs} == {s.name: values[s.name] for s in node_specs}


def test_launch_description_with_a_ros_install():
    pytest.importorskip('launch', reason='`launch` is not on PyPI; runs where ROS 2 is installed')
    pytest.importorskip('launch_ros', reason='`launch_ros` is not on PyPI')
    import importlib.util

    from launch.actions import DeclareLaunchArgument

    from launch import LaunchContext

    spec = importlib.util.spec_from_file_location('camera_launch', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    names = {a.name for a in description.entities if isinstance(a, DeclareLaunchArgument)}
    assert {'namespace', 'image', 'camera_info', 'config', 'use_sim_time', 'checkpoint'} <= names
    context = LaunchContext()
    for action in description.entities:
        if isinstance(action, DeclareLaunchArgument):
            context.launch_configurations[action.name] = (
                str(CONFIG_FILE) if action.name == 'config' else ''
            )
    context.launch_configurations.update(
        transport='raw', drop_policy='latest', use_sim_time='false', checkpoint='/w.pth'
    )
    (node,) = module.launch_setup(context)
    assert node.node_executable == 'aios_node'


def test_the_node_module_runs_as_a_program_and_refuses_a_bad_parameter():
    # `python -m aios_ros.node.node` is the node's own entry point (as `ros2 run` calls main);
    # a bad parameter must end it with one FATAL line and exit 1, before any model is built
    result = subprocess.run(
        [sys.executable, '-m', 'aios_ros.node.node', '--ros-args', '-p', 'model.short_side:=-5'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert 'cannot start' in result.stderr + result.stdout
    assert 'Traceback' not in result.stderr


def test_rviz_config_shows_the_node_topics_reliably():
    config = yaml.safe_load((REPO / 'config' / 'aios.rviz').read_text())
    displays = {d['Class']: d for d in config['Visualization Manager']['Displays']}
    # the launch file's default namespace is empty: the node's relative topics resolve to /<name>
    assert displays['rviz_default_plugins/MarkerArray']['Topic']['Value'] == '/markers'
    assert displays['rviz_default_plugins/Image']['Topic']['Value'] == '/overlay'
    assert 'rviz_default_plugins/TF' in displays
    for display in displays.values():
        if 'Topic' in display:  # RViz's default is reliable too; said explicitly
            assert display['Topic']['Reliability Policy'] == 'Reliable'
