"""One trial of the MNIST study: an `MLPConfig` trained on padded MNIST and scored with the MNIST
score. The grid (Figs. 2-4), the margin sweep (Fig. 9) and the score regression are all sets of
these trials, so they share this experiment base, `MnistTrials`, and only say which trials they
run and how they report them.

A trial folder (`ebgan_tf.runs.store`) holds `config.json`, `metrics.csv`, TensorBoard logs,
`samples.png` (8x12 digits) and the same digits as `samples.npy`, optionally `generator.keras`,
and `result.json`, last. Every trial is seeded and (by default) runs with op determinism, so an
experiment killed at any moment reruns to the same scores.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ebgan_tf.configs.mlp import MLPConfig
from ebgan_tf.configs.settings import stable_id
from ebgan_tf.runs.experiment import Experiment

SAMPLES_FILE = "samples.png"
# The same digits as float16 [96, 32, 32, 1]: figures that lay samples out differently (Fig. 9's
# rows of 16) read these instead of re-loading generators.
SAMPLES_ARRAY_FILE = "samples.npy"
GENERATOR_FILE = "generator.keras"
# Fig. 4's panels are 8x12 digits (paper.md §2.7); every trial keeps such a grid.
SAMPLE_ROWS, SAMPLE_COLS = 8, 12
# The score that ranks trials (best generator, Fig. 4) and that the histograms plot.
RANK_SCORE = "log_is"
SCORES = ("log_is", "i_prime", "inception_score", "frechet_distance")
RESULT_COLUMNS = [
    "trial_id", "kind", "status", "log_is", "i_prime", "inception_score", "frechet_distance",
    "nLayerG", "nLayerD", "sizeG", "sizeD", "dropoutD", "optimD", "optimG", "lr", "margin",
    "seed", "steps", "batch_size", "num_eval_samples", "precision", "wall_time_s",
    "real_energy", "fake_energy", "d_loss", "g_loss", "hinge_active_early", "hinge_active_overall",
    "hinge_verdict", "reason",
]


@dataclasses.dataclass(frozen=True)
class Trial:
    """One trial: a model configuration and how its generator is scored.

    Everything here changes the trial's numbers, so all of it goes into `trial_id`; how the trial
    is executed (data folder, strategy, threads) is the `Runtime`'s and does not.
    """

    config: MLPConfig
    num_eval_samples: int = 10_000  # Paper silent; the size of the MNIST test set.
    eval_seed: int = 0  # Seeds the latents of the score and of samples.png.
    log_every: int = 100  # Training steps per row of metrics.csv.
    precision: str = "float32"  # "float32" or "mixed" (bf16 on CPU/TPU, fp16 on GPU).

    def __post_init__(self):
        if self.config.train_steps % self.log_every:
            raise ValueError(f"train_steps ({self.config.train_steps}) must be a multiple of "
                             f"log_every ({self.log_every})")
        if self.precision not in ("float32", "mixed"):
            raise ValueError(f"precision must be 'float32' or 'mixed', got {self.precision!r}")

    @property
    def trial_id(self) -> str:
        return stable_id(self.config.readable_name, {**self.to_dict(),
                                                     "config": self.config.id_dict()})

    run_id = trial_id

    def to_dict(self) -> dict:
        return {"config": self.config.to_dict(), "num_eval_samples": self.num_eval_samples,
                "eval_seed": self.eval_seed, "log_every": self.log_every,
                "precision": self.precision}

    @classmethod
    def from_dict(cls, d: dict) -> "Trial":
        return cls(config=MLPConfig(**d["config"]), num_eval_samples=d["num_eval_samples"],
                   eval_seed=d["eval_seed"], log_every=d["log_every"], precision=d["precision"])


_TRAINING_IMAGES: dict = {}


def training_images(runtime, image_size: int):
    """MNIST's training images as one tensor per process, so that each trial's input pipeline
    starts without copying 245 MB."""
    from ebgan_tf.data import mnist

    key = (runtime.data_dir, runtime.data_source, image_size)
    if key not in _TRAINING_IMAGES:
        if image_size not in (28, 32):
            raise ValueError(f"MNIST trials use 28 or 32 pixel images, got {image_size}")
        images, _ = mnist.load_mnist_arrays("train", runtime.data_dir, pad=image_size == 32,
                                            data_source=runtime.data_source)
        import tensorflow as tf

        _TRAINING_IMAGES[key] = tf.constant(images)
    return _TRAINING_IMAGES[key]


def train_and_score(trial: Trial, folder: Path, runtime) -> dict:
    """Trains a trial's model in `folder` and scores its generator; returns the outcome."""
    import keras

    from ebgan_tf import distribute, metrics, models
    from ebgan_tf.data import streams
    from ebgan_tf.reporting.plots import save_image_grid
    from ebgan_tf.runs import train

    cfg = trial.config
    phases = PhaseTimer()
    images = training_images(runtime, cfg.image_size)
    phases.lap("data")
    keras.backend.clear_session()
    keras.utils.set_random_seed(cfg.seed)
    distribute.set_mixed_precision(trial.precision == "mixed")
    try:
        strategy = distribute.make_strategy(runtime.strategy)
        with strategy.scope():
            model = models.build_model(
                cfg, jit_compile=runtime.jit_compile,
                steps_per_execution=runtime.steps_per_execution or trial.log_every)
        phases.lap("build")
        log = train.train(
            model, lambda step: streams.array_stream(images, cfg.batch_size, seed=cfg.seed,
                                                     noise_dim=cfg.noise_dim, start_batch=step),
            folder, cfg.train_steps, trial.log_every)
    finally:
        distribute.set_mixed_precision(False)
    phases.lap("train")
    outcome = {"final_metrics": log.final, "steps_run": log.steps_done, "phases_s": phases.seconds,
               "rows": log.rows}
    if log.diverged:
        return {**outcome, "status": "diverged",
                "reason": f"non-finite training loss by step {log.steps_done}"}
    generator = model.generator
    rng = np.random.default_rng(trial.eval_seed)
    noise = rng.standard_normal((SAMPLE_ROWS * SAMPLE_COLS, cfg.noise_dim)).astype(np.float32)
    samples = keras.ops.convert_to_numpy(generator(noise, training=False))
    if not np.all(np.isfinite(samples)):
        return {**outcome, "status": "diverged", "reason": "the generator outputs NaN/inf"}
    save_image_grid(samples, SAMPLE_ROWS, SAMPLE_COLS, folder / SAMPLES_FILE, scale=2)
    np.save(folder / SAMPLES_ARRAY_FILE, samples.astype(np.float16))
    phases.lap("samples")
    scores = metrics.evaluate_generator(generator, num_samples=trial.num_eval_samples,
                                        seed=trial.eval_seed, with_frechet_distance=True,
                                        data_dir=runtime.data_dir)
    phases.lap("score")
    if runtime.save_generators != "none":
        # "best" keeps every trial's file until the driver knows which one is best of its kind.
        generator.save(folder / GENERATOR_FILE)
        phases.lap("save")
    return {**outcome, "status": "ok", "scores": scores}


