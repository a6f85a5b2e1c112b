"""DDS traffic of the test (and env.sh) setup stays on this machine: measured, not assumed.

The two-process round trip runs inside a private network namespace that has, next to `lo`, a
contained veth pair (v0, 198.51.100.1/24 from the TEST-NET-2 documentation range, default route
via v0), so Fast DDS sees a real non-loopback interface; the packets sent on v0 are counted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

# Runs "$@" in the namespace and prints the number of packets v0 transmitted meanwhile.
NETNS_SCRIPT = r"""
set -e
ip link set lo up
ip link add v0 type veth peer name v1
for dev in v0 v1; do echo 1 > /proc/sys/net/ipv6/conf/$dev/disable_ipv6; done  # no IPv6 chatter
ip addr add 198.51.100.1/24 dev v0
ip link set v0 up
ip link set v1 up
ip route add default via 198.51.100.2 dev v0
tx_packets() {  # /proc/net/dev: "v0: rx_bytes rx_packets ... (8 rx fields) tx_bytes tx_packets ..."
  sed 's/:/ /' /proc/net/dev | awk '$1 == "v0" { print $11 }'
}
before=$(tx_packets)
"$@"
echo "V0_TX_PACKETS=$(( $(tx_packets) - before ))"
"""


def _netns_available() -> bool:
    if shutil.which('unshare') is None or shutil.which('ip') is None:
        return False
    return subprocess.run(['unshare', '-n', 'true'], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(
    not _netns_available(), reason='needs `unshare -n` (root) and iproute2 for a network namespace'
)


def _packets_off_loopback(tmp_path: Path, env: dict[str, str]) -> int:
    out = tmp_path / 'result.json'
    peer = [
        sys.executable,
        str(HERE / 'message_peer.py'),
        'pair',
        '--prefix',
        'netns',
        '--frames',
        '5',
        '--out',
        str(out),
        '--timeout',
        '30',
    ]
    run = subprocess.run(
        ['unshare', '-n', 'bash', '-c', NETNS_SCRIPT, 'netns', *peer],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result['received'] == {'bodies': 5, 'image': 5} and result['mismatches'] == []
    return int(run.stdout.rsplit('V0_TX_PACKETS=', 1)[1])


def test_nothing_leaves_loopback_with_the_project_settings(tmp_path):
    assert _packets_off_loopback(tmp_path, dict(os.environ)) == 0


def test_default_settings_would_send_on_other_interfaces(tmp_path):
    """The control: without the discovery range and the profile, Fast DDS announces itself on
    v0, so the count above can see a leak."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ('ROS_AUTOMATIC_DISCOVERY_RANGE', 'FASTDDS_DEFAULT_PROFILES_FILE')
    }
    assert _packets_off_loopback(tmp_path, env) > 0
