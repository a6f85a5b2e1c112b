"""Drawing estimated bodies: per-track colours and the image overlay (pure numpy + OpenCV)."""
