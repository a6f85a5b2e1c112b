"""The bundled synthetic sample: a scripted multi-person scene rendered into a rosbag2."""
