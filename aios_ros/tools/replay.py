"""Offline replay of a rosbag2: every frame of the image topic(s) through the node's pipeline.

    python -m aios_ros.tools.replay --bag IN --out OUT [--topic T ...] [--config camera.yaml]
           [--checkpoint PTH] [--smplx DIR] [--short-side PX] [--storage sqlite3|mcap]
           [--include-inputs] [--no-overlay] [--max-frames N] [--strict]

Reads sqlite3 and mcap bags with ``rosbags``; writes a rosbag2 with, per image topic
(``/aios`` prefix; ``/aios/<camera namespace>`` when several image topics are replayed):
``bodies`` (SmplxBodyArray, raw stream), ``bodies_fused`` (fused stream), ``markers``
(MarkerArray), ``overlay/compressed`` (JPEG overlay), ``body_model_info`` (once, latched QoS),
optionally the input topics. Every output message carries the input image's header and is
stamped in the bag with that header's time. Exactly one message per input frame per stream.
Deterministic: the same input bag and configuration give byte-identical messages.
Bad frames (undecodable, too large, a repeated stamp, a damaged record) are skipped and counted
by reason; ``--strict`` makes the first one fatal. Whatever ends the run (the last frame, an
error, disk full, Ctrl-C, SIGTERM, SIGHUP) the output bag is finalised: it holds every message
written before the end and its metadata lists them. A signal stops after the current frame (a
second one aborts at once, still finalising the bag). Exit codes: 0 done, 1 the run ended by an
error (partial bag), 2 bad command line, input or output location (nothing written), 130
stopped by a signal.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Optional, Sequence

from aios_ros.core.config import ConfigError
from aios_ros.replay.replayer import (
    InputBagError,
    ReplayFailed,
    ReplayOptions,
    print_summary,
    run_replay,
)

#: signals that stop a replay after the current frame (the bag is finalised either way)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def parse_args(argv: Optional[Sequence[str]] = None) -> ReplayOptions:
    """Command line -> :class:`ReplayOptions`."""
    p = argparse.ArgumentParser(prog='aios_replay', description=__doc__.split('\n\n')[0])
    p.add_argument('--bag', required=True, type=Path, help='input rosbag2 folder (sqlite3 or mcap)')
    p.add_argument('--out', required=True, type=Path, help='output rosbag2 folder (must not exist)')
    p.add_argument(
        '--topic',
        action='append',
        default=None,
        help='image topic to replay (Image or CompressedImage); repeatable; '
        'default: every image topic in the bag',
    )
    p.add_argument(
        '--config',
        type=Path,
        default=None,
        help='parameter file (default: config/camera.yaml of the package)',
    )
    p.add_argument(
        '--checkpoint', default=None, help='AiOS checkpoint (overrides model.checkpoint)'
    )
    p.add_argument('--smplx', default=None, help='SMPL-X folder (overrides model.smplx_path)')
    p.add_argument(
        '--short-side',
        type=int,
        default=None,
        help='network input short side, px (overrides model.short_side)',
    )
    p.add_argument('--storage', choices=('sqlite3', 'mcap'), default='sqlite3')
    p.add_argument('--include-inputs', action='store_true', help='copy the input topics too')
    p.add_argument('--no-overlay', action='store_true', help='do not write overlay images')
    p.add_argument('--max-frames', type=int, default=None, help='stop after N image frames')
    p.add_argument(
        '--strict', action='store_true', help='end at the first bad frame instead of skipping it'
    )
    a = p.parse_args(argv)
    return ReplayOptions(
        bag=a.bag,
        out=a.out,
        topics=a.topic,
        config=a.config,
        checkpoint=a.checkpoint,
        smplx=a.smplx,
        short_side=a.short_side,
        storage=a.storage,
        include_inputs=a.include_inputs,
        overlay=not a.no_overlay,
        max_frames=a.max_frames,
        strict=a.strict,
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Console entry point (``aios_replay``, ``ros2 run aios_ros replay``)."""
    options = parse_args(argv)
    stop = {'requested': False}

    def on_signal(signum, frame):  # first signal: finish the frame, finalise the bag
        if stop['requested']:
            raise KeyboardInterrupt
        stop['requested'] = True
        name = signal.Signals(signum).name
        print(f'\n{name}: stopping after the current frame (again to abort)...', file=sys.stderr)

    previous = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}
    try:
        summary = run_replay(options, should_stop=lambda: stop['requested'])
    except ReplayFailed as exc:
        print_summary(exc.summary, options.out)
        print(f'aios_replay: error: {exc.summary.error}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f'aios_replay: aborted; {options.out} holds the frames before it', file=sys.stderr)
        return 130
    except (ConfigError, InputBagError, OSError, ValueError) as exc:
        print(f'aios_replay: error: {exc}', file=sys.stderr)
        return 2
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    print_summary(summary, options.out)
    return 130 if summary.interrupted else 0


if __name__ == '__main__':
    raise SystemExit(main())
