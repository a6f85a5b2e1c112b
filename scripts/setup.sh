#!/usr/bin/env bash
# One-command setup of aios_ros on a machine without a ROS 2 install (pip wheels only):
#   bash scripts/setup.sh
# 1. creates .venv (Python 3.11; the ROS 2 Kilted wheels on PyPI are cp311 only) if it is missing,
# 2. installs the pinned dependencies (requirements.txt, constraints.txt), incl. ROS 2 and colcon,
# 3. fixes the manylinux paths the ROS wheels hard-code in their CMake exports,
# 4. installs the project itself in editable mode (console scripts aios_node, aios_replay),
# 5. builds the package (messages + install tree) with colcon into ws/,
# 6. writes env.sh and fastdds_profile.xml at the repo root,
# 7. smoke-tests rclpy with the built messages.
# Idempotent: a second run installs, rewrites and rebuilds nothing. Command output goes to
# ws/setup.log; on failure the failing step and the end of the log are printed.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
WS="$ROOT/ws"
PREFIX="$WS/install/aios_ros"
SITE="$PREFIX/lib/python3.11/site-packages"
PYTHON="${PYTHON:-python3.11}"     # interpreter used to create a missing .venv
LOG="$WS/setup.log"

mkdir -p "$WS"
: > "$LOG"
T_START=$(date +%s.%N)

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# step NAME FUNCTION: runs FUNCTION with its output in the log, prints the time, stops on failure
step() {
  local name="$1" t0 rc=0
  shift
  t0=$(date +%s.%N)
  printf '== %-14s ' "$name" >&2
  # not `( ... ) || rc=$?`: bash ignores set -e inside a command tested by || or &&
  set +e
  ( set -Eeuo pipefail; "$@" ) >> "$LOG" 2>&1
  rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    printf 'FAILED (exit %s) after %ss\n--- last lines of %s ---\n' "$rc" "$(elapsed "$t0")" "$LOG" >&2
    tail -n 40 "$LOG" >&2
    echo "setup.sh: step '$name' failed" >&2
    exit "$rc"
  fi
  printf '%6ss\n' "$(elapsed "$t0")" >&2
}

# write_if_changed PATH < content: keeps the file (and its mtime) when the content is the same
write_if_changed() {
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat > "$tmp"
  if [ -f "$1" ] && cmp -s "$tmp" "$1"; then
    rm -f "$tmp"
  else
    chmod 644 "$tmp"
    mv "$tmp" "$1"
    echo "wrote $1"
  fi
}

preflight() {
  local missing=() tool
  for tool in gcc g++ make cmake; do command -v "$tool" > /dev/null || missing+=("$tool"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "missing build tools: ${missing[*]} (colcon compiles the message type supports)"
    [ "$(id -u)" = 0 ] || { echo "install them: sudo apt-get install build-essential cmake"; return 1; }
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends build-essential cmake
  fi
  cmake --version | head -n 1
  printf '%s\n3.16\n' "$(cmake --version | head -n 1 | awk '{ print $3 }')" | sort -V -C -r \
    || { echo "cmake >= 3.16 is required"; return 1; }
}

make_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    command -v "$PYTHON" > /dev/null || { echo "$PYTHON not found; the ROS 2 wheels need CPython 3.11"; return 1; }
    "$PYTHON" -m venv "$VENV"
  fi
  "$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 11), "venv is not 3.11: " + sys.version'
}

# Every distribution pinned in constraints.txt installed at its version (a local build tag such
# as +cpu counts as that version)? Then pip has nothing to do; asking it costs ~5 s.
constraints_met() {
  "$VENV/bin/python" - "$ROOT/constraints.txt" <<'EOF'
import importlib.metadata as md, sys
for line in open(sys.argv[1]):
    line = line.split('#')[0].strip()
    if not line:
        continue
    name, version = line.split('==')
    try:
        installed = md.version(name)
    except md.PackageNotFoundError:
        sys.exit(f'not installed: {name}')
    if installed.split('+')[0] != version:
        sys.exit(f'{name} {installed} installed, {version} pinned')
EOF
}

pip_install() {
  if constraints_met; then echo "all pinned versions installed"; return 0; fi
  "$VENV/bin/python" -m pip install --progress-bar off \
      -r "$ROOT/requirements.txt" -c "$ROOT/constraints.txt"
  "$VENV/bin/python" -m pip check
}

