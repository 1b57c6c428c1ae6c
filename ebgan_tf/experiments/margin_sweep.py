"""Fig. 9 (Appendix F): the EBGAN margin sweep, and the energy scale on which its margins hold.

    experiment = MarginSweep(scale=SCALES["cpu"], energy_reductions=("l2", "mse", "sse"))
    engine.reproduce(experiment, "reports/fig9", Runtime(data_dir=...))

The paper trains the EBGAN auto-encoder model (nLayerG=5, nLayerD=2, sizeG=1600, sizeD=1024, no
dropout, Adam, lr 1e-3) for m in {1, 2, 4, 6, 8, 12, 16, 32} and shows 16 samples per m: m = 1
collapses to "1"s, m = 2 gives mostly 1/7/9, m = 4-12 give diverse digits, m = 16 is noisy and
m = 32 collapses to one blob (paper.md §6.1). Each (energy reduction, m) is one MNIST trial
(`ebgan_tf.experiments.mnist_trials`), so the sweep has the grid's guarantees: one folder per
trial, `result.json` written last, reruns skip finished trials, Ray Tune or inline.

Which reduction of eq. 13 the paper used is not stated (paper.md §1.2): `l2` (‖Dec(Enc(x)) − x‖,
as written), `mse` (Torch's default criterion; the diagram's "MSE" label) or `sse`. The margins
are only meaningful on one of these scales, so the sweep runs under each and `pattern_check`
tests, per reduction, whether the paper's pattern appears. docs/energy_scale.md has the reasoning
and the measured evidence.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from ebgan_tf.configs import mlp
from ebgan_tf.configs.adversarial import ENERGY_REDUCTIONS
from ebgan_tf.configs.scales import Scale, pick
from ebgan_tf.experiments.mnist_trials import SAMPLES_ARRAY_FILE, MnistTrials, Trial

MARGINS = (1, 2, 4, 6, 8, 12, 16, 32)
SAMPLES_PER_ROW = 16  # Fig. 9 shows one row of 16 samples per m.
# What the paper's Fig. 9 shows (paper.md §6.1, read off the figure).
PAPER_FIG9 = {
    1: "almost all 1s (mode collapse)", 2: "mostly 1/7/9", 4: "diverse, good digits",
    6: "diverse, good digits", 8: "diverse, good digits", 12: "diverse, good digits",
    16: "noisy, degraded", 32: "complete collapse to one identical noisy blob",
}
# Choice: a digit class counts as produced when it holds at least 2 % of the scored samples
# (a uniform generator gives each class 10 %; 2 % ignores the classifier's stray votes on noise).
CLASS_SHARE_THRESHOLD = 0.02
# Choices: the paper's pattern, made testable. Each threshold is stated in the report.
SMALL_MARGIN, MIDDLE_MARGINS, LARGE_MARGIN = 1, (4, 6, 8, 12), 32
COLLAPSED_MAX_CLASSES = 5  # "few classes": at most half of the ten digits.
DIVERSE_MIN_CLASSES = 8  # "diverse digits": at least eight of the ten.
DEGRADED_SCORE_RATIO = 0.75  # m = 32 "degrades": log IS below 3/4 of the middle margins' median.

SWEEP_COLUMNS = [
    "energy_reduction", "margin", "status", "log_is", "i_prime", "frechet_distance",
    "num_classes", "classes_in_row", "class_histogram", "real_energy", "fake_energy",
    "d_loss", "g_loss", "hinge_active_early", "hinge_active_overall", "hinge_verdict", "steps",
    "num_eval_samples", "seed", "wall_time_s", "trial_id", "reason",
]


# overrides: the model's settings at this scale (smoke: a tiny stand-in); subset: the margins.
SCALES: dict[str, Scale] = {
    "smoke": Scale(
        name="smoke",
        summary=("3 margins (1, 8, 32) of a tiny stand-in model (nLayerG=2, sizeG=128, "
                 "sizeD=64) trained 20 steps and scored on 256 samples: checks the machinery "
                 "in seconds, says nothing about the paper."),
        train_steps=20, batch_size=64, log_every=10, num_eval_samples=256,
        overrides=dict(n_layer_g=2, size_g=128, size_d=64), subset=dict(margin=(1, 8, 32))),
    "cpu": Scale(
        name="cpu",
        summary=("The paper's model (nLayerG=5, nLayerD=2, sizeG=1600, sizeD=1024, no dropout, "
                 "Adam, lr 1e-3) for all eight margins, trained 2,000 steps of batch 64 "
                 "(2.1 epochs) and scored on 1,000 samples."),
        train_steps=2_000, batch_size=64, log_every=100, num_eval_samples=1_000,
        subset=dict(margin=MARGINS)),
    "paper": Scale(
        name="paper",
        summary=("The paper's model for all eight margins. The paper gives no training budget; "
                 "the suite's choice is the grid's: 20 epochs (18,740 steps of batch 64), scored "
                 "on 10,000 samples."),
        train_steps=18_740, batch_size=64, log_every=1_874, num_eval_samples=10_000,
        reuse_workers=False, subset=dict(margin=MARGINS)),
}


def base_config(scale: Scale) -> mlp.MLPConfig:
    """The Fig. 9 model at a scale (the paper's at cpu and paper scale)."""
    return mlp.preset("fig9", **scale.overrides)


def sweep_trials(scale: str | Scale, energy_reductions=("l2",), seed: int = 0,
                 margins=None, precision: str = "float32") -> list[Trial]:
    """One trial per (energy reduction, margin), reductions in the order given, margins ascending."""
    scale = pick(SCALES, scale) if isinstance(scale, str) else scale
    for reduction in energy_reductions:
        if reduction not in ENERGY_REDUCTIONS:
            raise ValueError(f"energy reduction must be one of {ENERGY_REDUCTIONS}, "
                             f"got {reduction!r}")
    margins = tuple(sorted(float(m) for m in (margins or scale.subset["margin"])))
    if not margins or any(m < 0 for m in margins):
        raise ValueError(f"margins must be non-negative numbers, got {margins}")
    base = base_config(scale)
    return [Trial(base.replace(margin=m, energy_reduction=reduction, seed=seed,
                               train_steps=scale.train_steps),
                  num_eval_samples=scale.num_eval_samples, eval_seed=seed,
                  log_every=scale.log_every, precision=precision)
            for reduction in energy_reductions for m in margins]


# --- the per-m table -------------------------------------------------------------------------

def produced_classes(class_counts, threshold: float = CLASS_SHARE_THRESHOLD) -> int:
    """How many digit classes hold at least `threshold` of the samples.

    Args:
      class_counts: [10] samples per predicted class.
    """
    counts = np.asarray(class_counts, np.float64)
    total = counts.sum()
    return int((counts >= threshold * total).sum()) if total > 0 else 0


def row_samples(output_dir, trial_id: str) -> np.ndarray | None:
    """The first 16 of the trial's saved samples [16, 32, 32, 1] (float32), or None."""
    path = Path(output_dir) / "trials" / trial_id / SAMPLES_ARRAY_FILE
    if not path.is_file():
        return None
    return np.load(path)[:SAMPLES_PER_ROW].astype(np.float32)


def sweep_table(finished: list[tuple[Trial, dict]], output_dir) -> list[dict]:
    """One row per finished trial (`SWEEP_COLUMNS`), from (trial, result) pairs, in order."""
    from ebgan_tf import metrics

    rows = []
    for trial, result in finished:
        counts = result.get("class_counts")
        samples = row_samples(output_dir, result["trial_id"]) if result["status"] == "ok" else None
        in_row = (len(set(metrics.classify_mnist(samples).argmax(axis=1).tolist()))
                  if samples is not None else 0)
        rows.append({
            "energy_reduction": trial.config.energy_reduction, "margin": trial.config.margin,
            **{name: result.get(name) for name in (
                "status", "log_is", "i_prime", "frechet_distance", "real_energy", "fake_energy",
                "d_loss", "g_loss", "hinge_active_early", "hinge_active_overall",
                "hinge_verdict", "steps", "num_eval_samples", "seed", "wall_time_s", "trial_id",
                "reason")},
            "num_classes": produced_classes(counts) if counts else 0,
            "classes_in_row": in_row,
            "class_histogram": " ".join(str(c) for c in counts) if counts else "",
        })
    return rows


# --- the paper's pattern ---------------------------------------------------------------------

def pattern_check(rows: list[dict]) -> dict:
    """Whether one reduction's sweep shows Fig. 9's pattern.

    Args:
      rows: `sweep_table` rows of one energy reduction.

    Returns:
      {"small_m_collapses", "middle_m_diverse", "large_m_degrades": bool or None (margin not run),
       "criteria_met", "criteria_checked": int, "appears": bool}.
    """
    by_margin = {float(r["margin"]): r for r in rows}

    def usable(row):
        return row is not None and row["status"] == "ok"

    small, large = by_margin.get(SMALL_MARGIN), by_margin.get(LARGE_MARGIN)
    middle = [by_margin.get(float(m)) for m in MIDDLE_MARGINS]
    checks = {"small_m_collapses": None, "middle_m_diverse": None, "large_m_degrades": None}
    if small is not None:
        checks["small_m_collapses"] = (not usable(small)
                                       or small["num_classes"] <= COLLAPSED_MAX_CLASSES)
    if all(m is not None for m in middle):
        checks["middle_m_diverse"] = all(usable(m) and m["num_classes"] >= DIVERSE_MIN_CLASSES
                                         for m in middle)
    if large is not None and all(usable(m) for m in middle):
        middle_score = float(np.median([m["log_is"] for m in middle]))
        checks["large_m_degrades"] = (not usable(large)
                                      or large["num_classes"] <= COLLAPSED_MAX_CLASSES
                                      or large["log_is"] < DEGRADED_SCORE_RATIO * middle_score)
    checked = [v for v in checks.values() if v is not None]
    return {**checks, "criteria_met": sum(checked), "criteria_checked": len(checked),
            "appears": len(checked) == 3 and all(checked)}


PATTERN_RULES = (
    f"m = {SMALL_MARGIN} collapses: at most {COLLAPSED_MAX_CLASSES} digit classes hold "
    f">= {CLASS_SHARE_THRESHOLD:.0%} of the samples (or the run diverged).",
    f"m in {MIDDLE_MARGINS} are diverse: each has at least {DIVERSE_MIN_CLASSES} such classes.",
    f"m = {LARGE_MARGIN} degrades: at most {COLLAPSED_MAX_CLASSES} classes, or log IS below "
    f"{DEGRADED_SCORE_RATIO} x the median of m in {MIDDLE_MARGINS}, or the run diverged.",
)




def l2_equivalent_margin(margin: float, reduction: str, num_pixels: int = 32 * 32) -> float:
    """The L2-energy margin whose hinge is active on exactly the same samples.

    [m - D(x)]^+ > 0 iff D(x) < m, and sse = l2^2, mse = l2^2 / N, so a margin m under sse
    acts like sqrt(m) under l2, and under mse like sqrt(m N). (The hinge's gradient differs in
    scale; where it acts does not.)
    """
    if reduction == "l2":
        return float(margin)
    if reduction == "sse":
        return math.sqrt(margin)
    if reduction == "mse":
        return math.sqrt(margin * num_pixels)
    raise ValueError(f"energy reduction must be one of {ENERGY_REDUCTIONS}, got {reduction!r}")



@dataclasses.dataclass(frozen=True)
class MarginSweep(MnistTrials):
    """Fig. 9: the sweep under `energy_reductions`; results.csv and the report also show every
    other reduction whose trials (same scale, seed and margins) already finished in the output
    folder, so sweeps run one reduction at a time add up."""

    scale: Scale = SCALES["cpu"]
    energy_reductions: tuple[str, ...] = ("l2",)
    seed: int = 0
    margins: tuple[float, ...] | None = None
    precision: str = "float32"
    name = "fig9"

    def __post_init__(self):
        self.specs()  # Bad reductions or margins are errors now, not when the runs start.

    def specs(self) -> list[Trial]:
        return sweep_trials(self.scale, self.energy_reductions, self.seed, self.margins,
                            self.precision)

    def table_specs(self) -> list[Trial]:
        return sweep_trials(self.scale, ENERGY_REDUCTIONS, self.seed, self.margins,
                            self.precision)

    def summary(self) -> str:
        return f"Scale {self.scale.name}: {self.scale.summary}"

    def results_table(self, finished: list[tuple[Trial, dict]], output_dir):
        import pandas as pd

        return pd.DataFrame(sweep_table(finished, output_dir), columns=SWEEP_COLUMNS)

    def report_pages(self, frame, context):
        from ebgan_tf.experiments import margin_sweep_report

        return margin_sweep_report.pages(self, frame, context)


def pattern_checks(experiment: MarginSweep, output_dir) -> dict:
    """{reduction: `pattern_check`} of every reduction with finished trials in `output_dir`."""
    import pandas as pd

    frame = pd.read_csv(Path(output_dir) / "results.csv")
    return {reduction: pattern_check(frame[frame["energy_reduction"] == reduction]
                                     .to_dict("records"))
            for reduction in ENERGY_REDUCTIONS if (frame["energy_reduction"] == reduction).any()}
