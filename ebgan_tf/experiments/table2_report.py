"""The Table 2 / Fig. 10 report: per budget, Table 2 beside the paper's rows with the control and
the noise-floor verdict; whether each EBGAN-LN run's hinge engaged (runs whose hinge did not engage
are flagged "not an EBGAN" and left out of EBGAN-LN's means); the error during training; Fig. 10;
the runs; the settings chosen on validation images (pilots.csv) and the settings table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ebgan_tf.experiments import table2_figures as figures
from ebgan_tf.experiments.table2 import LABEL_COUNTS, RESULT_COLUMNS
from ebgan_tf.reporting import hinge, html
from ebgan_tf.runs.experiment import Page

# Table 2 of the paper (paper.md §3.2): error in %, mean ± std over 15 seeds; None = not reported.
PAPER_TABLE2 = [
    ("LN bottom-layer-cost, reported in Pezeshki et al. (2015)",
     {100: (1.69, 0.18), 200: None, 1000: (1.05, 0.02)}),
    ("LN bottom-layer-cost, reported in Rasmus et al. (2015)",
     {100: (1.09, 0.32), 200: None, 1000: (0.90, 0.05)}),
    ("LN bottom-layer-cost, reproduced in this work (see appendix D)",
     {100: (1.36, 0.21), 200: (1.24, 0.09), 1000: (1.04, 0.06)}),
    ("LN bottom-layer-cost within EBGAN framework",
     {100: (1.04, 0.12), 200: (0.99, 0.12), 1000: (0.89, 0.04)}),
]
PAPER_IMPROVEMENT = {100: 23.5, 200: 20.2, 1000: 14.4}
MODEL_NAMES = {"ln": "LN bottom-layer-cost (ours)", "ebgan_ln": "EBGAN-LN (ours, hinge engaged)",
               "control": "Control: EBGAN-LN with m = 0 (ours)"}
PILOTS_FILE = "pilots.csv"  # The settings chosen on validation images: evidence, committed.


# --- the table's arithmetic ---------------------------------------------------------------------

def counted(r: dict) -> bool:
    """A run in the means: finished ok with a test error and, for EBGAN-LN, an engaged hinge.

    An inert hinge leaves an LN; a saturated one (every fake under m throughout) never lets D
    push a fake over the margin, so neither is the EBGAN Table 2 is about: both are shown with
    their verdict and left out, as is a run whose hinge was not logged."""
    error = r.get("error_rate", math.nan)
    return (r.get("status", "ok") == "ok" and isinstance(error, (int, float))
            and math.isfinite(error)
            and not (r["model"] == "ebgan_ln" and r.get("hinge_verdict") != "engaged"))


def summarise(rows: list[dict]) -> dict:
    """{model: {labels: (mean, std, n)}} over the `counted` runs; std is the sample std (ddof
    1), NaN for one seed."""
    ok = [r for r in rows if counted(r)]
    summary: dict = {}
    for model in MODEL_NAMES:
        for labels in sorted({r["labels"] for r in ok}):
            errors = [r["error_rate"] for r in ok if r["model"] == model and r["labels"] == labels]
            if errors:
                std = float(np.std(errors, ddof=1)) if len(errors) > 1 else float("nan")
                summary.setdefault(model, {})[labels] = (float(np.mean(errors)), std, len(errors))
    return summary


def relative_improvement(ln_error: float, ebgan_ln_error: float) -> float:
    """(LN - EBGAN-LN) / LN in %, as Table 2's last row (measured against the reproduced LN)."""
    return (ln_error - ebgan_ln_error) / ln_error * 100.0


