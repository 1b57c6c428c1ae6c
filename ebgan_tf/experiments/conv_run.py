"""One convolutional run in its folder: train (resuming at the last checkpoint), then keep the
generator, draw the sample and data grids, and score one held batch.

Runs in whichever process executes the run (this one, or a Ray worker), under the runtime's
strategy and the run's precision. Files (see `ebgan_tf.experiments.conv_figures`):
generator.keras (written by rename, so never half a file), samples.png, data.png, and the
sample grid as a TensorBoard image beside the training scalars.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ebgan_tf.configs.conv import ConvConfig
from ebgan_tf.errors import DataError

GENERATOR_FILE = "generator.keras"
SAMPLES_FILE = "samples.png"
DATA_FILE = "data.png"
# Seed offsets. The held batch and the data grid come from another order of the data than
# training; the grids' noise depends on the seed alone, so every kind draws from the same z and
# the grids compare model against model.
HELD_SEED_OFFSET = 1000
SAMPLE_SEED_OFFSET = 2017
# Generation in slices: a 256-pixel grid in one call would hold every layer's maps at once.
_GENERATE_BATCH = 16


def sample_noise(cfg: ConvConfig, count: int) -> np.ndarray:
    """The fixed noise of the sample grids: float32 [count, noise_dim]."""
    rng = np.random.default_rng(cfg.seed + SAMPLE_SEED_OFFSET)
    return rng.standard_normal((count, cfg.noise_dim)).astype(np.float32)


def generate(generator, noise: np.ndarray) -> np.ndarray:
    """Images of the generator in inference mode (batch-norm moving averages)."""
    return np.concatenate([np.asarray(generator(noise[i:i + _GENERATE_BATCH], training=False))
                           for i in range(0, len(noise), _GENERATE_BATCH)])


def evaluate(model, cfg: ConvConfig, real, noise) -> dict:
    """D on one batch of training images and on one generated batch, in inference mode: the mean
    energies (EBGANs) or the mean probabilities of "real" (DCGAN)."""
    import tensorflow as tf

    from ebgan_tf import losses

    fake = model.generator(noise, training=False)
    if cfg.is_ebgan:
        out = {}
        for name, images in (("real_energy", real), ("fake_energy", fake)):
            reconstruction, _ = model.discriminator(images, training=False)
            out[name] = float(tf.reduce_mean(losses.autoencoder_energy(
                images, reconstruction, cfg.energy_reduction)))
        return out
    return {name: float(tf.reduce_mean(tf.sigmoid(model.discriminator(images, training=False))))
            for name, images in (("real_prob", real), ("fake_prob", fake))}


def save_generator(generator, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.keras")
    generator.save(tmp)
    os.replace(tmp, path)


def train_and_evaluate(run, run_dir: Path, runtime, monitor=None) -> dict:
    """Trains `run` (a `ConvRun`) in `run_dir` and evaluates it; returns its outcome.

    `monitor(model)`, if given, returns the `on_step(step)` that the training loop calls with the
    step it starts from and after every metrics row (`ebgan_tf.runs.train`): how an experiment
    scores the generator during training (`ebgan_tf.experiments.conv_mnist`)."""
    import keras

    from ebgan_tf import distribute

    keras.backend.clear_session()
    keras.utils.set_random_seed(run.config.seed)  # The same initial weights on every (re)run.
    distribute.set_mixed_precision(run.precision == "mixed")
    try:
        return _train_and_evaluate(run, Path(run_dir), runtime, monitor)
    finally:
        distribute.set_mixed_precision(False)


def _train_and_evaluate(run, run_dir: Path, runtime, monitor) -> dict:
    import tensorflow as tf

    from ebgan_tf import distribute, models
    from ebgan_tf.data import images
    from ebgan_tf.reporting import plots
    from ebgan_tf.runs import tensorboard, train

    cfg = run.config

    def stream(start_batch: int, batch_size: int = cfg.batch_size, seed: int = cfg.seed):
        return images.image_stream(
            run.source, run.preprocessing, batch_size, seed, cfg.noise_dim,
            data_dir=runtime.data_dir, data_source=runtime.data_source, start_batch=start_batch,
            num_synthetic=4 * cfg.batch_size)

    strategy = distribute.make_strategy(runtime.strategy)
    with strategy.scope():
        model = models.build_model(cfg, jit_compile=runtime.jit_compile,
                                   steps_per_execution=runtime.steps_per_execution or 1)
    try:
        log = train.train(model, stream, run_dir, cfg.train_steps, run.log_every, checkpoint=True,
                          on_step=monitor(model) if monitor is not None else None)
    except tf.errors.InvalidArgumentError as e:
        # A file that fails to decode mid-stream (the data check reads only the first).
        first = e.message.strip().splitlines()[0][:200] if e.message.strip() else ""
        raise DataError(f"training stopped at a bad input ({first}); the last checkpoint is "
                        "kept and a rerun resumes from it") from None
    outcome = {"final_metrics": log.final, "steps_run": log.steps_done,
               "resumed_from": log.start_step, "train_seconds": log.seconds,
               "rows": log.rows}
    if log.diverged:
        return {**outcome, "status": "diverged",
                "reason": f"non-finite training metrics by step {log.steps_done}"}
    save_generator(model.generator, run_dir / GENERATOR_FILE)
    rows, cols = run.grid
    samples = generate(model.generator, sample_noise(cfg, rows * cols))
    if not np.all(np.isfinite(samples)):
        return {**outcome, "status": "diverged", "reason": "the generator outputs NaN/inf"}
    plots.save_image_grid(samples, rows, cols, run_dir / SAMPLES_FILE)
    with tf.summary.create_file_writer(str(run_dir / tensorboard.LOG_DIR)).as_default():
        tf.summary.image("samples", plots.image_grid(samples, rows, cols)[None],
                         step=log.steps_done)
    data, _ = next(iter(stream(0, rows * cols, cfg.seed + HELD_SEED_OFFSET)))
    plots.save_image_grid(data.numpy(), rows, cols, run_dir / DATA_FILE)
    real, noise = next(iter(stream(0, seed=cfg.seed + HELD_SEED_OFFSET)))
    evaluation = evaluate(model, cfg, real, noise)
    if not all(np.isfinite(v) for v in evaluation.values()):
        return {**outcome, "status": "diverged", "evaluation": evaluation,
                "reason": "non-finite energies or probabilities on the held batch"}
    return {**outcome, "status": "ok", "evaluation": evaluation}
