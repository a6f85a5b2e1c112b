"""Record the seeded AiOS model's intermediate and final outputs for parity checks.

    python -m aios_ros.tools.parity_record --seed 0 --image A.png [--image B.png ...] \\
        --short-side 256 --max-size 427 --out record.pt

Weights: the deterministic ``aios-seeded-v1`` recipe for ``--seed``. Several images form one
padded batch; post-processing uses the original image sizes as target sizes. The record uses the
keys of the official fixtures (``shared/reference/aios/seeded/README.md`` §3; ``aux_outputs`` only
for decoder layers 0-1) and can be checked with ``compare_fixture.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from aios_ros.evaluation.parity import write_record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seed', type=int, required=True, help='seeded-weight recipe seed')
    parser.add_argument('--image', action='append', required=True, help='input image (repeatable)')
    parser.add_argument('--short-side', type=int, default=800)
    parser.add_argument('--max-size', type=int, default=1333)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--out', required=True, help='output .pt file')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    write_record(args.seed, args.image, args.short_side, args.max_size, Path(args.out))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
