"""ROS message conversions without a node: SmplxBody messages, RViz markers, images, QoS profiles
and rosbag2 serialization.
"""
