"""The package's import rule, checked on the source with ``ast`` (docs/architecture.md).

Every subpackage of ``aios_ros`` may import only the subpackages below it in :data:`ALLOWED`;
``core`` imports nothing of the package. Nothing imports a synthetic stand-in except the demo,
the command-line tools and ``synthetic`` itself, and the ROS-free core of the package never
imports ROS.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'aios_ros'

#: subpackage -> the subpackages it may import (the generated ``msg`` counts as a ROS package)
ALLOWED: dict[str, set[str]] = {
    'core': set(),
    'geometry': {'core'},
    'body': {'core', 'geometry'},
    'model': {'core', 'geometry', 'body'},
    'temporal': {'core', 'geometry'},
    'render': {'core', 'geometry', 'body'},
    'ros': {'core', 'geometry', 'render', 'msg'},
    'evaluation': {'core', 'geometry', 'model', 'ros'},
    'app': {'core', 'geometry', 'body', 'model', 'temporal', 'render', 'ros'},
    'node': {'core', 'app', 'ros', 'msg'},
    'replay': {'core', 'app', 'ros'},
    'synthetic': {'core', 'geometry', 'body', 'render', 'evaluation'},
    'demo': {'core', 'app', 'replay', 'evaluation', 'synthetic'},
    'tools': {'core', 'app', 'replay', 'evaluation', 'demo', 'synthetic'},
}
ROS_FREE = ('core', 'geometry', 'body', 'model', 'temporal', 'render')
ROS_MODULES = (
    'rclpy',
    'std_msgs',
    'sensor_msgs',
    'geometry_msgs',
    'tf2_msgs',
    'visualization_msgs',
    'diagnostic_msgs',
    'rcl_interfaces',
    'builtin_interfaces',
    'ament_index_python',
    'rosbags',
)


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, at any depth of the file."""
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                base = '.'.join(parts[: len(parts) - node.level] + ((base,) if base else ()))
            names.add(base)
            names.update(f'{base}.{alias.name}' for alias in node.names)
    return names


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob('*.py') if p.parent != PACKAGE)


def subpackage(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0]


def imported_subpackages(path: Path) -> set[str]:
    return {
        name.split('.')[1]
        for name in imports_of(path)
        if name.startswith('aios_ros.') and name.split('.')[1] != subpackage(path)
    }


def test_every_subpackage_has_a_rule():
    found = {p.name for p in PACKAGE.iterdir() if (p / '__init__.py').is_file()}
    assert found == set(ALLOWED)


@pytest.mark.parametrize('path', modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_rule(path):
    extra = imported_subpackages(path) - ALLOWED[subpackage(path)]
    assert not extra, f'{subpackage(path)} may not import {sorted(extra)}'


@pytest.mark.parametrize(
    'path',
    [p for p in modules() if subpackage(p) in ROS_FREE],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_the_core_of_the_package_is_ros_free(path):
    ros = {n for n in imports_of(path) if n.split('.')[0] in ROS_MODULES or n == 'aios_ros.msg'}
    assert not ros, f'{path.name} imports ROS: {sorted(ros)}'


def test_no_cycle_between_subpackages():
    graph = {name: set() for name in ALLOWED}
    for path in modules():
        graph[subpackage(path)] |= imported_subpackages(path) - {'msg'}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(
            n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph[start]
        )

    assert [p for p in graph if reaches(p, p, set())] == []


def test_only_the_demo_and_the_tools_use_synthetic_stand_ins():
    users = {subpackage(p) for p in modules() if 'synthetic' in imported_subpackages(p)}
    assert users <= {'demo', 'tools'}


def test_tests_and_benchmarks_are_never_imported():
    for path in modules():
        top = {n.split('.')[0] for n in imports_of(path)}
        assert 'tests' not in top
        assert 'benchmarks' not in top or subpackage(path) == 'tools', path
