"""Temporal stage: identity tracking, per-identity buffers, STAF-style fusion, output filters."""