def noise_floor(rows: list[dict], labels: int) -> dict | None:
    """The paired comparison at one label count (criterion C4, fixed before the runs).

    Per seed with all three models counted: gain = err(LN) - err(EBGAN-LN) and control_gain =
    err(LN) - err(control), which is pure noise (the control differs from the LN only in its
    corruption-noise draws). sigma = RMS of control_gain; the threshold is 2 sigma / sqrt(n).
    verdict: "beats" (mean gain above it), "worse" (below minus it) or "within". None when no
    seed has all three."""
    by_seed: dict = {}
    for r in rows:
        if r["labels"] == labels and counted(r):
            by_seed.setdefault(r["seed"], {})[r["model"]] = r["error_rate"]
    per_seed = [{"seed": seed, **errors, "gain": errors["ln"] - errors["ebgan_ln"],
                 "control_gain": errors["ln"] - errors["control"]}
                for seed, errors in sorted(by_seed.items()) if len(errors) == 3]
    if not per_seed:
        return None
    n = len(per_seed)
    gain = float(np.mean([p["gain"] for p in per_seed]))
    sigma = float(np.sqrt(np.mean([p["control_gain"] ** 2 for p in per_seed])))
    threshold = 2.0 * sigma / math.sqrt(n)
    verdict = "beats" if gain > threshold else "worse" if gain < -threshold else "within"
    return {"labels": labels, "per_seed": per_seed, "n": n, "gain": gain, "sigma": sigma,
            "control_gain": float(np.mean([p["control_gain"] for p in per_seed])),
            "threshold": threshold, "verdict": verdict}


def noise_floor_sentence(result: dict, steps: int) -> str:
    """The plain sentence the report gives for one `noise_floor` result."""
    seeds = f"{result['n']} seed{'s' if result['n'] > 1 else ''}"
    what = {"beats": "beats the LN beyond the noise floor",
            "worse": "is worse than the LN beyond the noise floor",
            "within": "does not beat the LN beyond the noise floor"}[result["verdict"]]
    direction = "lower" if result["gain"] >= 0 else "higher"
    return (f"At {result['labels']} labels and {steps:,} steps ({seeds}), EBGAN-LN {what}: its "
            f"test error is {abs(result['gain']):.2f} points {direction} than the LN's on "
            f"average (paired over seeds, LN − EBGAN-LN = {result['gain']:+.2f}), while for the "
            f"control, which differs from the LN only in noise draws, LN − control = "
            f"{result['control_gain']:+.2f} (RMS {result['sigma']:.2f}); the bar is "
            f"2 x {result['sigma']:.2f} / sqrt({result['n']}) = {result['threshold']:.2f} points.")


def _format(value) -> str:
    if value is None:
        return "–"
    mean, std = value[0], value[1]
    return f"{mean:.2f}" if not math.isfinite(std) else f"{mean:.2f} ± {std:.2f}"


def _seed_count(values: dict) -> str:
    counts = sorted({v[2] for v in values.values()})
    return f"{'/'.join(map(str, counts))} seed{'s' if counts != [1] else ''}"


def table2_rows(summary: dict, label_counts=LABEL_COUNTS) -> list[dict]:
    """Table 2: the paper's rows, its improvement, then ours (LN, EBGAN-LN, control) and our
    improvement."""
    rows = [{"model": name, **{str(n): _format(values.get(n)) for n in label_counts}}
            for name, values in PAPER_TABLE2 if any(n in values for n in label_counts)]
    rows.append({"model": "Relative percentage improvement (paper)",
                 **{str(n): f"{PAPER_IMPROVEMENT[n]:.1f} %" if n in PAPER_IMPROVEMENT else "–"
                    for n in label_counts}})
    for model, name in MODEL_NAMES.items():
        values = summary.get(model, {})
        rows.append({"model": name + (f", {_seed_count(values)}" if values else ""),
                     **{str(n): _format(values.get(n)) for n in label_counts}})
    improvement = {}
    for n in label_counts:
        ln, eb = summary.get("ln", {}).get(n), summary.get("ebgan_ln", {}).get(n)
        improvement[str(n)] = (f"{relative_improvement(ln[0], eb[0]):.1f} %" if ln and eb else "–")
    rows.append({"model": "Relative percentage improvement (ours)", **improvement})
    return rows


# --- the page -----------------------------------------------------------------------------------

