"""package.xml declares what the code imports; the apt path's pip file adds only what rosdep lacks.

A user on a ROS 2 install gets the dependencies from ``rosdep install`` (package.xml) plus
``pip install -r requirements-apt.txt``; an import covered by neither fails only on that user's
machine, never here, where every package comes from PyPI.
"""

from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
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
PIP_ONLY = {'torch': 'torch', 'smplx': 'smplx'}
# Apt's builds that a pip install must not replace: cv_bridge and cv2 are built against them.
APT_OWNED = {'numpy', 'scipy', 'opencv-python', 'opencv-python-headless'}


def _imported_modules() -> set[str]:
    modules: set[str] = set()
    for path in [*REPO_ROOT.glob('aios_ros/**/*.py'), *REPO_ROOT.glob('launch/*.py')]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split('.')[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split('.')[0])
    return modules - set(sys.stdlib_module_names) - {'aios_ros', 'benchmarks', '_typeshed'}


def _declared() -> set[str]:
    root = ET.parse(REPO_ROOT / 'package.xml').getroot()
    tags = ('depend', 'exec_depend', 'build_depend', 'buildtool_depend')
    return {element.text.strip() for tag in tags for element in root.iter(tag)}


def _apt_requirements() -> dict[str, str]:
    lines = (REPO_ROOT / 'requirements-apt.txt').read_text().splitlines()
    pins = [line.split('#')[0].strip() for line in lines]
    return dict(pin.split('==') for pin in pins if pin)


def test_every_imported_package_is_declared_or_pip_installed():
    declared, pip = _declared(), _apt_requirements()
    missing = []
    for module in sorted(_imported_modules()):
        if module in PIP_ONLY:
            ok = PIP_ONLY[module] in pip
        else:
            ok = ROSDEP_KEYS.get(module, module) in declared
        if not ok:
            missing.append(module)
    assert not missing, f'imported but neither in package.xml nor requirements-apt.txt: {missing}'


def test_apt_requirements_leave_apts_numeric_stack_alone():
    pip = _apt_requirements()
    # A '-pip' rosdep key installs that PyPI package with pip: it must not be an apt-owned one.
    pip_keys = {key[len('python3-') : -len('-pip')] for key in _declared() if key.endswith('-pip')}
    assert set(pip) == set(PIP_ONLY.values())
    assert not APT_OWNED & (set(pip) | pip_keys)
