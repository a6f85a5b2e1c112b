"""Start aios_node for one camera, or for several cameras sharing one model.

    ros2 launch aios_ros camera.launch.py image:=/camera/color/image_raw \
        camera_info:=/camera/color/camera_info checkpoint:=/path/aios_checkpoint.pth \
        smplx_path:=/path/models

Several cameras, one model (batched forwards): `cameras:=[front,rear]` (or `front,rear`); the node
then reads front/image + front/camera_info, rear/image + rear/camera_info (in its namespace) and
publishes front/bodies, rear/bodies, ...; `image`/`camera_info` do not apply, remap per camera
with `--ros-args -r front/image:=...` or publish there. One node per camera instead: one launch
per camera with its own `namespace:=front` / `namespace:=rear` (multi_camera.launch.py).
Bag replay: `use_sim_time:=true drop_policy:=every_frame`. `autostart:=false` leaves the node
unconfigured for `ros2 lifecycle set`; `rviz:=true` also starts RViz with config/aios.rviz.
In a namespace the TF frames per person are aios/<namespace>/<track_id>/<joint> (`tf_prefix`).
"""

from ament_index_python.packages import PackageNotFoundError, get_package_prefix
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

ARGUMENTS = [
    ('namespace', '', 'namespace of the node and its output topics (one per camera)'),
    (
        'cameras',
        '',
        'camera names sharing one model, e.g. [front,rear]; empty = the one image/camera_info pair',
    ),
    ('image', 'image', 'input image topic; with transport:=compressed, <image>/compressed is used'),
    ('camera_info', 'camera_info', 'CameraInfo topic of that camera (intrinsics K)'),
    ('transport', 'raw', 'raw (sensor_msgs/Image) or compressed (sensor_msgs/CompressedImage)'),
    ('drop_policy', 'latest', 'latest (live: skip stale frames) or every_frame (bag replay)'),
    (
        'config',
        PathJoinSubstitution([FindPackageShare('aios_ros'), 'config', 'camera.yaml']),
        'parameter file (ros__parameters layout)',
    ),
    (
        'checkpoint',
        '',
        'AiOS checkpoint (aios_checkpoint.pth); empty = model.checkpoint of the config file',
    ),
    (
        'smplx_path',
        '',
        'folder with smplx/SMPLX_NEUTRAL.npz; empty = model.smplx_path of the config file',
    ),
    ('use_sim_time', 'false', 'use /clock (true for rosbag replay with --clock)'),
    ('autostart', 'true', 'configure and activate at start (false: use `ros2 lifecycle set`)'),
    ('rviz', 'false', 'also start RViz with config/aios.rviz (when rviz2 is installed)'),
    (
        'tf_prefix',
        '',
        'prefix of the TF frames per person; empty = aios/<namespace>/ in a namespace (cameras '
        'never share frame names), else node.tf.prefix of the config file',
    ),
]
CHOICES = {
    'transport': ['raw', 'compressed'],
    'drop_policy': ['latest', 'every_frame'],
    'use_sim_time': ['true', 'false'],
    'autostart': ['true', 'false'],
    'rviz': ['true', 'false'],
}


def launch_setup(context) -> list:
    """The node, with the launch arguments resolved (so empty model paths can be left out and
    do not override the config file)."""

    def arg(name):
        return LaunchConfiguration(name).perform(context)

    overrides = {
        'node.image_transport': arg('transport'),
        'node.drop_policy': arg('drop_policy'),
        'use_sim_time': arg('use_sim_time') == 'true',
        'node.autostart': arg('autostart') == 'true',
    }
    for parameter, name in (('model.checkpoint', 'checkpoint'), ('model.smplx_path', 'smplx_path')):
        if arg(name):
            overrides[parameter] = arg(name)
    cameras = [name.strip() for name in arg('cameras').strip('[]').split(',') if name.strip()]
    if cameras:
        overrides['node.cameras'] = cameras
    # Track ids are unique per node only: two cameras publishing aios/1/pelvis would give one TF
    # frame two parents.
    namespace = arg('namespace').strip('/')
    if arg('tf_prefix') or namespace:
        overrides['node.tf.prefix'] = arg('tf_prefix') or f'aios/{namespace}/'
    return [
        *rviz(arg('rviz') == 'true'),
        Node(
            package='aios_ros',
            executable='aios_node',
            name='aios_node',
            namespace=arg('namespace'),
            output='screen',
            emulate_tty=True,
            parameters=[arg('config'), overrides],  # later entries win
            remappings=[('image', arg('image')), ('camera_info', arg('camera_info'))],
        ),
    ]


def rviz(wanted: bool) -> list:
    """RViz with the package's display config, if asked for and installed."""
    if not wanted:
        return []
    try:
        get_package_prefix('rviz2')
    except PackageNotFoundError:
        return [LogInfo(msg='rviz:=true but rviz2 is not installed: starting without RViz')]
    config = PathJoinSubstitution([FindPackageShare('aios_ros'), 'config', 'aios.rviz'])
    return [Node(package='rviz2', executable='rviz2', arguments=['-d', config], output='log')]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                name, default_value=default, description=description, choices=CHOICES.get(name)
            )
            for name, default, description in ARGUMENTS
        ]
        + [OpaqueFunction(function=launch_setup)]
    )
