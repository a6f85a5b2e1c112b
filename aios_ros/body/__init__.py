"""SMPL-X body model: the AiOS-compatible layer, its numpy wrapper, keypoint vertices and display
decimation.
"""
