"""Accuracy evaluation of multi-person SMPL-X predictions against ground truth."""
