"""The demo behind ``python -m aios_ros.tools.demo``: replay the bundled sample, show the result.

1. generates the synthetic sample bag (data/sample_bag/) if it is missing,
2. replays it through the node's frame processor into ``<out>/bag`` (:mod:`aios_ros.replay`),
3. writes the overlay of every frame as ``<out>/overlay/frame_NNNN.png`` and ``<out>/overlay.mp4``,
4. prints a summary (frames, people per frame, tracks, per-frame latency, accuracy against the
   sample's ground truth).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from aios_ros.replay.replayer import ReplayOptions, print_summary, run_replay
from aios_ros.synthetic.sample_bag import DEFAULT_OUT as SAMPLE_DIR
from aios_ros.synthetic.sample_bag import ensure_sample

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
            self.video = cv2.VideoWriter(
                str(self.video_path), fourcc, VIDEO_FPS, (image.shape[1], image.shape[0])
            )
        self.video.write(image)
        self.count += 1

    def close(self) -> None:
        if self.video is not None:
            self.video.release()


def run_demo(
    out: Path,
    frames: Optional[int],
    short_side: int,
    checkpoint: Optional[str],
    smplx: Optional[str],
    config: Optional[Path],
) -> int:
    """Replay the first ``frames`` (None: all) of the sample into ``out`` (replaced); the rest of
    the arguments override the parameter file ``config`` (None: the package's)."""
    t0 = time.perf_counter()
    sample = ensure_sample(SAMPLE_DIR)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    sink = OverlayWriter(out / 'overlay', out / 'overlay.mp4')
    options = ReplayOptions(
        bag=sample,
        out=out / 'bag',
        config=config,
        checkpoint=checkpoint,
        smplx=smplx,
        short_side=short_side,
        max_frames=frames,
        overlay_sink=sink,
    )
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
        print(
            f'  accuracy vs ground truth ({stream}): F1 {r["f1"]:.2f} '
            f'(TP {r["tp"]}, FP {r["fp"]}, FN {r["fn"]}), MPJPE '
            + ('n/a' if mpjpe is None else f'{mpjpe:.0f} mm')
        )
