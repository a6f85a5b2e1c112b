"""``python -m aios_ros.tools.gpu_check --json OUT``: the one-shot GPU acceptance check in
``benchmarks/gpu_check.py`` (prints one line and exits 0 without a CUDA device).

Benchmarks are not installed with the package; run them from the source tree (``. ./env.sh``).
"""

from benchmarks.gpu_check import main

if __name__ == '__main__':
    raise SystemExit(main())
