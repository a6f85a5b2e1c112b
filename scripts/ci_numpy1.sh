#!/usr/bin/env bash
# CI job: the ROS-free test suites (docs/architecture.md §5) in a second venv with numpy 1.26 and
# scipy 1.11, the versions of Ubuntu 24.04 / ROS 2 Jazzy, to prove the core does not need numpy 2:
#   bash scripts/ci_numpy1.sh        (called by .ci/run; about 4 min on 2 cores, 2 s pip when set up)
# The venv is ws/venv-numpy1 (git-ignored) and holds no ROS package. OpenCV on PyPI declares
# numpy >= 2 for every release available here, but 4.14's binary runs on numpy 1.26, so it is
# installed without dependencies as the stand-in for apt's python3-opencv (built for numpy 1.26).
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/ws/venv-numpy1"
PYTHON="${PYTHON:-python3.11}"
SUITES=(tests/geometry tests/body tests/model tests/temporal tests/render tests/evaluation
        tests/synthetic tests/benchmarks)
started=$(date +%s)

mkdir -p "$ROOT/ws"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# constraints.txt pins every other package to the main venv's versions
grep -v -E '^(numpy|scipy|opencv-python-headless)==' "$ROOT/constraints.txt" \
  > "$ROOT/ws/numpy1-constraints.txt"
"$VENV/bin/python" -m pip install -q --progress-bar off \
    -r "$ROOT/requirements-numpy1.txt" -c "$ROOT/ws/numpy1-constraints.txt"
"$VENV/bin/python" -m pip install -q --progress-bar off --no-deps opencv-python-headless==4.14.0.94
"$VENV/bin/python" - <<'PY'
import cv2, numpy, scipy, importlib.util
assert numpy.__version__ == '1.26.4' and scipy.__version__ == '1.11.4', (numpy.__version__, scipy.__version__)
assert importlib.util.find_spec('rclpy') is None, 'the numpy-1 venv must hold no ROS'
print(f'ci_numpy1: numpy {numpy.__version__}, scipy {scipy.__version__}, opencv {cv2.__version__}')
PY
echo "ci_numpy1: venv ready after $(( $(date +%s) - started )) s" >&2

# Only this venv and the source tree: nothing of env.sh (main venv, ROS install space).
cd "$ROOT"
env -u LD_LIBRARY_PATH -u AMENT_PREFIX_PATH -u CMAKE_PREFIX_PATH -u VIRTUAL_ENV \
    PYTHONPATH="$ROOT" PATH="$VENV/bin:$PATH" \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider "${SUITES[@]}"
echo "ci_numpy1: passed in $(( $(date +%s) - started )) s" >&2
