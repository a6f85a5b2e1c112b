"""Geometry helpers shared by the model, temporal fusion and the ROS messages."""