def analysis_choices(experiment) -> list[str]:
    """The choices that are not `LadderConfig` fields (those are in the settings table)."""
    spec = experiment.specs()[0]
    return [
        "Seeds: LN, EBGAN-LN and the control of one seed share its labelled subset, initial "
        "ladder weights and data order; they differ in the ladder's corruption-noise draws "
        "(EBGAN-LN's and the control's fake passes draw noise too). Labelled subsets are "
        "class-balanced (labels/10 per digit), drawn with numpy's default_rng(seed) from the "
        "training images outside the validation split.",
        "Bottom-layer cost: the full ladder (corrupted encoder, lateral connections, the vanilla "
        "combinator of Rasmus et al. 2015 eq. 2, decoder to the input), paying only the input "
        "layer's denoising cost, on input pixels in [0, 1].",
        "Each step: a batch of the labelled subset (reshuffled each pass) and a batch of the "
        "unlabelled pool; labelled and unlabelled batches go through the ladder separately, "
        "each normalised with its own batch statistics (all-reduced over replicas); fakes as "
        "fake_batch_stats says.",
        "Test-time batch norm: population statistics of the clean encoder over "
        "calibration_examples pool images at each evaluation (not running averages). The "
        "error in Table 2 is the last step's (no early stopping, no choice by test error) on "
        f"the first {experiment.scale.num_eval_samples:,} test images; validation and test "
        f"error are also logged every {experiment.steps_between_evaluations:,} steps.",
        "EBGAN-LN energy: D(x) = the LN's per-sample denoising cost w·‖x − x̂(x̃)‖²; D's loss is "
        "the LN's cost plus the per-sample hinge [m − D(G(z))]⁺ (eq. 1); G minimises D(G(z)) "
        "(eq. 2), one D then one G update per step. Once m reaches 0 for good it trains as a "
        "plain LN and G's update is dropped (also for the control, so the two match).",
        f"Hinge verdict (criterion fixed before any run was scored): over the steps with m > 0, "
        f"a run is an EBGAN when at least {hinge.MIN_EARLY_ACTIVE:.0%} of D's fakes fell under "
        f"the margin in the first {hinge.EARLY_FRACTION:.0%} of them; 'saturated' when more "
        f"than {hinge.MAX_ACTIVE:.0%} did over all of them. Rows of "
        f"{experiment.log_every(spec.replace(kind='ln')):,} steps for the LN, "
        f"{experiment.log_every(spec.replace(kind='control')):,} for EBGAN-LN and the control.",
    ]


def _pilot_evidence(output_dir: Path) -> list:
    path = output_dir / PILOTS_FILE
    if not path.is_file():
        return []
    import pandas as pd

    return [html.paragraph("Settings chosen on the 10,000 validation images (pilots never "
                           "scored on the test set; the criteria, written down before they "
                           "ran, and the commands are in docs/table2.md):"),
            html.table(pd.read_csv(path).fillna("").to_dict("records"), float_format="{:.2f}")]


