"""Accuracy of predictions against SMPL-X ground truth (AGORA-style matching; errors in mm).

    python -m aios_ros.tools.evaluate --gt GT.npz --pred OUT_BAG_OR_NPZ [--stream raw|fused|both]
           [--topic /aios/bodies] [--min-iou 0.1] [--vertex-segments SEG.npz] [--json OUT.json]

``--pred`` is a replay output bag (its SmplxBodyArray messages; MVE needs the bag to be written
with ``node.publish_vertices: true``) or an .npz in the layout of aios_ros/evaluation/layout.py,
which is also the ground-truth layout (the sample's data/sample_bag/ground_truth.npz uses it).
``--vertex-segments``: .npz with left_hand / right_hand / face vertex index arrays (e.g. from the
official SMPL-X MANO/FLAME correspondence files) for per-part MVE; without it only MVE-all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from aios_ros.evaluation.layout import load_table
from aios_ros.evaluation.report import evaluate, format_report, load_predictions


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog='aios_evaluate', description=__doc__.split('\n\n')[0])
    p.add_argument('--gt', type=Path, required=True)
    p.add_argument('--pred', type=Path, required=True)
    p.add_argument('--stream', choices=('raw', 'fused', 'both'), default='both')
    p.add_argument('--topic', default=None, help='SmplxBodyArray topic (default: any)')
    p.add_argument('--min-iou', type=float, default=0.1)
    p.add_argument('--vertex-segments', type=Path, default=None)
    p.add_argument('--json', type=Path, default=None)
    a = p.parse_args(argv)
    try:
        gt = load_table(a.gt)
        segments = dict(np.load(a.vertex_segments)) if a.vertex_segments else None
        streams = ['raw', 'fused'] if a.stream == 'both' else [a.stream]
        results = {
            s: evaluate(gt, table, a.min_iou, segments)
            for s, table in load_predictions(a.pred, streams, a.topic).items()
        }
    except (OSError, ValueError, KeyError) as exc:
        print(f'aios_evaluate: error: {exc}', file=sys.stderr)
        return 2
    for name, r in results.items():
        print(format_report(name, r))
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
