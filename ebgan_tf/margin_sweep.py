"""Fig. 9 (Appendix F): the EBGAN margin sweep, and the energy scale on which its margins hold.

    trials = margin_sweep.sweep_trials("cpu", energy_reductions=("l2", "mse", "sse"))
    margin_sweep.reproduce("cpu", "reports/fig9", grid.TrialRuntime(data_dir=...),
                           energy_reductions=("l2", "mse", "sse"))

The paper trains the EBGAN auto-encoder model (nLayerG=5, nLayerD=2, sizeG=1600, sizeD=1024, no
dropout, Adam, lr 1e-3) for m in {1, 2, 4, 6, 8, 12, 16, 32} and shows 16 samples per m: m = 1
collapses to "1"s, m = 2 gives mostly 1/7/9, m = 4-12 give diverse digits, m = 16 is noisy and
m = 32 collapses to one blob (paper.md §6.1). Each (energy reduction, m) is one trial of the MNIST
grid's trial function (`grid.run_trial`), so the sweep has the grid's guarantees: one folder per
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
import time
from pathlib import Path

import numpy as np

from ebgan_tf import config as config_lib
from ebgan_tf import grid, report
from ebgan_tf.config import MLPConfig
from ebgan_tf.losses import ENERGY_REDUCTIONS

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
    "d_loss", "g_loss", "steps", "num_eval_samples", "seed", "wall_time_s", "trial_id", "reason",
]


@dataclasses.dataclass(frozen=True)
class SweepScale:
    """The model, margins and training budget of one scale of the sweep."""

    name: str
    summary: str
    base: MLPConfig
    margins: tuple[float, ...]
    train_steps: int
    num_eval_samples: int
    log_every: int
    reuse_workers: bool = True


SCALES: dict[str, SweepScale] = {
    "smoke": SweepScale(
        name="smoke",
        summary=("3 margins (1, 8, 32) of a tiny stand-in model (nLayerG=2, sizeG=128, "
                 "sizeD=64) trained 20 steps and scored on 256 samples: checks the machinery "
                 "in seconds, says nothing about the paper."),
        base=config_lib.preset("fig9", n_layer_g=2, size_g=128, size_d=64),
        margins=(1, 8, 32), train_steps=20, num_eval_samples=256, log_every=10),
    "cpu": SweepScale(
        name="cpu",
        summary=("The paper's model (nLayerG=5, nLayerD=2, sizeG=1600, sizeD=1024, no dropout, "
                 "Adam, lr 1e-3) for all eight margins, trained 2,000 steps of batch 64 "
                 "(2.1 epochs) and scored on 1,000 samples: about 12 minutes per energy "
                 "reduction on 2 CPU cores (two trials at a time)."),
        base=config_lib.preset("fig9"),
        margins=MARGINS, train_steps=2_000, num_eval_samples=1_000, log_every=100),
    "paper": SweepScale(
        name="paper",
        summary=("The paper's model for all eight margins. The paper gives no training budget; "
                 "the suite's choice is the grid's: 20 epochs (18,740 steps of batch 64), scored "
                 "on 10,000 samples."),
        base=config_lib.preset("fig9"),
        margins=MARGINS, train_steps=18_740, num_eval_samples=10_000, log_every=1_874,
        reuse_workers=False),
}


def sweep_trials(scale: str | SweepScale, energy_reductions=("l2",), seed: int = 0,
                 margins=None, precision: str = "float32") -> list[grid.Trial]:
    """One trial per (energy reduction, margin), reductions in the order given, margins ascending."""
    scale = _scale(scale)
    for reduction in energy_reductions:
        if reduction not in ENERGY_REDUCTIONS:
            raise ValueError(f"energy reduction must be one of {ENERGY_REDUCTIONS}, "
                             f"got {reduction!r}")
    margins = tuple(sorted(float(m) for m in (margins or scale.margins)))
    if not margins or any(m < 0 for m in margins):
        raise ValueError(f"margins must be non-negative numbers, got {margins}")
    return [grid.Trial(scale.base.replace(margin=m, energy_reduction=reduction, seed=seed,
                                          train_steps=scale.train_steps),
                       num_eval_samples=scale.num_eval_samples, eval_seed=seed,
                       log_every=scale.log_every, precision=precision)
            for reduction in energy_reductions for m in margins]


def _scale(scale: str | SweepScale) -> SweepScale:
    if isinstance(scale, SweepScale):
        return scale
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {sorted(SCALES)}, got {scale!r}")
    return SCALES[scale]


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
    path = Path(output_dir) / "trials" / trial_id / grid.SAMPLES_ARRAY_FILE
    if not path.is_file():
        return None
    return np.load(path)[:SAMPLES_PER_ROW].astype(np.float32)


def sweep_table(trials: list[grid.Trial], output_dir) -> list[dict]:
    """One row per finished trial (`SWEEP_COLUMNS`), in `trials` order."""
    from ebgan_tf import metrics

    rows = []
    for trial in trials:
        result = grid.read_result(output_dir, trial)
        if result is None:
            continue
        counts = result.get("class_counts")
        samples = row_samples(output_dir, trial.trial_id) if result["status"] == "ok" else None
        in_row = (len(set(metrics.classify_mnist(samples).argmax(axis=1).tolist()))
                  if samples is not None else 0)
        rows.append({
            "energy_reduction": trial.config.energy_reduction,
            "margin": trial.config.margin,
            **{name: result.get(name) for name in (
                "status", "log_is", "i_prime", "frechet_distance", "real_energy", "fake_energy",
                "d_loss", "g_loss", "steps", "num_eval_samples", "seed", "wall_time_s",
                "trial_id", "reason")},
            "num_classes": produced_classes(counts) if counts else 0,
            "classes_in_row": in_row,
            "class_histogram": " ".join(str(c) for c in counts) if counts else "",
        })
    return rows


def write_results_csv(rows: list[dict], output_dir) -> Path:
    """`<output_dir>/results.csv`: one row per (energy reduction, margin), written atomically."""
    import pandas as pd

    path = Path(output_dir) / "results.csv"
    report.write_text_atomic(path, pd.DataFrame(rows, columns=SWEEP_COLUMNS).to_csv(index=False))
    return path


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


# --- figures ---------------------------------------------------------------------------------

def draw_fig9(rows_by_reduction: dict, output_dir, path) -> Path:
    """Fig. 9 once per reduction, side by side: one row of 16 samples per m, m ascending."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reductions = list(rows_by_reduction)
    margins = sorted({r["margin"] for rows in rows_by_reduction.values() for r in rows})
    width = 6.2
    fig, axes = plt.subplots(1, len(reductions), squeeze=False, figsize=(
        width * len(reductions), width * len(margins) / SAMPLES_PER_ROW + 0.8))
    blank = np.full((SAMPLES_PER_ROW, 32, 32, 1), -1.0, np.float32)
    for ax, reduction in zip(axes[0], reductions):
        by_margin = {r["margin"]: r for r in rows_by_reduction[reduction]}
        strips = []
        for m in margins:  # A margin this reduction has not finished, or a diverged run: blank.
            row = by_margin.get(m)
            samples = (row_samples(output_dir, row["trial_id"])
                       if row is not None and row["status"] == "ok" else None)
            strips.append(samples if samples is not None else blank)
        grid_image = report.image_grid(np.concatenate(strips), len(margins), SAMPLES_PER_ROW)
        ax.imshow(grid_image[..., 0], cmap="gray", vmin=0, vmax=255)
        step = grid_image.shape[0] / len(margins)
        ax.set_yticks([(i + 0.5) * step for i in range(len(margins))],
                      [f"m={m:g}" for m in margins])
        ax.set_xticks([])
        ax.set_title(f"energy = {reduction}")
    fig.suptitle("Fig. 9: 16 samples per margin, m from top to bottom (same z in every row)",
                 y=1.02)
    return report.save_figure(fig, path)


