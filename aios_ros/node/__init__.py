"""The rclpy camera node: subscriptions, worker threads, publishers, parameters and diagnostics
around the frame processor.
"""
