"""pip install of the hand-written aios_ros Python package (development and non-ROS use).

The ROS 2 build (messages, `ros2 run` executables, launch/config) is CMakeLists.txt + colcon;
scripts/setup.sh installs this file in editable mode (`pip install -e . --no-deps`) so that the
console scripts below exist in the venv.
"""

from setuptools import find_packages, setup

setup(
    name='aios_ros',
    version='0.1.0',
    description='Real-time multi-person SMPL-X estimation (AiOS) for ROS 2',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(include=['aios_ros', 'aios_ros.*']),
    entry_points={
        'console_scripts': [
            'aios_node = aios_ros.node.node:main',
            'aios_replay = aios_ros.tools.replay:main',
        ],
    },
)
