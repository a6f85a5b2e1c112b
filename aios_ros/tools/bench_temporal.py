"""``python -m aios_ros.tools.bench_temporal``: the developer benchmark in
``benchmarks/temporal_speed.py``.

Benchmarks are not installed with the package; run them from the source tree (``. ./env.sh``).
"""

from benchmarks.temporal_speed import main

if __name__ == '__main__':
    raise SystemExit(main())