def _budget_sections(experiment, rows: list[dict], output_dir: Path, steps: int) -> list:
    summary = summarise(rows)
    present = tuple(n for n in LABEL_COUNTS if any(r["labels"] == n for r in rows)) \
        or tuple(sorted({r["labels"] for r in rows}))
    not_counted = [r for r in rows if not counted(r)]
    blocks = [html.paragraph("Mean ± sample std over seeds (one seed: the mean only). The "
                             "paper's rows are averages over 15 seeds; its improvement is "
                             "against its reproduced LN, ours against our LN."),
              html.table(table2_rows(summary, present), ["model", *map(str, present)])]
    if not_counted:
        blocks.append(html.paragraph(
            f"Left out of the means: {len(not_counted)} run(s): " + "; ".join(
                f"{r['run_id']} " + (f"not an EBGAN (hinge {r['hinge_verdict']})"
                                     if r["status"] == "ok" else f"{r['status']} ({r['reason']})")
                for r in not_counted) + "."))
    for labels in present:
        result = noise_floor(rows, labels)
        if result is None and any(r["labels"] == labels and r["model"] == "ebgan_ln"
                                  for r in rows):
            # Said, not skipped: a comparison whose EBGAN-LN was not an EBGAN is no result.
            blocks.append(html.paragraph(
                f"At {labels} labels and {steps:,} steps, no comparison: no seed has the LN, an "
                "EBGAN-LN whose hinge engaged, and the control all counted (runs left out: "
                "above)."))
        if result is not None:
            blocks.append(html.paragraph(noise_floor_sentence(result, steps)))
            blocks.append(html.table(result["per_seed"], ["seed", "ln", "ebgan_ln", "control",
                                                          "gain", "control_gain"],
                                     float_format="{:.2f}"))
    counted_rows = [r for r in rows if counted(r)]
    if counted_rows:
        paper = {"LN (paper, reproduced)": PAPER_TABLE2[2][1],
                 "EBGAN-LN (paper)": PAPER_TABLE2[3][1]}
        blocks.append(html.figure(figures.error_figure(
            counted_rows, paper, output_dir / f"error_rates_{steps}.png"),
            "Test error of every run counted; grey: the paper's reproduced LN and EBGAN-LN."))
    curves = figures.error_curves_figure(rows, output_dir, output_dir / f"error_curves_{steps}.png")
    if curves is not None:
        blocks.append(html.figure(curves, "Test and validation error at every evaluation."))
    adversarial = [r for r in rows if r["model"] in ("ebgan_ln", "control")]
    if adversarial:
        blocks += [html.paragraph("Did the hinge engage? Per adversarial run, the fraction of "
                                  "D's fakes with D(G(z)) < m:"),
                   html.table(adversarial, ["model", "labels", "seed", "hinge_active_early",
                                            "hinge_active_overall", "hinge_verdict"]),
                   html.figure(figures.hinge_figure(adversarial, output_dir,
                                                    output_dir / f"hinge_{steps}.png"),
                               "Left: P[D(G(z)) < m] per row. Right: EBGAN-LN's mean real "
                               "energy, fake energy and margin while G trains.")]
    return [html.Section(f"Table 2 at {steps:,} steps per run: PI-MNIST test error (%)", blocks)]


def _sections(experiment, rows: list[dict], output_dir: Path, runs_log: list[dict]) -> list:
    sections = [html.Section("What ran", [html.paragraph(experiment.summary())])]
    for steps in sorted({r["train_steps"] for r in rows}, reverse=True):
        sections += _budget_sections(experiment, [r for r in rows if r["train_steps"] == steps],
                                     output_dir, steps)
    grids = figures.fig10_grids(rows, output_dir)
    if grids:
        sections.append(html.Section("Figure 10: EBGAN-LN samples", [
            html.paragraph("Two 8×8 grids of 28×28 generations, each from a different EBGAN-LN "
                           "run (the paper: identical setting, different random seeds). The "
                           "generator is only trained while the margin is positive.")]
            + [html.figure(path, caption) for path, caption in grids]))
    sections.append(html.Section("Runs", [
        html.table(rows, [c for c in RESULT_COLUMNS if c != "run_id"]),
        html.paragraph("Every invocation on this folder (a rerun only runs what is missing):"),
        html.table(runs_log)]))
    sections.append(html.Section("Settings the paper does not give", [
        *_pilot_evidence(output_dir),
        *[html.choice(text) for text in analysis_choices(experiment)],
        html.paragraph("The settings of every run that the paper does not give (or that are "
                       "only recalled), with the values used:"),
        html.settings_table(experiment.specs()[0]),
    ]))
    return sections


def pages(experiment, frame, context) -> list[Page]:
    """The report's one page, index.html."""
    rows = frame.to_dict("records")
    for r in rows:  # An empty CSV cell reads back as NaN.
        for key in ("reason", "hinge_verdict", "fake_batch_stats"):
            r[key] = r[key] if isinstance(r.get(key), str) else ""
    return [Page("index.html", "Table 2 and Figure 10: semi-supervised EBGAN-LN on PI-MNIST",
                 lambda: _sections(experiment, rows, Path(context.output_dir), context.runs_log),
                 subtitle="Bottom-layer-cost Ladder Network (LN) vs the LN as the energy of an "
                          "EBGAN (paper §4.2), with 100, 200 and 1000 labels, and a control "
                          "that measures the noise floor.")]
