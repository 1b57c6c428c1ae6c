"""TensorBoard logs of a run: training scalars per logged row, and the HParams summary that makes
`tensorboard --logdir <output_dir>` show a grid or sweep as one table of settings and scores."""

from __future__ import annotations

import math
from pathlib import Path

LOG_DIR = "tensorboard"


def write_scalars(run_dir: Path, step: int, values: dict) -> None:
    """One row of training metrics at `step`, under `<run_dir>/tensorboard/`."""
    import tensorflow as tf

    with tf.summary.create_file_writer(str(run_dir / LOG_DIR)).as_default():
        for name, value in values.items():
            tf.summary.scalar(name, float(value), step=step)


def write_hparams(run_dir: Path, hparams: dict, metrics: dict) -> None:
    """The run's settings as HParams and its final scores as step-0 scalars (no-op without hparams)."""
    if not hparams:
        return
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    with tf.summary.create_file_writer(str(run_dir / LOG_DIR)).as_default():
        hp.hparams(hparams, trial_id=run_dir.name)
        for name, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                tf.summary.scalar(name, float(value), step=0)
