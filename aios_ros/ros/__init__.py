"""ROS 2 layer: the camera node and the pure message, marker and image converters it uses."""
