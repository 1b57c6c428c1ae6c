"""The one training loop: `fit()` in rows of `log_every` steps, with the callbacks every run shares.

    log = train(model, stream_from, run_dir, total_steps=2000, log_every=100, checkpoint=True)

- `metrics.csv`: one row per `log_every` steps (a Keras epoch): the step, the seconds since this
  process started training, and the model's tracker means over those steps.
- Divergence: training stops at the first row with a NaN/inf, and `log.diverged` says so (checked
  per row, not per step, so that the step never waits for the host).
- `checkpoint=True`: a `tf.train` checkpoint of the model's `checkpoint_objects()` and the step at
  every row (the last two kept); a run that finds one resumes there, with the data stream resumed
  at the same batch (`stream_from(step)`), so it ends as an uninterrupted run would.
- TensorBoard: every row's metrics as scalars under `<run_dir>/tensorboard/`.
- `on_step(step)`: called at the start (with the step training starts from) and after every row,
  for schedules that change the train step (EBGAN-LN switches to a plain LN when its margin is 0).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import time
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from ebgan_tf.atomic_files import write_text_atomic
from ebgan_tf.runs import tensorboard

METRICS_FILE = "metrics.csv"
CHECKPOINT_DIR = "checkpoints"


@dataclasses.dataclass
class TrainLog:
    rows: list[dict]  # Every metrics.csv row, those of interrupted earlier processes included.
    start_step: int  # The step this process started from (0: fresh).
    steps_done: int
    diverged: bool
    seconds: float  # This process's training time.

    @property
    def final(self) -> dict:
        """The last row's metrics (without step and elapsed time)."""
        last = self.rows[-1] if self.rows else {}
        return {k: v for k, v in last.items() if k not in ("step", "elapsed_s")}


class _RowLog(keras.callbacks.Callback):
    def __init__(self, run_dir: Path, log_every: int, rows: list[dict], tensorboard_logs: bool,
                 on_step: Callable[[int], None] | None, save: Callable[[int], None] | None):
        super().__init__()
        self.run_dir, self.log_every, self.rows = run_dir, log_every, rows
        self.tensorboard_logs, self.on_step, self.save = tensorboard_logs, on_step, save
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        step = (epoch + 1) * self.log_every
        values = {k: float(v) for k, v in (logs or {}).items()}
        self.rows.append({"step": step, "elapsed_s": round(time.perf_counter() - self.start, 3),
                          **values})
        write_metrics_csv(self.run_dir / METRICS_FILE, self.rows)
        if self.tensorboard_logs:
            tensorboard.write_scalars(self.run_dir, step, values)
        if not all(math.isfinite(v) for v in values.values()):
            self.model.stop_training = True
            return
        if self.save is not None:
            self.save(step)
        if self.on_step is not None:
            self.on_step(step)


