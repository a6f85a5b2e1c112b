"""``python -m aios_ros.tools.bench_model``: the developer benchmark in
``benchmarks/model_speed.py``.

Benchmarks are not installed with the package; run them from the source tree (``. ./env.sh``).
"""

from benchmarks.model_speed import main

if __name__ == '__main__':
    raise SystemExit(main())
