"""Offline replay of rosbag2 files through the node's frame processor into an output bag."""
