"""Everything made up, and nothing else: the SMPL-X-format stand-in model, the bundled sample, the
temporal scenes and noisy detections, the stand-in token heads.
"""
