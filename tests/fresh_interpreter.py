"""Runs a test file's own `__main__` in a fresh interpreter and returns the JSON it prints.

Logical CPU devices must be configured before TensorFlow starts, so the 2-replica equivalence
tests compute in a child process, whose last `RESULT {json}` line on stdout is the result.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]


def run_main(test_file: str, timeout: float = 600) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join([str(_REPO), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, test_file], capture_output=True, text=True, env=env,
                         timeout=timeout)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert out.returncode == 0 and lines, out.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def start_two_logical_cpus() -> None:
    """In the fresh interpreter, before TensorFlow starts: 2 logical CPUs for MirroredStrategy."""
    from ebgan_tf import distribute

    distribute.configure_logical_cpus(2)


_STRATEGIES: dict = {}


def mirrored_strategy():
    """This process's MirroredStrategy over the 2 logical CPUs (one per process)."""
    from ebgan_tf import distribute

    if "mirrored" not in _STRATEGIES:
        # Two MirroredStrategy objects in one process would reuse collective instance keys.
        _STRATEGIES["mirrored"] = distribute.make_strategy("mirrored")
    return _STRATEGIES["mirrored"]


def mirrored_equivalence(build, batch, steps: int, variables, eager_reference: bool = False
                         ) -> dict:
    """Trains a model for `steps` steps on the same `batch` on one device and under a
    MirroredStrategy over 2 logical CPUs (after `start_two_logical_cpus`), from the same initial
    weights (`build` seeds them), and compares the weights.

    Args:
      build: () -> a compiled model, called inside the strategy's scope.
      batch: one batch (a tensor structure), repeated `steps` times.
      variables: model -> the variables to compare.
      eager_reference: run the single-device reference eagerly (cheaper than a trace for a
        couple of steps).

    Returns:
      {"max_abs_diff": single vs mirrored, "max_update": how far the single-device run moved
       (so that equality means something), "scale": the largest weight}.
    """
    import numpy as np
    import tensorflow as tf

    def train(strategy, eager):
        with strategy.scope():
            model = build()
        model.run_eagerly = eager
        initial = [np.array(v) for v in variables(model)]
        model.fit(tf.data.Dataset.from_tensors(batch).repeat(steps), steps_per_epoch=steps,
                  epochs=1, verbose=0, shuffle=False)
        return initial, [np.array(v) for v in variables(model)]

    mirrored = mirrored_strategy()
    assert mirrored.num_replicas_in_sync == 2, mirrored.num_replicas_in_sync
    initial, single = train(tf.distribute.OneDeviceStrategy("/cpu:0"), eager_reference)
    _, split = train(mirrored, False)

    def max_diff(xs, ys):
        return max(float(np.max(np.abs(a - b))) for a, b in zip(xs, ys))

    return {"max_abs_diff": max_diff(single, split), "max_update": max_diff(single, initial),
            "scale": max(float(np.max(np.abs(a))) for a in single)}
