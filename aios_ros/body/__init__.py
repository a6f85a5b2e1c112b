"""SMPL-X body model: AiOS-compatible layer, numpy wrapper, display decimation, synthetic model."""
