"""Table 2 and Figure 10 (paper §4.2): LN vs EBGAN-LN on permutation-invariant MNIST with
100/200/1000 labels, as an `Experiment` of the engine.

    experiment = Table2Experiment(scale=SCALES["cpu"])
    engine.reproduce(experiment, "reports/table2", Runtime(data_dir=...))

One run is one `LadderConfig` (an LN, an EBGAN-LN or the control, a label count, a seed),
trained and evaluated by `ebgan_tf.experiments.table2_run` (checkpointed, so an interrupted run
resumes where it stopped; validation and test error every `eval_every` steps). An EBGAN-LN or
control run also writes its 8x8 samples (Fig. 10) into its folder. At `cpu` scale the report
also shows the noise-floor comparison (`comparison=True`, `COMPARISONS`): LN, EBGAN-LN and the
control at 100 labels over 3 seeds, run into the same folder. The report is
`ebgan_tf.experiments.table2_report`.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from ebgan_tf.configs.ladder import ADVERSARIAL_KINDS, MODEL_KINDS, LadderConfig
from ebgan_tf.configs.scales import Scale, rows_every
# The data and one run; re-exported, as the experiment's API.
from ebgan_tf.experiments.table2_run import (SAMPLES_FILE, balanced_labelled_subset,  # noqa: F401
                                             result_record, samples_to_images, to_ladder_input,
                                             train_and_evaluate)
from ebgan_tf.runs.experiment import Experiment

LABEL_COUNTS = (100, 200, 1000)
MNIST_TEST_IMAGES = 10_000
# The columns of results.csv; status and reason last, so a diverged run is a row that says so.
RESULT_COLUMNS = ["model", "labels", "seed", "error_rate", "validation_error", "train_steps",
                  "hinge_active_early", "hinge_active_overall", "hinge_verdict", "margin_factor",
                  "margin_decay_fraction", "fake_batch_stats", "lr", "adam_beta1", "lambda0",
                  "noise_std", "validation_images", "final_denoising_cost", "final_class_cost",
                  "wall_time_s", "run_id", "status", "reason"]

# overrides: `LadderConfig` fields at this scale; subset: the label counts run; batch_size: the
# unlabelled batch; num_eval_samples: test images scored, from the first.
SCALES: dict[str, Scale] = {
    "smoke": Scale(
        name="smoke",
        summary=("LN, EBGAN-LN and the control with 100 and 1000 labels on a narrow ladder "
                 "(784-64-32-10), 24 steps each, scored on 2,000 validation and the first "
                 "2,000 test images: checks the machinery in seconds, says nothing about the "
                 "paper."),
        train_steps=24, batch_size=100, log_every=8, num_eval_samples=2_000,
        overrides=dict(layer_sizes=(784, 64, 32, 10), calibration_examples=2_000,
                       validation_images=2_000, margin_reference_steps=4),
        subset=dict(labels=(100, 1000))),
    "cpu": Scale(
        name="cpu",
        summary=("The full ladder with 100, 200 and 1000 labels, seeds 0-1 (and seed 2 at 100 "
                 "labels: the noise-floor comparison), LN, EBGAN-LN and the control, 1,600 "
                 "steps (3.2 passes over the 50,000-image unlabelled pool) per run, scored on "
                 "the whole test set: about 30 minutes on 2 CPU cores."),
        train_steps=1_600, batch_size=100, log_every=100, num_eval_samples=MNIST_TEST_IMAGES,
        num_seeds=2, subset=dict(labels=LABEL_COUNTS)),
    "paper": Scale(
        name="paper",
        summary=("The paper's setting: 15 seeds (Table 2) of 120,000 steps (Appendix D as "
                 "recalled) per run and model, scored on the whole test set; for accelerators."),
        train_steps=120_000, batch_size=100, log_every=2_000, num_eval_samples=MNIST_TEST_IMAGES,
        num_seeds=15, reuse_workers=False, subset=dict(labels=LABEL_COUNTS)),
}
# Steps between evaluations (validation and test error), per scale.
EVAL_EVERY = {"smoke": 8, "cpu": 400, "paper": 10_000}
# The noise-floor comparison (`comparison=True`): LN vs EBGAN-LN vs the control at 100 labels over
# seeds 0-2, at the scale's budget (12,000 steps, the wish, do not fit a 2-core half
# hour beside the other label counts: `--comparison --train_steps=12000` runs it alone); the
# script runs it into the preset's folder first, so the report holds both.
COMPARISONS = {
    "smoke": dict(labels=(100,), num_seeds=2),
    "cpu": dict(labels=(100,), num_seeds=3),
}


# --- the experiment -----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Table2Experiment(Experiment):
    """Table 2 at one scale: every (seed, label count, model) run, with the flags' overrides.

    `labels`, `num_seeds` and `train_steps` default (None) to the comparison's (`comparison`) or
    the scale's; `eval_every` to `EVAL_EVERY`; `overrides`: (LadderConfig field, value) pairs
    for every run; seeds are `seed`, `seed + 1`, ... (all models share them). `score_test=False`
    is a pilot: runs are scored on the validation images only, never on the test set."""

    scale: Scale = SCALES["cpu"]
    labels: tuple[int, ...] | None = None
    num_seeds: int | None = None
    seed: int = 0
    models: tuple[str, ...] = MODEL_KINDS
    train_steps: int | None = None
    eval_every: int | None = None
    overrides: tuple = ()
    score_test: bool = True
    comparison: bool = False
    name = "table2"
    resumable = True
    hparam_metrics = ("error_rate", "validation_error")

    def __post_init__(self):
        if self.num_seeds is not None and self.num_seeds < 1:
            raise ValueError(f"num_seeds must be at least 1, got {self.num_seeds}")
        if self.comparison and self.scale.name not in COMPARISONS:
            raise ValueError(f"the {self.scale.name} scale has no comparison")
        if not self.label_counts:
            raise ValueError("no label counts to run")
        if not self.models or any(kind not in MODEL_KINDS for kind in self.models):
            raise ValueError(f"models must be some of {MODEL_KINDS}, got {self.models}")
        if not 0 < self.scale.num_eval_samples <= MNIST_TEST_IMAGES:
            raise ValueError(f"num_eval_samples must be in 1..{MNIST_TEST_IMAGES}, got "
                             f"{self.scale.num_eval_samples}")
        if self.eval_every is not None and self.eval_every < 1:
            raise ValueError(f"eval_every must be positive, got {self.eval_every}")
        self.specs()  # A setting LadderConfig rejects is an error now, not when runs start.

    def _preset(self, key: str):
        value = getattr(self, key)
        if value is None and self.comparison:
            value = COMPARISONS[self.scale.name].get(key)
        return value

    @property
    def label_counts(self) -> tuple[int, ...]:
        labels = self._preset("labels")
        return tuple(self.scale.subset["labels"] if labels is None else labels)

    @property
    def seeds(self) -> list[int]:
        count = self._preset("num_seeds")
        count = self.scale.num_seeds if count is None else count
        return list(range(self.seed, self.seed + count))

    @property
    def steps_between_evaluations(self) -> int:
        return EVAL_EVERY[self.scale.name] if self.eval_every is None else self.eval_every

    def base_config(self) -> LadderConfig:
        """Every run's settings but kind, num_labels and seed."""
        steps = self._preset("train_steps")
        steps = self.scale.train_steps if steps is None else steps
        changes = dict(train_steps=steps, unlabelled_batch_size=self.scale.batch_size)
        return LadderConfig(**{**self.scale.overrides, **changes, **dict(self.overrides)})

    def specs(self) -> list[LadderConfig]:
        """Labels-major, so that a partial experiment fills whole columns of Table 2 first."""
        base = self.base_config()
        return [base.replace(kind=kind, num_labels=n, seed=seed)
                for seed in self.seeds for n in self.label_counts for kind in self.models]

    def table_specs(self) -> list:
        """This invocation's runs, then (at a scale with a comparison) the finished runs of its
        sibling: the preset beside the comparison, whichever ran last writes the report."""
        own = self.specs()
        if self.scale.name not in COMPARISONS or any(
                value is not None for value in (self.labels, self.num_seeds, self.train_steps)):
            return own
        seen = {s.run_id for s in own}
        sibling = dataclasses.replace(self, comparison=not self.comparison)
        return own + [s for s in sibling.specs() if s.run_id not in seen]

    def log_every(self, cfg: LadderConfig) -> int:
        """Steps per metrics row (and checkpoint). `on_step` runs only at row ends, so rows are
        shortened until every evaluation step and, for EBGAN-LN and the control, the
        margin-decay step (the switch to a plain LN) are row ends."""
        every = self.scale.log_every
        if cfg.train_steps != self.scale.train_steps:
            every = rows_every(cfg.train_steps, self.scale.train_steps // self.scale.log_every)
        every = math.gcd(every, self.steps_between_evaluations)
        return math.gcd(every, cfg.margin_decay_steps) if cfg.kind in ADVERSARIAL_KINDS else every

    def spec_from_dict(self, payload: dict) -> LadderConfig:
        return LadderConfig(**{**payload, "layer_sizes": tuple(payload["layer_sizes"])})

    def check_data(self, runtime) -> None:
        from ebgan_tf.data import mnist

        for split in mnist.SPLITS:
            mnist.load_mnist_arrays(split, runtime.data_dir, pad=False,
                                    data_source=runtime.data_source)

    def run(self, spec: LadderConfig, run_dir: Path, runtime) -> dict:
        return train_and_evaluate(spec, run_dir, runtime, self.log_every(spec),
                                  self.steps_between_evaluations, self.scale.num_eval_samples,
                                  score_test=self.score_test)

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
                "margin_factor": spec.effective_margin_factor,
                "fake_batch_stats": spec.fake_batch_stats, "train_steps": spec.train_steps}

    def summary(self) -> str:
        cfg = self.base_config()
        what = ("The noise-floor comparison" if self.comparison
                else f"Scale {self.scale.name}: {self.scale.summary}")
        return (f"{what} This invocation: {len(self.specs())} runs ({', '.join(self.models)} x "
                f"labels {', '.join(map(str, self.label_counts))} x seeds "
                f"{', '.join(map(str, self.seeds))}) of {cfg.train_steps:,} steps, evaluated "
                f"every {self.steps_between_evaluations:,}"
                + ("" if self.score_test else " on validation images only (a pilot)") + ".")
