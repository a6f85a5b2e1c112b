"""``aios_node``'s ``main`` with the test estimator, as a process for the stop-signal tests.

    python node_double_main.py ESTIMATE_S [--ros-args ...]

Every ``estimate`` call (the warm-up in ``configure`` included) takes ESTIMATE_S seconds, so a
test can stop the node during the warm-up or with a frame in the model.
"""

import sys
import time
from pathlib import Path

from aios_ros.node.signals import StopSignals

signals = StopSignals().install()  # as scripts/aios_node does, before the heavy imports

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimator_double import CountingEstimator  # noqa: E402

from aios_ros.node.node import main  # noqa: E402


class SlowEstimator(CountingEstimator):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def estimate(self, image, camera):
        time.sleep(self.seconds)
        return super().estimate(image, camera)


if __name__ == '__main__':
    seconds = float(sys.argv.pop(1))
    raise SystemExit(main(signals=signals, estimator=SlowEstimator(seconds)))