def draw_class_histograms(rows_by_reduction: dict, path) -> Path:
    """Share of samples per digit class (columns) for each m (rows), one heatmap per reduction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    reductions = list(rows_by_reduction)
    fig, axes = plt.subplots(1, len(reductions), figsize=(4.6 * len(reductions), 3.6), squeeze=False)
    for ax, reduction in zip(axes[0], reductions):
        rows = [r for r in rows_by_reduction[reduction] if r["class_histogram"]]
        shares = np.array([[int(c) for c in r["class_histogram"].split()] for r in rows], float)
        shares = shares / np.maximum(shares.sum(axis=1, keepdims=True), 1)
        sns.heatmap(shares, ax=ax, vmin=0, vmax=1, cmap="viridis", cbar=ax is axes[0][-1],
                    xticklabels=list(range(10)), yticklabels=[f"m={r['margin']:g}" for r in rows])
        ax.set_xlabel("digit class (committed classifier)")
        ax.set_title(f"energy = {reduction}")
    fig.suptitle("Which digits each margin's generator makes (share of the scored samples)",
                 y=1.04)
    return report.save_figure(fig, path)


def draw_energies(rows_by_reduction: dict, path) -> Path:
    """Final real and fake energies against m, with the line energy = m, per reduction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    reductions = list(rows_by_reduction)
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, len(reductions), figsize=(4.6 * len(reductions), 3.4),
                                 squeeze=False)
    for ax, reduction in zip(axes[0], reductions):
        rows = [r for r in rows_by_reduction[reduction] if r["status"] == "ok"]
        margins = [r["margin"] for r in rows]
        ax.plot(margins, [r["real_energy"] for r in rows], "o-", label="D(x), real")
        ax.plot(margins, [r["fake_energy"] for r in rows], "s-", label="D(G(z)), fake")
        if margins:
            ax.plot(margins, margins, "k--", lw=1, label="energy = m")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("margin m")
        ax.set_ylabel("energy (last 100 steps' mean)")
        ax.set_title(f"energy = {reduction}")
        ax.legend(fontsize=8)
    fig.suptitle("The hinge max(0, m - D(G(z))) acts only while the fake energy is below m",
                 y=1.04)
    return report.save_figure(fig, path)


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


