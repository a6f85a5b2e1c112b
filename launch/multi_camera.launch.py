"""Start one aios_node per camera, `front` and `rear` (two models; one node with one model for
both: `camera.launch.py cameras:=[front,rear]`): camera.launch.py included once per namespace,
each in a scoped group so one camera's launch arguments never leak into the other's.

    ros2 launch aios_ros multi_camera.launch.py checkpoint:=/path/aios_checkpoint.pth

Topics: /front/image -> /front/bodies, ..., /rear/image -> /rear/bodies, ...; one diagnostics
status per node (/front/aios_node, /rear/aios_node). The other arguments of camera.launch.py
(config, checkpoint, smplx_path, transport, autostart, ...) apply to both cameras.
"""

from launch.actions import GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import PathJoinSubstitution, ThisLaunchFileDir

from launch import LaunchDescription

CAMERAS = ('front', 'rear')


def generate_launch_description() -> LaunchDescription:
    camera_launch = PathJoinSubstitution([ThisLaunchFileDir(), 'camera.launch.py'])
    return LaunchDescription(
        [
            GroupAction(
                [
                    IncludeLaunchDescription(
                        PythonLaunchDescriptionSource(camera_launch),
                        launch_arguments={'namespace': name}.items(),
                    )
                ],
                scoped=True,
            )
            for name in CAMERAS
        ]
    )
