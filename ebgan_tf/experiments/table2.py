"""Table 2 and Figure 10 (paper §4.2): LN vs EBGAN-LN on permutation-invariant MNIST with
100/200/1000 labels, as an `Experiment` of the engine.

    experiment = Table2Experiment(scale=SCALES["cpu"])
    engine.reproduce(experiment, "reports/table2", Runtime(data_dir=...))

One run is one `LadderConfig` (an LN or EBGAN-LN, a label count, a seed): trained by the one loop
(`ebgan_tf.runs.train`, checkpointed, so an interrupted run resumes where it stopped), then its
batch norm is calibrated on training images and its error is measured on the first
`scale.num_eval_samples` test images (10,000: the whole MNIST test set). An EBGAN-LN run also
writes Fig. 10's 8x8 samples into its folder. The report is `ebgan_tf.experiments.table2_report`.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from ebgan_tf.configs.ladder import MODEL_KINDS, LadderConfig
from ebgan_tf.configs.scales import Scale, rows_every
from ebgan_tf.runs.experiment import Experiment

LABEL_COUNTS = (100, 200, 1000)
MNIST_TEST_IMAGES = 10_000
SAMPLES_FILE = "samples.png"  # Fig. 10's 8x8 grid of one EBGAN-LN run.
# The columns of results.csv; status and reason last, so a diverged run is a row that says so.
RESULT_COLUMNS = ["model", "labels", "seed", "error_rate", "train_steps", "margin",
                  "margin_decay_fraction", "lr", "reconstruction_weight", "noise_std",
                  "final_denoising_cost", "final_class_cost", "wall_time_s", "run_id",
                  "status", "reason"]

# overrides: `LadderConfig` fields at this scale; subset: the label counts run; batch_size: the
# unlabelled batch (an epoch is a pass over the 60,000 unlabelled images); num_eval_samples: test
# images scored, from the first.
SCALES: dict[str, Scale] = {
    "smoke": Scale(
        name="smoke",
        summary=("LN and EBGAN-LN with 100 and 1000 labels on a narrow ladder (784-64-32-10), "
                 "24 steps each, scored on the first 2,000 test images: checks the machinery in "
                 "seconds, says nothing about the paper."),
        train_steps=24, batch_size=100, log_every=8, num_eval_samples=2_000,
        overrides=dict(layer_sizes=(784, 64, 32, 10), calibration_examples=2_000),
        subset=dict(labels=(100, 1000))),
    "cpu": Scale(
        name="cpu",
        summary=("The full ladder with 100, 200 and 1000 labels, one seed, 2,400 steps (4 passes "
                 "over the unlabelled set) per run, scored on the whole test set: about 15 "
                 "minutes on 2 CPU cores."),
        train_steps=2_400, batch_size=100, log_every=240, num_eval_samples=MNIST_TEST_IMAGES,
        subset=dict(labels=LABEL_COUNTS)),
    "paper": Scale(
        name="paper",
        summary=("The paper's setting: 15 seeds (Table 2) of 120,000 steps (Appendix D as "
                 "recalled) per run, scored on the whole test set; for accelerators."),
        train_steps=120_000, batch_size=100, log_every=3_000, num_eval_samples=MNIST_TEST_IMAGES,
        num_seeds=15, reuse_workers=False, subset=dict(labels=LABEL_COUNTS)),
}


# --- data ---------------------------------------------------------------------------------------

def balanced_labelled_subset(labels: np.ndarray, num_labels: int, seed: int,
                             num_classes: int = 10) -> np.ndarray:
    """Indices of `num_labels` examples, `num_labels / num_classes` of each class 0..num_classes-1,
    chosen by `seed` (returned sorted)."""
    if num_labels % num_classes:
        raise ValueError(f"{num_labels} labels cannot be split evenly over {num_classes} classes")
    per_class = num_labels // num_classes
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ValueError(f"class {c} has only {len(members)} examples, {per_class} needed")
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def to_ladder_input(images: np.ndarray) -> np.ndarray:
    """MNIST from `mnist.load_mnist_arrays(..., pad=False)` ([N, 28, 28, 1] in [-1, 1]) to the
    permutation-invariant input: float32 [N, 784] in [0, 1], the range the ladder's noise is set
    for."""
    flat = np.asarray(images, np.float32).reshape(len(images), -1)
    return ((flat + 1.0) * 0.5).astype(np.float32)


def samples_to_images(samples: np.ndarray) -> np.ndarray:
    """Generator output [N, 784] in [0, 1] -> [N, 28, 28, 1] in [-1, 1] for `save_image_grid`."""
    side = int(round(math.sqrt(samples.shape[1])))
    return samples.reshape(-1, side, side, 1) * 2.0 - 1.0


_MNIST: dict = {}


def ladder_mnist(runtime) -> tuple[np.ndarray, ...]:
    """(train images, train labels, test images, test labels) as ladder inputs, once per process
    (a reused Ray worker runs many runs)."""
    from ebgan_tf.data import mnist

    key = (runtime.data_dir, runtime.data_source)
    if key not in _MNIST:
        splits = [mnist.load_mnist_arrays(split, runtime.data_dir, pad=False,
                                          data_source=runtime.data_source)
                  for split in ("train", "test")]
        _MNIST[key] = tuple(x for images, labels in splits
                            for x in (to_ladder_input(images), labels))
    return _MNIST[key]


# --- one run ------------------------------------------------------------------------------------

def train_and_evaluate(cfg: LadderConfig, run_dir: Path, runtime, log_every: int,
                       num_eval_samples: int) -> dict:
    """Trains one LN / EBGAN-LN run in `run_dir` (resuming its checkpoint) and measures its test
    error (%) on the first `num_eval_samples` test images; returns the outcome."""
    import keras
    import tensorflow as tf

    from ebgan_tf import distribute, ladder
    from ebgan_tf.data import streams
    from ebgan_tf.reporting.plots import save_image_grid
    from ebgan_tf.runs import train

    train_images, train_labels, test_images, test_labels = ladder_mnist(runtime)
    keras.backend.clear_session()
    keras.utils.set_random_seed(cfg.seed)  # For any random op without a seed of its own.
    labelled = balanced_labelled_subset(train_labels, cfg.num_labels, cfg.seed)
    noise_dim = cfg.noise_dim if cfg.kind == "ebgan_ln" else None
    with distribute.make_strategy(runtime.strategy).scope():
        model = ladder.build_model(cfg, jit_compile=runtime.jit_compile)

    def stream_from(step):
        return streams.semi_supervised_stream(
            train_images, train_labels, labelled, cfg.labelled_batch_size,
            cfg.unlabelled_batch_size, cfg.seed, noise_dim=noise_dim, start_batch=step)

    def on_step(step):
        # Once the margin is 0, EBGAN-LN is an LN: G's update can no longer move D.
        if cfg.kind == "ebgan_ln" and model.adversarial and step >= cfg.margin_decay_steps:
            model.stop_adversarial()

    log = train.train(model, stream_from, run_dir, cfg.train_steps, log_every, checkpoint=True,
                      on_step=on_step)
    outcome = {"final_metrics": log.final, "steps_run": log.steps_done}
    if log.diverged:
        return {**outcome, "status": "diverged",
                "reason": f"non-finite training loss in the row ending at step {log.steps_done}"}
    rng = np.random.default_rng(cfg.seed)
    calibration = rng.choice(len(train_images), min(cfg.calibration_examples, len(train_images)),
                             replace=False)
    model.ladder.calibrate(train_images[np.sort(calibration)])
    test_images, test_labels = test_images[:num_eval_samples], test_labels[:num_eval_samples]
    predictions = np.concatenate([
        np.argmax(model.ladder.classify(tf.constant(test_images[i:i + 5000])).numpy(), axis=1)
        for i in range(0, len(test_images), 5000)])
    outcome["error_rate"] = float(np.mean(predictions != test_labels) * 100.0)
    if cfg.kind == "ebgan_ln":
        noise = tf.random.stateless_normal([64, cfg.noise_dim], seed=[cfg.seed, 10])
        save_image_grid(samples_to_images(model.generate(noise).numpy()), 8, 8,
                        Path(run_dir) / SAMPLES_FILE, scale=2)
    return {**outcome, "status": "ok"}


def result_record(cfg: LadderConfig, outcome: dict, wall_time_s: float,
                  num_eval_samples: int) -> dict:
    final = outcome.get("final_metrics", {})
    ebgan = cfg.kind == "ebgan_ln"
    nan = float("nan")
    return {
        "run_id": cfg.run_id, "status": outcome["status"], "reason": outcome.get("reason", ""),
        "model": cfg.kind, "labels": cfg.num_labels, "seed": cfg.seed,
        "error_rate": outcome.get("error_rate", nan), "train_steps": cfg.train_steps,
        # The LN has no margin: 0 says so in the table.
        "margin": cfg.margin if ebgan else 0.0,
        "margin_decay_fraction": cfg.margin_decay_fraction if ebgan else 0.0,
        "lr": cfg.lr, "reconstruction_weight": cfg.reconstruction_weight,
        "noise_std": cfg.noise_std,
        "final_denoising_cost": final.get("denoising_cost", nan),
        "final_class_cost": final.get("class_cost", nan),
        "wall_time_s": round(wall_time_s, 2), "steps_run": outcome.get("steps_run", 0),
        "num_eval_samples": num_eval_samples, "final_metrics": final,
    }


# --- the experiment -----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Table2Experiment(Experiment):
    """Table 2 at one scale: every (seed, label count, model) run, with the flags' overrides.

    `labels`, `num_seeds` and `train_steps` default (None) to the scale's; `margin` (None) to
    `LadderConfig`'s; seeds are `seed`, `seed + 1`, ... (LN and EBGAN-LN share them)."""

    scale: Scale = SCALES["cpu"]
    labels: tuple[int, ...] | None = None
    num_seeds: int | None = None
    seed: int = 0
    models: tuple[str, ...] = MODEL_KINDS
    margin: float | None = None
    train_steps: int | None = None
    name = "table2"
    resumable = True
    hparam_metrics = ("error_rate",)

    def __post_init__(self):
        if self.num_seeds is not None and self.num_seeds < 1:
            raise ValueError(f"num_seeds must be at least 1, got {self.num_seeds}")
        if not self.label_counts:
            raise ValueError("no label counts to run")
        if not self.models or any(kind not in MODEL_KINDS for kind in self.models):
            raise ValueError(f"models must be some of {MODEL_KINDS}, got {self.models}")
        if not 0 < self.scale.num_eval_samples <= MNIST_TEST_IMAGES:
            raise ValueError(f"num_eval_samples must be in 1..{MNIST_TEST_IMAGES}, got "
                             f"{self.scale.num_eval_samples}")
        self.specs()  # A setting LadderConfig rejects is an error now, not when runs start.

    @property
    def label_counts(self) -> tuple[int, ...]:
        return tuple(self.scale.subset["labels"] if self.labels is None else self.labels)

    @property
    def seeds(self) -> list[int]:
        count = self.scale.num_seeds if self.num_seeds is None else self.num_seeds
        return list(range(self.seed, self.seed + count))

    def base_config(self) -> LadderConfig:
        """Every run's settings but kind, num_labels and seed."""
        steps = self.scale.train_steps if self.train_steps is None else self.train_steps
        changes = dict(train_steps=steps, unlabelled_batch_size=self.scale.batch_size)
        if self.margin is not None:
            changes["margin"] = self.margin
        return LadderConfig(**{**self.scale.overrides, **changes})

    def specs(self) -> list[LadderConfig]:
        """Labels-major, so that a partial experiment fills whole columns of Table 2 first."""
        base = self.base_config()
        return [base.replace(kind=kind, num_labels=n, seed=seed)
                for seed in self.seeds for n in self.label_counts for kind in self.models]

    def log_every(self, cfg: LadderConfig) -> int:
        """Steps per metrics row (and checkpoint). `on_step` runs only at row ends, so for
        EBGAN-LN the rows are shortened until the margin-decay step is a row end."""
        every = self.scale.log_every
        if cfg.train_steps != self.scale.train_steps:
            every = rows_every(cfg.train_steps, self.scale.train_steps // self.scale.log_every)
        return math.gcd(every, cfg.margin_decay_steps) if cfg.kind == "ebgan_ln" else every

    def spec_from_dict(self, payload: dict) -> LadderConfig:
        return LadderConfig(**{**payload, "layer_sizes": tuple(payload["layer_sizes"])})

    def check_data(self, runtime) -> None:
        from ebgan_tf.data import mnist

        for split in mnist.SPLITS:
            mnist.load_mnist_arrays(split, runtime.data_dir, pad=False,
                                    data_source=runtime.data_source)

    def run(self, spec: LadderConfig, run_dir: Path, runtime) -> dict:
        return train_and_evaluate(spec, run_dir, runtime, self.log_every(spec),
                                  self.scale.num_eval_samples)

    def result_record(self, spec: LadderConfig, outcome: dict, wall_time_s: float) -> dict:
        return result_record(spec, outcome, wall_time_s, self.scale.num_eval_samples)

    def results_table(self, finished: list[tuple], output_dir):
        import pandas as pd

        return pd.DataFrame([result for _, result in finished], columns=RESULT_COLUMNS)

    def report_pages(self, frame, context):
        from ebgan_tf.experiments import table2_report

        return table2_report.pages(self, frame, context)

    def hparams(self, spec: LadderConfig) -> dict:
        return {"kind": spec.kind, "labels": spec.num_labels, "seed": spec.seed,
                "margin": spec.margin, "train_steps": spec.train_steps}

    def summary(self) -> str:
        cfg = self.base_config()
        return (f"Scale {self.scale.name}: {self.scale.summary} This invocation: "
                f"{len(self.specs())} runs ({', '.join(self.models)} x labels "
                f"{', '.join(map(str, self.label_counts))} x seeds "
                f"{', '.join(map(str, self.seeds))}) of {cfg.train_steps:,} steps.")