class PhaseTimer:
    """Seconds spent in each phase of a trial (or a pack), in result.json: where the fixed
    per-trial costs go."""

    def __init__(self):
        import time

        self._clock = time.perf_counter
        self._last = self._clock()
        self.seconds: dict = {}

    def lap(self, phase: str) -> None:
        now = self._clock()
        self.seconds[phase] = round(self.seconds.get(phase, 0.0) + now - self._last, 3)
        self._last = now


def result_record(trial: Trial, outcome: dict, wall_time_s: float) -> dict:
    from ebgan_tf.reporting.hinge import hinge_verdict

    cfg = trial.config
    scores = outcome.get("scores", {})
    final = outcome.get("final_metrics", {})
    # Was it an EBGAN? (the hinge must engage: reporting.hinge); GANs have no margin.
    hinge = hinge_verdict(outcome.get("rows", [])) if cfg.is_ebgan else None
    return {
        "trial_id": trial.trial_id, "run_id": trial.trial_id, "kind": cfg.kind,
        "status": outcome["status"], "reason": outcome.get("reason", ""),
        **{name: scores.get(name, float("nan")) for name in SCORES},
        **cfg.paper_settings(),
        "margin": cfg.margin if cfg.is_ebgan else float("nan"),
        "seed": cfg.seed, "steps": cfg.train_steps, "steps_run": outcome.get("steps_run", 0),
        "batch_size": cfg.batch_size, "num_eval_samples": trial.num_eval_samples,
        "precision": trial.precision, "wall_time_s": round(wall_time_s, 2),
        **{name: final.get(name, float("nan"))
           for name in ("real_energy", "fake_energy", "d_loss", "g_loss")},
        "hinge_active_early": hinge.early if hinge else float("nan"),
        "hinge_active_overall": hinge.overall if hinge else float("nan"),
        "hinge_verdict": hinge.verdict if hinge else "",
        "class_counts": scores.get("class_counts"),
        "final_metrics": final,
        "phases_s": outcome.get("phases_s", {}),
    }


class MnistTrials(Experiment):
    """The experiment base of every set of MNIST trials; subclasses say which trials, and report."""

    rank_score = RANK_SCORE
    hparam_metrics = ("log_is", "i_prime", "frechet_distance")

    def spec_from_dict(self, payload: dict) -> Trial:
        return Trial.from_dict(payload)

    def check_data(self, runtime) -> None:
        """Loads both MNIST splits once here, so a missing or corrupt data set stops before any
        trial starts, instead of failing every trial."""
        from ebgan_tf.data import mnist

        for split in mnist.SPLITS:
            mnist.load_mnist_arrays(split, runtime.data_dir, data_source=runtime.data_source)

    def run(self, spec: Trial, run_dir: Path, runtime) -> dict:
        return train_and_score(spec, run_dir, runtime)

    def result_record(self, spec: Trial, outcome: dict, wall_time_s: float) -> dict:
        return result_record(spec, outcome, wall_time_s)

    def results_table(self, finished: list[tuple[Trial, dict]], output_dir):
        import pandas as pd

        return pd.DataFrame([result for _, result in finished], columns=RESULT_COLUMNS)

    def pack_key(self, spec: Trial):
        from ebgan_tf.experiments import mnist_packs

        return mnist_packs.pack_key(spec)

    def run_pack(self, specs: list[Trial], run_dirs: list, runtime) -> list[dict]:
        from ebgan_tf.experiments import mnist_packs

        return mnist_packs.train_and_score_pack(specs, run_dirs, runtime)

    def hparams(self, spec: Trial) -> dict:
        cfg = spec.config
        return {"kind": cfg.kind, **cfg.paper_settings(), "margin": cfg.margin, "seed": cfg.seed,
                "steps": cfg.train_steps}


@dataclasses.dataclass(frozen=True)
class TrialSet(MnistTrials):
    """A given list of MNIST trials, reported only as results.csv (the score regression, tests)."""

    trials: tuple[Trial, ...] = ()
    name = "trials"

    def specs(self) -> list[Trial]:
        return list(self.trials)

    def report_pages(self, frame, context) -> list:
        return []
