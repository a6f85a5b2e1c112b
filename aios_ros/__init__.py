"""aios_ros: real-time multi-person SMPL-X (body, hands, face) estimation for ROS 2.

The generated message modules (``aios_ros.msg``) live in the colcon install space while the
hand-written modules live in the source tree; extending ``__path__`` lets one import name serve
both, whichever copy comes first on ``sys.path``.
"""

__path__ = __import__('pkgutil').extend_path(__path__, __name__)
