"""A pack of MNIST trials trained as one model and scored in one pass (`--pack=auto`).

Trial k of a pack reproduces its unpacked run (`mnist_trials.train_and_score`) up to round-off:
its networks start from the weights its unpacked run would start from (built the same way, then
copied in), it sees the same batches and latents (the pack's trials share their seed), it draws
the same dropout masks, and its losses, optimizer and trackers are its own
(`ebgan_tf.packed`). A trial that diverges is recorded "diverged" and its packmates train on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ebgan_tf.experiments.mnist_trials import (GENERATOR_FILE, SAMPLE_COLS, SAMPLE_ROWS,
                                               SAMPLES_ARRAY_FILE, SAMPLES_FILE, PhaseTimer,
                                               Trial, training_images)
from ebgan_tf.packed import pack_key as config_pack_key


def pack_key(trial: Trial):
    """Trials with equal keys train as one pack; None: float32 only (mixed trains alone)."""
    if trial.precision != "float32":
        return None
    return (config_pack_key(trial.config), trial.num_eval_samples, trial.eval_seed,
            trial.log_every, trial.config.seed)


def _initial_networks(trials: list[Trial]) -> list:
    """Each trial's unpacked (generator, discriminator) at initialisation, built exactly as its
    unpacked run builds them: the seed decides the weights, and dropout layers draw seeds too."""
    import keras

    from ebgan_tf import models

    built: dict = {}
    networks = []
    for trial in trials:
        cfg = trial.config
        # The optimizers, margin and PT weight do not touch the random state; the rest may.
        key = cfg.replace(kind="gan" if not cfg.is_ebgan else "ebgan", lr=1e-3, optim_d="adam",
                          optim_g="adam", margin=10.0, pt_weight=0.1)
        if key not in built:
            keras.backend.clear_session()
            keras.utils.set_random_seed(cfg.seed)
            model = models.build_model(cfg)
            built[key] = (model.generator, model.discriminator)
        networks.append(built[key])
    return networks


def train_and_score_pack(trials: list[Trial], folders: list, runtime) -> list[dict]:
    """Trains a pack in `folders` (None: a finished trial along for the ride) and scores every
    trial; returns one outcome per trial, as `mnist_trials.train_and_score` does."""
    import keras

    from ebgan_tf import distribute, metrics
    from ebgan_tf.data import streams
    from ebgan_tf.packed import PackedAdversarialModel
    from ebgan_tf.runs import train

    first = trials[0]
    cfg = first.config
    phases = PhaseTimer()
    images = training_images(runtime, cfg.image_size)
    phases.lap("data")
    networks = _initial_networks(trials)
    strategy = distribute.make_strategy(runtime.strategy)
    with strategy.scope():
        model = PackedAdversarialModel([t.config for t in trials], name="pack")
        for k, (generator, discriminator) in enumerate(networks):
            model.load_trial(k, generator, discriminator)
        model.compile(jit_compile=runtime.jit_compile or runtime.pack_xla,
                      steps_per_execution=runtime.steps_per_execution or first.log_every)
    del networks
    phases.lap("build")
    keras.utils.set_random_seed(cfg.seed)  # The data order's global seed, as an unpacked run.
    logs = train.train_pack(
        model, lambda step: streams.array_stream(images, cfg.batch_size, seed=cfg.seed,
                                                 noise_dim=cfg.noise_dim, start_batch=step),
        folders, cfg.train_steps, first.log_every)
    phases.lap("train")
    outcomes = [{"final_metrics": log.final, "steps_run": log.steps_done,
                 "phases_s": phases.seconds, "rows": log.rows} for log in logs]
    rng = np.random.default_rng(first.eval_seed)
    noise = rng.standard_normal((SAMPLE_ROWS * SAMPLE_COLS, cfg.noise_dim)).astype(np.float32)
    samples = model.generate(noise).numpy()
    scored = []
    for k, (log, folder) in enumerate(zip(logs, folders)):
        if log.diverged:
            outcomes[k].update(status="diverged",
                               reason=f"non-finite training loss by step {log.steps_done}")
        elif not np.all(np.isfinite(samples[k])):
            outcomes[k].update(status="diverged", reason="the generator outputs NaN/inf")
        else:
            scored.append(k)
            if folder is not None:
                _save_samples(samples[k], Path(folder))
    phases.lap("samples")
    if scored:
        scores = metrics.evaluate_generators(
            lambda z: model.generate(z).numpy()[scored], len(scored), cfg.noise_dim,
            first.num_eval_samples, first.eval_seed, with_frechet_distance=True,
            data_dir=runtime.data_dir)
        phases.lap("score")
        for k, score in zip(scored, scores):
            outcomes[k].update(status="ok", scores=score)
            if runtime.save_generators != "none" and folders[k] is not None:
                unpacked_generator(model, k, trials[k].config).save(
                    Path(folders[k]) / GENERATOR_FILE)
        phases.lap("save")
    return outcomes


def _save_samples(samples: np.ndarray, folder: Path) -> None:
    from ebgan_tf.reporting.plots import save_image_grid

    save_image_grid(samples, SAMPLE_ROWS, SAMPLE_COLS, folder / SAMPLES_FILE, scale=2)
    np.save(folder / SAMPLES_ARRAY_FILE, samples.astype(np.float16))


def unpacked_generator(model, k: int, cfg):
    """Trial k's generator as an ordinary Keras model (what `generator.keras` holds)."""
    from ebgan_tf.networks.mlp import build_networks

    generator, _ = build_networks(cfg)
    model.generator.stack.store_trial(k, generator)
    return generator
