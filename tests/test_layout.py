"""The package's import rule, checked on the source with ``ast`` (docs/architecture.md).

Every subpackage of ``aios_ros`` may import only the subpackages below it in :data:`ALLOWED`;
``core`` imports nothing of the package. Nothing imports a synthetic stand-in except the demo,
the command-line tools and ``synthetic`` itself, and the ROS-free core of the package never
imports ROS. Whatever the package imports from outside is declared for a ROS 2 install: a user
there gets it from ``rosdep install`` (package.xml) or ``pip install -r requirements-apt.txt``;
an import covered by neither would fail only on that user's machine, never here, where every
package comes from PyPI.
"""

from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ET
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


def _statements(tree: ast.AST, in_functions: bool) -> list[ast.AST]:
    """Every node of ``tree``; without ``in_functions``, none inside a function body."""
    nodes, todo = [], [tree]
    while todo:
        node = todo.pop()
        nodes.append(node)
        if in_functions or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            todo += ast.iter_child_nodes(node)
    return nodes


def imports_of(path: Path, in_functions: bool = True) -> set[str]:
    """Absolute names of every module ``path`` imports, at any depth of the file.

    in_functions=False: only what importing ``path`` runs (a function's import waits for a call).
    """
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    names = set()
    for node in _statements(ast.parse(path.read_text()), in_functions):
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


# Modules the offline tools and the ROS-free suites import where no ROS is installed (the
# numpy-1 CI venv, benchmarks/temporal_eval.py): nothing they reach may import ROS.
ROS_FREE_ENTRIES = ('aios_ros.app.settings',)


def _reached_modules(name: str) -> set[Path]:
    """The files of ``name`` and of every module of the package importing it loads."""
    seen, todo = set(), [name]
    while todo:
        path = PACKAGE.parent.joinpath(*todo.pop().split('.'))
        path = path / '__init__.py' if path.is_dir() else path.with_suffix('.py')
        if path in seen or not path.is_file():
            continue  # a name imported from a module, not a module itself
        seen.add(path)
        todo += [n for n in imports_of(path, in_functions=False) if n.startswith('aios_ros.')]
    return seen


@pytest.mark.parametrize('entry', ROS_FREE_ENTRIES)
def test_what_runs_without_ros_reaches_no_ros_import(entry):
    ros = {
        f'{path.relative_to(PACKAGE.parent)} imports {name}'
        for path in _reached_modules(entry)
        for name in imports_of(path, in_functions=False)
        if name.split('.')[0] in ROS_MODULES or name == 'aios_ros.msg'
    }
    assert len(_reached_modules(entry)) > 1 and not ros, sorted(ros)


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


# Third-party Python modules -> their rosdep key (rosdistro's rosdep/python.yaml).
ROSDEP_KEYS = {
    'numpy': 'python3-numpy',
    'scipy': 'python3-scipy',
    'yaml': 'python3-yaml',
    'cv2': 'python3-opencv',
    'tqdm': 'python3-tqdm',
    'filterpy': 'python3-filterpy-pip',
    'rosbags': 'python3-rosbags-pip',
}
# Modules installed by pip on the apt path (no rosdep key, or a build apt does not ship).
PIP_ONLY = {'torch', 'smplx'}
# Apt's builds that a pip install must not replace: cv_bridge and cv2 are built against them.
APT_OWNED = {'numpy', 'scipy', 'opencv-python', 'opencv-python-headless'}


def _imported_modules() -> set[str]:
    paths = [*PACKAGE.parent.glob('aios_ros/**/*.py'), *PACKAGE.parent.glob('launch/*.py')]
    modules = {name.split('.')[0] for path in paths for name in imports_of(path)}
    return modules - set(sys.stdlib_module_names) - {'aios_ros', 'benchmarks', '_typeshed'}


def _declared() -> set[str]:
    root = ET.parse(PACKAGE.parent / 'package.xml').getroot()
    tags = ('depend', 'exec_depend', 'build_depend', 'buildtool_depend')
    return {element.text.strip() for tag in tags for element in root.iter(tag)}


def _apt_requirements() -> dict[str, str]:
    lines = (PACKAGE.parent / 'requirements-apt.txt').read_text().splitlines()
    pins = [line.split('#')[0].strip() for line in lines]
    return dict(pin.split('==') for pin in pins if pin)


def test_every_imported_package_is_declared_or_pip_installed():
    declared, pip = _declared(), _apt_requirements()
    missing = []
    for module in sorted(_imported_modules()):
        if module not in pip and ROSDEP_KEYS.get(module, module) not in declared:
            missing.append(module)
    assert not missing, f'imported but neither in package.xml nor requirements-apt.txt: {missing}'


def test_apt_requirements_leave_apts_numeric_stack_alone():
    pip = _apt_requirements()
    # A '-pip' rosdep key installs that PyPI package with pip: it must not be an apt-owned one.
    pip_keys = {key[len('python3-') : -len('-pip')] for key in _declared() if key.endswith('-pip')}
    assert set(pip) == PIP_ONLY
    assert not APT_OWNED & (set(pip) | pip_keys)
