"""``python -m aios_ros.tools.bench_e2e_roles ROLE ...``: the processes of ``benchmarks/e2e.py``.

Benchmarks are not installed with the package; run them from the source tree (``. ./env.sh``).
"""

import sys

from benchmarks.e2e_roles import main

if __name__ == '__main__':
    raise SystemExit(main(sys.argv[1:]))
