"""``python -m aios_ros.tools.bench_e2e``: the developer benchmark in ``benchmarks/e2e.py``.

Benchmarks are not installed with the package; run them from the source tree (``. ./env.sh``).
"""

from benchmarks.e2e import main

if __name__ == '__main__':
    raise SystemExit(main())