# The ROS wheels were built in a manylinux container; their exported CMake targets hard-code
# /opt/python/cp311-cp311/{include/python3.11, .../numpy/_core/include}, which CMake rejects.
# A pip reinstall of a ros-* wheel brings the paths back: re-run this script after one.
patch_cmake_exports() {
  local pyinc npinc files f
  pyinc=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  npinc=$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')
  test -f "$pyinc/Python.h" || { echo "no Python.h in $pyinc (install python3.11-dev)"; return 1; }
  files=$(grep -l '/opt/python/cp311-cp311' "$VENV"/share/*/cmake/*.cmake || true)
  for f in $files; do
    echo "patching $f"
    sed -i -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$npinc#g" \
           -e "s#/opt/python/cp311-cp311/include/python3.11#$pyinc#g" "$f"
  done
  if grep -l '/opt/python/cp311-cp311' "$VENV"/share/*/cmake/*.cmake; then
    echo "unpatched /opt/python/cp311-cp311 references remain in the files above"
    return 1
  fi
}

# Editable install: console scripts in .venv/bin; the code stays in the source tree, which env.sh
# puts first on PYTHONPATH (aios_ros/__init__.py joins it with the installed aios_ros.msg).
pip_editable() {
  local stamp="$VENV/.aios_ros_editable" want
  want="$ROOT $(sha256sum "$ROOT/setup.py" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then echo "up to date"; return 0; fi
  "$VENV/bin/python" -m pip install --progress-bar off --no-deps --no-build-isolation -e "$ROOT"
  echo "$want" > "$stamp"
}

# The workspace sees the repo through the symlink ws/src/aios_ros. Building the repo root in
# place fails: CMake rejects exported include paths (.venv/.../numpy) inside the source directory.
colcon_build() {
  if [ "$(readlink "$WS/src/aios_ros" || true)" != ../.. ]; then
    mkdir -p "$WS/src"
    ln -sfn ../.. "$WS/src/aios_ros"
  fi
  cd "$WS"
  env -u PYTHONPATH -u LD_LIBRARY_PATH -u _ROS_WHEELS_BOOTSTRAP_COMPLETE \
      CMAKE_PREFIX_PATH="$VENV" AMENT_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH" MAKEFLAGS=-j2 \
      "$VENV/bin/colcon" build --base-paths src \
      --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DCMAKE_BUILD_TYPE=Release
  test -d "$SITE/aios_ros/msg" || { echo "colcon did not install $SITE/aios_ros/msg"; return 1; }
}

write_env() {
  # Fast DDS: UDP only on loopback, and shared memory sized for the largest frame the node admits
  # (node.max_pixels = 4096 x 4096 bgr8 = 48 MiB). With the default 512 KiB segment a VGA image
  # goes out as UDP fragments and, mixed with small reliable messages, can stall a topic for
  # seconds until the next heartbeat. A sample travels in 64 KiB fragments even over shared
  # memory, each taking a slot of the reader's port queue (default 512 slots = 32 MiB): a 36 MB
  # frame overflowed it and was lost in 5 of 6 tries; 2048 slots carry 128 MiB.
  write_if_changed "$ROOT/fastdds_profile.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8" ?>
<!-- Generated by scripts/setup.sh: shared memory (64 MiB segments, 2048-fragment port queue:
     any 8-bit image of up to 3 channels that node.max_pixels admits) + UDPv4 on loopback only. -->
<dds xmlns="http://www.eprosima.com">
  <profiles>
    <transport_descriptors>
      <transport_descriptor>
        <transport_id>shm_64mib</transport_id>
        <type>SHM</type>
        <segment_size>67108864</segment_size>
        <port_queue_capacity>2048</port_queue_capacity>
      </transport_descriptor>
      <transport_descriptor>
        <transport_id>udp_loopback</transport_id>
        <type>UDPv4</type>
        <interfaces><allowlist><interface name="lo"/></allowlist></interfaces>
      </transport_descriptor>
    </transport_descriptors>
    <participant profile_name="aios_ros_loopback" is_default_profile="true">
      <rtps>
        <userTransports>
          <transport_id>shm_64mib</transport_id>
          <transport_id>udp_loopback</transport_id>
        </userTransports>
        <useBuiltinTransports>false</useBuiltinTransports>
      </rtps>
    </participant>
  </profiles>
</dds>
EOF
  {
    cat <<EOF
# Generated by scripts/setup.sh; re-run that script instead of editing. Use: . ./env.sh
# Makes the venv, rclpy, the built messages (aios_ros.msg) and the installed executables usable
# in this shell, with DDS discovery and traffic kept on this machine.
_aios_root='$ROOT'
_aios_venv='$VENV'
_aios_prefix='$PREFIX'
EOF
    cat <<'EOF'
_aios_prepend() {  # _aios_prepend VAR DIR: put DIR first in the colon-separated list VAR, once
  eval "_aios_cur=\${$1-}"
  _aios_rest=$(printf '%s' "$_aios_cur" |
    awk -v RS=: -v d="$2" '$0 != "" && $0 != d { printf "%s%s", s, $0; s = ":" }')
  eval "export $1=\"\$2\${_aios_rest:+:\$_aios_rest}\""
  unset _aios_cur _aios_rest
}
export VIRTUAL_ENV="$_aios_venv"
_aios_prepend PATH "$_aios_venv/bin"
_aios_prepend AMENT_PREFIX_PATH "$_aios_venv"
_aios_prepend AMENT_PREFIX_PATH "$_aios_prefix"
_aios_prepend CMAKE_PREFIX_PATH "$_aios_venv"
_aios_prepend CMAKE_PREFIX_PATH "$_aios_prefix"
# Source tree first, install space second: aios_ros/__init__.py extends __path__ over both.
_aios_prepend PYTHONPATH "$_aios_prefix/lib/python3.11/site-packages"
_aios_prepend PYTHONPATH "$_aios_root"
# The message libraries. Must be set before Python starts: the ROS wheels' bootstrapper re-execs
# Python to extend LD_LIBRARY_PATH, and skips that when its marker variable is inherited.
_aios_prepend LD_LIBRARY_PATH "$_aios_prefix/lib"
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE
export RMW_IMPLEMENTATION=rmw_fastrtps_cpp
# Loopback-only discovery (Kilted ignores ROS_LOCALHOST_ONLY) and the loopback transport profile.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export FASTDDS_DEFAULT_PROFILES_FILE="$_aios_root/fastdds_profile.xml"
# Range/size/type checks on message fields (off by default: out-of-range values wrap silently).
export ROS_PYTHON_CHECK_FIELDS=1
unset -f _aios_prepend
unset _aios_root _aios_venv _aios_prefix
# ros2cli is not on PyPI: provide 'ros2 run <package> <executable> [args]' over AMENT_PREFIX_PATH.
if ! command -v ros2 > /dev/null 2>&1 || [ "$(command -v ros2)" = ros2 ]; then
  ros2() {
    if [ "${1-}" != run ] || [ $# -lt 3 ]; then
      echo "ros2 (aios_ros env.sh): only 'ros2 run <package> <executable> [args]' is available" >&2
      return 2
    fi
    _aios_exe=$(printf '%s' "$AMENT_PREFIX_PATH" | tr ':' '\n' | while read -r _aios_d; do
      if [ -x "$_aios_d/lib/$2/$3" ]; then printf '%s' "$_aios_d/lib/$2/$3"; break; fi; done)
    if [ -z "$_aios_exe" ]; then echo "ros2 run: no executable '$3' in package '$2'" >&2; return 1; fi
    shift 3
    "$_aios_exe" "$@"
  }
fi
EOF
  } | write_if_changed "$ROOT/env.sh"
}

smoke() {
  # shellcheck disable=SC1091
  . "$ROOT/env.sh"
  cd /
  python - "$ROOT" <<'EOF'
import importlib.metadata as md
import os
import sys

import numpy, rclpy, smplx, torch
import aios_ros
from aios_ros.msg import BodyModelInfo, SmplxBody, SmplxBodyArray

root = sys.argv[1]
assert aios_ros.__path__[0] == os.path.join(root, 'aios_ros'), aios_ros.__path__
rclpy.init()
node = rclpy.create_node('aios_ros_setup_smoke')
node.create_publisher(SmplxBodyArray, 'smoke', 1)
node.destroy_node()
rclpy.shutdown()
print(f'ok: python {sys.version.split()[0]}, torch {torch.__version__}, numpy {numpy.__version__}, '
      f'smplx {md.version("smplx")}, rclpy {md.version("ros-rclpy")}, '
      f'rmw {rclpy.get_rmw_implementation_identifier()}, '
      f'messages from {os.path.dirname(sys.modules["aios_ros.msg"].__file__)}')
EOF
}

step preflight     preflight
step venv          make_venv
step pip_install   pip_install
step patch_cmake   patch_cmake_exports
step pip_editable  pip_editable
step colcon_build  colcon_build
step env_sh        write_env
step smoke         smoke
tail -n 1 "$LOG" >&2
echo "setup.sh: done in $(elapsed "$T_START")s; venv $(du -sh "$VENV" | cut -f1). Next: . ./env.sh" >&2