def write_metrics_csv(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = [",".join(columns)] + [",".join(repr(r.get(c, "")) for c in columns) for r in rows]
    write_text_atomic(path, "\n".join(lines) + "\n")


def read_metrics_csv(path: Path, up_to_step: int) -> list[dict]:
    """The rows of an earlier process, up to the step its checkpoint holds."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        rows = [{k: float(v) for k, v in row.items() if v not in ("", None)}
                for row in csv.DictReader(f)]
    return [{**row, "step": int(row["step"])} for row in rows if row.get("step", 0) <= up_to_step]


def train(model: keras.Model, stream_from: Callable[[int], object], run_dir: Path,
          total_steps: int, log_every: int, *, checkpoint: bool = False,
          tensorboard_logs: bool = True, on_step: Callable[[int], None] | None = None,
          extra_callbacks=()) -> TrainLog:
    """Trains `model` (compiled) to `total_steps`, resuming from a checkpoint in `run_dir`.

    Args:
      model: a compiled model whose `fit()` runs one train step per batch.
      stream_from: step -> the `tf.data` stream from that step on (the batch of step k is the
        k-th element of `stream_from(0)`).
      run_dir: the run's folder.
      total_steps, log_every: the budget, and the steps per metrics row (must divide it).
      checkpoint: save and resume (see the module docstring); needs `model.checkpoint_objects()`.
    """
    if total_steps % log_every:
        raise ValueError(f"train_steps ({total_steps}) must be a multiple of the steps per "
                         f"metrics row ({log_every})")
    run_dir = Path(run_dir)
    start_step, save = 0, None
    if checkpoint:
        start_step, save = _restore(model, run_dir, log_every)
    rows = read_metrics_csv(run_dir / METRICS_FILE, start_step)
    if on_step is not None:
        on_step(start_step)
    started = time.perf_counter()
    if start_step < total_steps:
        callbacks = [_RowLog(run_dir, log_every, rows, tensorboard_logs, on_step, save),
                     *extra_callbacks]
        model.fit(stream_from(start_step), steps_per_epoch=log_every,
                  epochs=total_steps // log_every, initial_epoch=start_step // log_every,
                  verbose=0, shuffle=False, callbacks=callbacks)
    steps_done = rows[-1]["step"] if rows else start_step
    diverged = steps_done < total_steps or not all(
        math.isfinite(v) for row in rows for v in row.values())
    return TrainLog(rows, start_step, steps_done, diverged, time.perf_counter() - started)


def _restore(model, run_dir: Path, log_every: int):
    """Restores the latest checkpoint, if any; returns (its step, a function saving one)."""
    import tensorflow as tf
    from absl import logging as absl_logging

    # TF's checkpoint saver logs every save at INFO (through absl), burying progress lines.
    absl_logging.set_verbosity(min(absl_logging.get_verbosity(), absl_logging.WARNING))

    completed = tf.Variable(0, dtype=tf.int64, trainable=False, name="completed_steps")
    with model.distribute_strategy.scope():
        ckpt = tf.train.Checkpoint(completed_steps=completed, **model.checkpoint_objects())
    manager = tf.train.CheckpointManager(ckpt, str(run_dir / CHECKPOINT_DIR), max_to_keep=2)
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    step = int(completed.numpy())
    if step % log_every:
        raise ValueError(f"{run_dir}: the checkpoint at step {step} is not on a {log_every}-step "
                         "row boundary; delete the folder to start again")

    def save(at_step: int) -> None:
        # The step is counted from rows, not from an optimizer's `iterations`, which a float16
        # loss-scale optimizer does not advance on the steps it skips.
        completed.assign(at_step)
        manager.save(checkpoint_number=at_step)

    return step, save


class _PackRowLog(keras.callbacks.Callback):
    """`_RowLog` for a pack: logs are [K] vectors; each trial gets its own metrics.csv rows and
    TensorBoard scalars, and a trial whose row is non-finite is retired (the others train on)."""

    def __init__(self, run_dirs: list, log_every: int, rows: list[list[dict]],
                 tensorboard_logs: bool):
        super().__init__()
        self.run_dirs, self.log_every, self.rows = run_dirs, log_every, rows
        self.tensorboard_logs = tensorboard_logs
        self.diverged = [False] * len(run_dirs)
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        step = (epoch + 1) * self.log_every
        elapsed = round(time.perf_counter() - self.start, 3)
        columns = {k: np.asarray(v, np.float64).reshape(-1) for k, v in (logs or {}).items()}
        for k, run_dir in enumerate(self.run_dirs):
            if self.diverged[k]:
                continue
            values = {name: float(column[k]) for name, column in columns.items()}
            self.rows[k].append({"step": step, "elapsed_s": elapsed, **values})
            if run_dir is not None:
                write_metrics_csv(run_dir / METRICS_FILE, self.rows[k])
                if self.tensorboard_logs:
                    tensorboard.write_scalars(run_dir, step, values)
            if not all(math.isfinite(v) for v in values.values()):
                self.diverged[k] = True
                self.model.retire(k)
        if all(self.diverged):
            self.model.stop_training = True


def train_pack(model: keras.Model, stream_from: Callable[[int], object], run_dirs: list,
               total_steps: int, log_every: int, tensorboard_logs: bool = True) -> list[TrainLog]:
    """`train` for a packed model (`ebgan_tf.packed`): one fit, one `TrainLog` per trial.

    `run_dirs[k]` is None for a trial that only comes along (it finished before): nothing is
    written for it. Packs do not checkpoint: a pack is resumed whole (`ebgan_tf.runs.packs`).
    """
    if total_steps % log_every:
        raise ValueError(f"train_steps ({total_steps}) must be a multiple of the steps per "
                         f"metrics row ({log_every})")
    rows = [[] for _ in run_dirs]
    log = _PackRowLog([None if d is None else Path(d) for d in run_dirs], log_every, rows,
                      tensorboard_logs)
    started = time.perf_counter()
    model.fit(stream_from(0), steps_per_epoch=log_every, epochs=total_steps // log_every,
              verbose=0, shuffle=False, callbacks=[log])
    seconds = time.perf_counter() - started
    return [TrainLog(r, 0, r[-1]["step"] if r else 0, log.diverged[k] or not r
                     or r[-1]["step"] < total_steps, seconds) for k, r in enumerate(rows)]
