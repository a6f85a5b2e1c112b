"""The README's first command: replay the bundled sample and show what came out.

    python -m aios_ros.tools.demo [--out out/demo] [--frames N] [--short-side PX]
           [--checkpoint PTH] [--smplx DIR] [--config camera.yaml]

1. generates the synthetic sample bag (data/sample_bag/) if it is missing,
2. replays it through the node's pipeline into ``<out>/bag`` (aios_ros.tools.replay),
3. writes the overlay of every frame as ``<out>/overlay/frame_NNNN.png`` and ``<out>/overlay.mp4``,
4. prints a summary (frames, people per frame, tracks, per-frame latency, accuracy against the
   sample's ground truth).

Without a checkpoint the model runs with seeded random weights: it finds no real people and
every output says "untrained weights: poses are meaningless". The network input defaults to a
short side of 256 px so that the whole sample (100 frames) takes about two minutes on a 2-core
CPU; ``--frames`` limits how many frames are replayed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from aios_ros.core.config import ConfigError
from aios_ros.demo.sample_demo import DEFAULT_OUT, DEMO_SHORT_SIDE, run_demo


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog='aios_demo', description=__doc__.split('\n\n')[0])
    p.add_argument('--out', type=Path, default=DEFAULT_OUT, help='output folder (replaced)')
    p.add_argument('--frames', type=int, default=None, help='replay only the first N frames')
    p.add_argument(
        '--short-side',
        type=int,
        default=DEMO_SHORT_SIDE,
        help='network input short side, px (official: 800)',
    )
    p.add_argument('--checkpoint', default=None, help='AiOS checkpoint (aios_checkpoint.pth)')
    p.add_argument('--smplx', default=None, help='SMPL-X folder (SMPLX_NEUTRAL.npz)')
    p.add_argument('--config', type=Path, default=None, help='parameter file')
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    a = parse_args(argv)
    try:
        return run_demo(a.out, a.frames, a.short_side, a.checkpoint, a.smplx, a.config)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        print(f'aios_demo: error: {exc}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('aios_demo: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    raise SystemExit(main())
