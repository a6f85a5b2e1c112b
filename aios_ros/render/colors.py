"""One colour per track id, shared by the overlay image and the RViz markers."""

from __future__ import annotations

import colorsys
from typing import Optional

# Golden-ratio hue steps keep consecutive ids far apart on the colour wheel.
_GOLDEN = 0.6180339887498949
UNTRACKED_COLOR = (0.75, 0.75, 0.75)


def track_color(track_id: Optional[int]) -> tuple[float, float, float]:
    """RGB in [0, 1] for ``track_id``; the same id always gives the same colour.

    ``None`` (no identity yet) gives a neutral grey.
    """
    if track_id is None:
        return UNTRACKED_COLOR
    hue = (int(track_id) * _GOLDEN) % 1.0
    return colorsys.hsv_to_rgb(hue, 0.7, 0.95)
