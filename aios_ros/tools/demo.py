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
import shutil
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np

from aios_ros.config import ConfigError
from aios_ros.tools.make_sample import DEFAULT_OUT as SAMPLE_DIR, ensure_sample
from aios_ros.tools.replay import print_summary
from aios_ros.tools.replay_run import ReplayOptions, run_replay

DEFAULT_OUT = Path(__file__).resolve().parents[2] / 'out' / 'demo'
DEMO_SHORT_SIDE = 256
VIDEO_FPS = 10.0


class OverlayWriter:
    """PNG per frame plus one MP4 (mp4v) of all frames."""

    def __init__(self, folder: Path, video: Path) -> None:
        self.folder, self.video_path = folder, video
        self.folder.mkdir(parents=True, exist_ok=True)
        self.video: Optional[cv2.VideoWriter] = None
        self.count = 0

    def __call__(self, index: int, image: np.ndarray) -> None:
        cv2.imwrite(str(self.folder / f'frame_{index:04d}.png'), image)
        if self.video is None:
            fourcc = cv2.VideoWriter_fourcc(*'mp4v')
            self.video = cv2.VideoWriter(str(self.video_path), fourcc, VIDEO_FPS,
                                         (image.shape[1], image.shape[0]))
        self.video.write(image)
        self.count += 1

    def close(self) -> None:
        if self.video is not None:
            self.video.release()


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog='aios_demo', description=__doc__.split('\n\n')[0])
    p.add_argument('--out', type=Path, default=DEFAULT_OUT, help='output folder (replaced)')
    p.add_argument('--frames', type=int, default=None, help='replay only the first N frames')
    p.add_argument('--short-side', type=int, default=DEMO_SHORT_SIDE,
                   help='network input short side, px (official: 800)')
    p.add_argument('--checkpoint', default=None, help='AiOS checkpoint (aios_checkpoint.pth)')
    p.add_argument('--smplx', default=None, help='SMPL-X folder (SMPLX_NEUTRAL.npz)')
    p.add_argument('--config', type=Path, default=None, help='parameter file')
    return p.parse_args(argv)


def run(a: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    sample = ensure_sample(SAMPLE_DIR)
    if a.out.exists():
        shutil.rmtree(a.out)
    a.out.mkdir(parents=True)
    sink = OverlayWriter(a.out / 'overlay', a.out / 'overlay.mp4')
    options = ReplayOptions(bag=sample, out=a.out / 'bag', config=a.config,
                            checkpoint=a.checkpoint, smplx=a.smplx, short_side=a.short_side,
                            max_frames=a.frames, overlay_sink=sink)
    try:
        summary = run_replay(options)
    finally:
        sink.close()
    print_summary(summary, options.out)
    print(f'  overlay: {sink.count} PNGs in {sink.folder}, video {sink.video_path}')
    _print_accuracy(sample / 'ground_truth.npz', options.out)
    print(f'demo wall time: {time.perf_counter() - t0:.0f} s')
    if summary.note:
        print(f'NOTE: {summary.note} (pass --checkpoint to use the trained AiOS model)')
    return 0


def _print_accuracy(gt_path: Path, bag: Path) -> None:
    """Detection F1 and MPJPE of both streams on the replayed frames (no vertices in the bag)."""
    from aios_ros.evaluation.bag_table import tables_from_bag
    from aios_ros.evaluation.layout import load_table
    from aios_ros.evaluation.report import evaluate
    gt = load_table(gt_path)
    for stream, table in tables_from_bag(bag).items():
        r = evaluate(gt, table)
        mpjpe = r['mpjpe'].get('all')
        print(f'  accuracy vs ground truth ({stream}): F1 {r["f1"]:.2f} '
              f'(TP {r["tp"]}, FP {r["fp"]}, FN {r["fn"]}), MPJPE '
              + ('n/a' if mpjpe is None else f'{mpjpe:.0f} mm'))


def main(argv: Optional[Sequence[str]] = None) -> int:
    a = parse_args(argv)
    try:
        return run(a)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        print(f'aios_demo: error: {exc}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('aios_demo: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    raise SystemExit(main())