def draw_equivalent_margins(rows_by_reduction: dict, path, num_pixels: int = 32 * 32) -> Path:
    """log IS and digit classes against the L2-equivalent margin, all reductions on one axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for reduction, rows in rows_by_reduction.items():
        rows = [r for r in rows if r["status"] == "ok"]
        x = [l2_equivalent_margin(r["margin"], reduction, num_pixels) for r in rows]
        axes[0].plot(x, [r["log_is"] for r in rows], "o-", label=reduction)
        axes[1].plot(x, [r["num_classes"] for r in rows], "o-", label=reduction)
    for ax, label in zip(axes, ("log IS", f"digit classes (>= {CLASS_SHARE_THRESHOLD:.0%})")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("L2-equivalent margin")
        ax.set_ylabel(label)
        ax.axvspan(min(MIDDLE_MARGINS), max(MIDDLE_MARGINS), color="0.9", zorder=0)
        ax.legend(title="energy", fontsize=8)
    fig.suptitle("The three sweeps on one scale: the shaded band is the paper's diverse "
                 "range m = 4-12 read as L2", y=1.04)
    return report.save_figure(fig, path)


# --- the report ------------------------------------------------------------------------------

def _display_rows(rows: list[dict]) -> list[dict]:
    return [{"m": r["margin"], "status": r["status"], "log IS": r["log_is"], "I'": r["i_prime"],
             "Fréchet distance": r["frechet_distance"],
             f"classes (>= {CLASS_SHARE_THRESHOLD:.0%})": r["num_classes"],
             "classes in the row of 16": r["classes_in_row"],
             "samples per class 0-9": r["class_histogram"],
             "real energy": r["real_energy"], "fake energy": r["fake_energy"],
             "paper's Fig. 9": PAPER_FIG9.get(r["margin"], "")}
            for r in rows]


def _check_cell(value) -> str:
    return "not run" if value is None else ("yes" if value else "no")


def write_sweep_report(rows_by_reduction: dict, output_dir, scale: SweepScale, runs: list[dict],
                       provenance_info: dict) -> Path:
    output_dir = Path(output_dir)
    checks = {r: pattern_check(rows) for r, rows in rows_by_reduction.items()}
    summary_rows = [{"energy reduction": r, "margins run": len(rows_by_reduction[r]),
                     "m=1 collapses": _check_cell(c["small_m_collapses"]),
                     "m=4-12 diverse": _check_cell(c["middle_m_diverse"]),
                     "m=32 degrades": _check_cell(c["large_m_degrades"]),
                     "pattern appears": "yes" if c["appears"] else
                     f"no ({c['criteria_met']}/{c['criteria_checked']} criteria)"}
                    for r, c in checks.items()]
    appearing = [r for r, c in checks.items() if c["appears"]]
    default = MLPConfig().energy_reduction
    blocks = [report.paragraph(f"Scale: {scale.name}. {scale.summary}"),
              report.table(summary_rows),
              report.verdict(f"Fig. 9's pattern appears under the suite's default energy "
                             f"({default})", default in appearing)]
    if len(rows_by_reduction) > 1:
        blocks.append(report.paragraph(
            "Reductions under which the pattern appears: "
            + (", ".join(appearing) if appearing else "none") + "; most criteria met: "
            + ", ".join(f"{r} ({c['criteria_met']}/{c['criteria_checked']})"
                        for r, c in sorted(checks.items(), key=lambda rc: -rc[1]["criteria_met"]))
            + ". The last figure puts the sweeps on one (L2-equivalent) margin axis. The "
            "reasoning and the default are in docs/energy_scale.md."))
    blocks += [report.paragraph("Every invocation on this folder (a rerun only runs what is "
                                "missing):"), report.table(runs)]
    sections = [report.Section("Summary", blocks)]
    png = draw_fig9(rows_by_reduction, output_dir, output_dir / "fig9.png")
    sections.append(report.Section("Figure 9", [
        report.figure(png, "Each panel is the paper's figure under one energy reduction: m = 1, "
                           "2, 4, 6, 8, 12, 16, 32 from top to bottom, 16 samples per row, the "
                           "same latent vectors in every row."),
        report.paragraph("The paper's figure: m = 1 almost all 1s; m = 2 mostly 1/7/9; m = 4, 6, "
                         "8, 12 diverse good digits; m = 16 noisy; m = 32 one identical noisy "
                         "blob (paper.md §6.1)."),
    ]))
    for reduction, rows in rows_by_reduction.items():
        sections.append(report.Section(f"Per margin, energy = {reduction}",
                                       [report.table(_display_rows(rows))]))
    sections.append(report.Section("Which digits, and the energies", [
        report.figure(draw_class_histograms(rows_by_reduction, output_dir / "fig9_classes.png"),
                      "Mode dropping: the share of samples the committed classifier puts in "
                      "each class."),
        report.figure(draw_energies(rows_by_reduction, output_dir / "fig9_energies.png"),
                      "If the fake energy cannot reach m, D's hinge never switches off and m "
                      "has no meaning on that scale."),
    ]))
    if len(rows_by_reduction) > 1:
        pixels = scale.base.image_size ** 2
        sections.append(report.Section("The three energy scales on one axis", [
            report.figure(draw_equivalent_margins(rows_by_reduction,
                                                  output_dir / "fig9_equivalent.png", pixels),
                          "Each sweep plotted against the L2 margin whose hinge acts on the same "
                          "samples: m under l2, sqrt(m) under sse, sqrt(N m) under mse (sse = "
                          "l2², mse = l2² / N, N = 1,024 pixels). If the curves line up, what "
                          "matters is the margin on the L2 scale, and the paper's margins can "
                          "be read on the scale where its pattern falls at its m."),
        ]))
    sections.append(report.Section("Settings the paper is silent on", [
        report.choice(f"Training budget: {scale.train_steps:,} steps of batch "
                      f"{scale.base.batch_size} at this scale (the paper gives none)."),
        report.choice(f"Scored on {scale.num_eval_samples:,} samples; the rows of Fig. 9 are the "
                      "first 16 of the 96 samples drawn with the evaluation seed."),
        report.choice("The pattern, made testable: " + " ".join(PATTERN_RULES)),
        report.choice("Plain EBGAN (no pulling-away term), as the caption's 'EBGAN auto-encoder "
                      "model' suggests; every other setting as in Figs. 2-4 (see the grid "
                      "report)."),
        report.paragraph("The paper's budget: python reproductions/fig9_margin_sweep.py "
                         "--scale=paper --energy_reduction=all [--ray_address=<cluster>]."),
    ]))
    return report.write_report(output_dir, f"EBGAN Fig. 9: the margin sweep ({scale.name} scale)",
                               sections, provenance_info,
                               subtitle="Zhao, Mathieu, LeCun (ICLR 2017), Appendix E-F, Fig. 9.")


def reproduce(scale: str, output_dir, runtime: grid.TrialRuntime, energy_reductions=("l2",),
              seed: int = 0, margins=None, mixed_precision: bool = False,
              executor: str = "ray", ray_address: str | None = None,
              cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0,
              max_concurrent_trials: int | None = None, print_fn=print) -> Path:
    """Runs or resumes the sweep under `energy_reductions`, then writes the report.

    The report and results.csv also include every other reduction whose trials (same scale,
    seed and margins) already finished in `output_dir`, so sweeps run one at a time add up.
    """
    scale_spec = _scale(scale)
    precision = "mixed" if mixed_precision else "float32"
    trials = sweep_trials(scale_spec, energy_reductions, seed, margins, precision)
    print_fn(f"Scale {scale_spec.name}: {scale_spec.summary}")
    grid.check_data(runtime)
    output_dir = Path(output_dir)
    pending = sum(grid.read_result(output_dir, t) is None for t in trials)
    started = time.time()
    grid.run_grid(trials, output_dir, runtime, executor=executor, ray_address=ray_address,
                  cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial,
                  max_concurrent_trials=max_concurrent_trials,
                  reuse_workers=scale_spec.reuse_workers, print_fn=print_fn)
    wall_time_s = time.time() - started
    rows_by_reduction = {}
    for reduction in ENERGY_REDUCTIONS:
        rows = sweep_table(sweep_trials(scale_spec, (reduction,), seed, margins, precision),
                           output_dir)
        if reduction in energy_reductions or rows:
            rows_by_reduction[reduction] = rows
    all_rows = [row for rows in rows_by_reduction.values() for row in rows]
    csv_path = write_results_csv(all_rows, output_dir)
    info = report.provenance(wall_time_s, scale=scale_spec.name, seed=seed,
                             energy_reductions=",".join(energy_reductions),
                             trials=len(trials), executor=executor,
                             cpus_per_trial=cpus_per_trial, precision=precision,
                             deterministic=runtime.deterministic, jit_compile=runtime.jit_compile)
    runs = report.append_run_log(output_dir, {
        "started (UTC)": time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)),
        "energy reductions": ",".join(energy_reductions), "trials run": pending,
        "wall time, min": round(wall_time_s / 60, 1), "hardware": info["hardware"],
        "executor": executor, "cpus per trial": cpus_per_trial})
    path = write_sweep_report(rows_by_reduction, output_dir, scale_spec, runs, info)
    for reduction, rows in rows_by_reduction.items():
        check = pattern_check(rows)
        print_fn(f"energy={reduction}: Fig. 9 pattern "
                 f"{'appears' if check['appears'] else 'does not appear'} "
                 f"({check['criteria_met']}/{check['criteria_checked']} criteria).")
    print_fn(f"Wrote {path} and {csv_path}.")
    return path
