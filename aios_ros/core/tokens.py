"""Per-person token layouts of the decoder's refinement stages.

After decoder layer 1 every kept person (group) owns a block of T consecutive tokens
(person-major order). Slots are fixed:

* body refinement (layers 2-3), T = 21:
  ``[0 body box, 1..17 body keypoints, 18 left-hand box, 19 right-hand box, 20 face box]``
* whole-body refinement (layers 4-5), T = 39:
  ``[0 body box, 1..17 body kps, 18 lhand box, 19..24 lhand kps, 25 rhand box,
  26..31 rhand kps, 32 face box, 33..38 face kps]``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

NUM_GROUPS = 100  # people (query groups) the decoder keeps after its person selection
TOKEN_DIM = 256  # width of every decoder token
NUM_BODY_KPS = 17
NUM_HAND_KPS = 6
NUM_FACE_KPS = 6


@dataclass(frozen=True)
class TokenLayout:
    """Slot indices of one person's token block (``*_kps`` are None before the hand/face
    expansion)."""

    size: int
    lhand_box: int
    rhand_box: int
    face_box: int
    lhand_kps: Optional[range] = None
    rhand_kps: Optional[range] = None
    face_kps: Optional[range] = None
    body_box: int = 0
    body_kps: range = range(1, 1 + NUM_BODY_KPS)

    @property
    def box_slots(self) -> tuple[int, int, int, int]:
        """Slots that may attend to the box tokens of other people."""
        return (self.body_box, self.lhand_box, self.rhand_box, self.face_box)


BODY_LAYOUT = TokenLayout(size=21, lhand_box=18, rhand_box=19, face_box=20)
WHOLE_BODY_LAYOUT = TokenLayout(
    size=39,
    lhand_box=18,
    lhand_kps=range(19, 25),
    rhand_box=25,
    rhand_kps=range(26, 32),
    face_box=32,
    face_kps=range(33, 39),
)


def span(slots: range) -> slice:
    """Tensor-indexing view of a contiguous slot range."""
    return slice(slots.start, slots.stop)


#: tokens per person in the final decoder layer, the block that temporal fusion reads
TOKENS_PER_PERSON = WHOLE_BODY_LAYOUT.size
