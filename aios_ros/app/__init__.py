"""The application layer shared by the node and the offline replay: settings, runtime, intrinsics
and the per-camera frame processor.
"""
