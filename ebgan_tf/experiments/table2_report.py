"""The Table 2 / Fig. 10 report: Table 2 beside the paper's rows, the test error of every run,
Fig. 10's sample grids, the training curves, the runs, and the settings the paper does not give
(the runs' `LadderConfig` metadata, plus the analysis choices that are not config fields)."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from ebgan_tf.atomic_files import write_bytes_atomic
from ebgan_tf.experiments.table2 import LABEL_COUNTS, RESULT_COLUMNS, SAMPLES_FILE
from ebgan_tf.reporting import html, plots
from ebgan_tf.runs.experiment import Page
from ebgan_tf.runs.train import METRICS_FILE, read_metrics_csv

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
MODEL_NAMES = {"ln": "LN bottom-layer-cost (ours)", "ebgan_ln": "EBGAN-LN (ours)"}


# --- the table's arithmetic ---------------------------------------------------------------------

def summarise(rows: list[dict]) -> dict:
    """{model: {labels: (mean, std, n)}} over the runs with status ok (rows without a status
    count as ok); std is the sample std (ddof 1), NaN for one seed."""
    ok = [r for r in rows if r.get("status", "ok") == "ok"]
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


def _format(value) -> str:
    if value is None:
        return "–"
    mean, std = value[0], value[1]
    return f"{mean:.2f}" if not math.isfinite(std) else f"{mean:.2f} ± {std:.2f}"


def _seed_count(values: dict) -> str:
    counts = sorted({v[2] for v in values.values()})
    return f"{'/'.join(map(str, counts))} seed{'s' if counts != [1] else ''}"


def table2_rows(summary: dict, label_counts=LABEL_COUNTS) -> list[dict]:
    """Table 2: the paper's rows, its improvement, then ours and our improvement."""
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


def ebgan_ln_beats_ln(summary: dict) -> bool | None:
    """Whether EBGAN-LN's mean error is below LN's at every label count both have; None if none."""
    common = set(summary.get("ln", {})) & set(summary.get("ebgan_ln", {}))
    if not common:
        return None
    return all(summary["ebgan_ln"][n][0] < summary["ln"][n][0] for n in common)


# --- figures ------------------------------------------------------------------------------------

def error_figure(rows: list[dict], path: Path) -> Path:
    """Every ok run's test error per label count, the means, and the paper's means."""
    import pandas as pd
    import seaborn as sns

    frame = pd.DataFrame([r for r in rows if r["status"] == "ok"])
    frame["model"] = frame["model"].map(MODEL_NAMES)
    frame["labels"] = frame["labels"].astype(str)
    # Label counts are categories here; matplotlib would log that they look like numbers.
    logging.getLogger("matplotlib.category").setLevel(logging.WARNING)
    fig, ax = plots.new_figure(figsize=(6.4, 4.0))
    sns.stripplot(data=frame, x="labels", y="error_rate", hue="model", dodge=True, alpha=0.6, ax=ax)
    sns.pointplot(data=frame, x="labels", y="error_rate", hue="model", dodge=0.4, linestyle="none",
                  errorbar=("sd") if frame.groupby(["model", "labels"]).size().max() > 1 else None,
                  markers="D", ax=ax, legend=False)
    order = [t.get_text() for t in ax.get_xticklabels()]
    paper = {"LN (paper, reproduced)": PAPER_TABLE2[2][1], "EBGAN-LN (paper)": PAPER_TABLE2[3][1]}
    for (name, values), style in zip(paper.items(), ("--", ":")):
        xs = [i for i, n in enumerate(order) if values.get(int(n))]
        ax.plot(xs, [values[int(order[i])][0] for i in xs], style, color="grey", label=name)
    ax.set_xlabel("labelled examples")
    ax.set_ylabel("test error (%)")
    ax.set_title("PI-MNIST test error per run (diamonds: mean)")
    ax.legend(fontsize=8)
    return plots.save_figure(fig, path)


def curves_figure(rows: list[dict], output_dir: Path, path: Path) -> Path:
    """The metrics.csv rows of every run: real energy, and EBGAN-LN's fake energy and margin."""
    import pandas as pd
    import seaborn as sns

    points = []
    for r in rows:
        metrics = read_metrics_csv(output_dir / "trials" / r["run_id"] / METRICS_FILE, 2**62)
        for point in metrics:
            # After the margin reaches 0, EBGAN-LN trains as an LN and logs no fake energy.
            adversarial = r["model"] == "ebgan_ln" and point.get("g_loss", 0.0) != 0.0
            for metric in ("denoising_cost", "fake_energy", "margin"):
                if metric == "denoising_cost" or (adversarial and metric in point):
                    points.append({"step": point["step"], "value": point[metric],
                                   "metric": f"{r['model']}: {metric}", "labels": r["labels"]})
    fig, ax = plots.new_figure(figsize=(7.0, 4.0))
    if points:
        sns.lineplot(data=pd.DataFrame(points), x="step", y="value", hue="metric",
                     style="labels", ax=ax, errorbar=None)
        ax.legend(fontsize=7, ncol=2)
    ax.set_ylabel("energy (w · sum of squares), row mean")
    ax.set_title("Real energy (denoising cost), fake energy D(G(z)) and margin during training")
    return plots.save_figure(fig, path)


def fig10_grids(rows: list[dict], output_dir: Path) -> list[tuple[Path, str]]:
    """Two EBGAN-LN runs' grids, copied to fig10_a/b.png: different seeds when there are, else
    different label counts."""
    runs = [r for r in rows if r["model"] == "ebgan_ln" and r["status"] == "ok"
            and (output_dir / "trials" / r["run_id"] / SAMPLES_FILE).is_file()]
    by_seed: dict = {}
    for r in runs:
        by_seed.setdefault(r["seed"], r)
    chosen = list(by_seed.values())[:2]
    if len(chosen) < 2:
        chosen = runs[-1:] + runs[:1] if len(runs) > 1 else runs
    grids = []
    for letter, r in zip("ab", chosen):
        target = output_dir / f"fig10_{letter}.png"
        samples = output_dir / "trials" / r["run_id"] / SAMPLES_FILE
        write_bytes_atomic(target, samples.read_bytes())
        grids.append((target, f"Fig. 10 ({letter}): EBGAN-LN samples, {r['labels']} labels, "
                              f"seed {r['seed']}, after {r['train_steps']} steps"))
    return grids


# --- the page -----------------------------------------------------------------------------------

def analysis_choices(experiment) -> list[str]:
    """The choices that are not `LadderConfig` fields (those are in the settings table)."""
    scale = experiment.scale
    spec = experiment.specs()[0]
    eval_set = ("the whole 10,000-image test set" if scale.num_eval_samples == 10_000
                else f"the first {scale.num_eval_samples:,} test images")
    return [
        f"Seeds {', '.join(map(str, experiment.seeds))} (the paper averages 15); LN and EBGAN-LN "
        "of one seed share its labelled subset, initial ladder weights and data order. Labelled "
        "subsets are class-balanced (labels/10 per digit), drawn with numpy's default_rng(seed).",
        "Bottom-layer cost: the full ladder (corrupted encoder, lateral connections, the vanilla "
        "combinator of Rasmus et al. 2015 eq. 2, decoder to the input), paying only the input "
        "layer's denoising cost, on input pixels in [0, 1].",
        "Each step: a batch of the labelled subset (reshuffled each pass) and a batch of all "
        "60,000 training images as unlabelled data; labelled, unlabelled and generated batches go "
        "through the ladder separately, each normalised with its own batch statistics "
        "(all-reduced over replicas).",
        "Test-time batch norm: population statistics of the clean encoder over "
        "calibration_examples training images after training (not running averages). The error "
        f"is that of the last step (no early stopping) on {eval_set}.",
        "EBGAN-LN energy: D(x) = the LN's per-sample denoising cost w·‖x − x̂(x̃)‖²; D's loss is "
        "the LN's cost (CE on labelled + D on unlabelled) plus the per-sample hinge "
        "[m − D(G(z))]⁺ (eq. 1); G minimises D(G(z)) (eq. 2), one D then one G update per step. "
        "Once m reaches 0 (after margin_decay_fraction of training) it trains as a plain LN and "
        "G's update is dropped.",
        f"Training curves are means over rows of {experiment.log_every(spec.replace(kind='ln')):,} "
        f"steps (EBGAN-LN: {experiment.log_every(spec.replace(kind='ebgan_ln')):,}, so that the "
        "margin reaching 0 ends a row); results.csv's final costs are the last row's means.",
    ]


def _sections(experiment, rows: list[dict], output_dir: Path, runs_log: list[dict]) -> list:
    summary = summarise(rows)
    present = tuple(n for n in LABEL_COUNTS if any(r["labels"] == n for r in rows)) \
        or tuple(sorted({r["labels"] for r in rows}))
    not_ok = [r for r in rows if r["status"] != "ok"]
    blocks = [html.paragraph(experiment.summary()),
              html.paragraph("Mean ± sample std over seeds (a single seed shows the mean only). "
                             "The paper's rows are averages over 15 seeds; its relative "
                             "improvement is measured against its reproduced LN, ours against "
                             "our LN."),
              html.table(table2_rows(summary, present), ["model", *map(str, present)])]
    if not_ok:
        blocks.append(html.paragraph(
            f"Left out of the means: {len(not_ok)} run(s) that did not finish ok: "
            + "; ".join(f"{r['run_id']} {r['status']} ({r['reason']})" for r in not_ok) + "."))
    beats = ebgan_ln_beats_ln(summary)
    if beats is not None:
        blocks.append(html.verdict(
            "EBGAN-LN has a lower mean test error than the LN at every label count", beats))
    if summary:
        blocks.append(html.figure(error_figure(rows, output_dir / "error_rates.png"),
                                  "Test error of every run; grey lines: the paper's reproduced LN "
                                  "and EBGAN-LN means."))
    sections = [html.Section("Table 2: PI-MNIST test error (%)", blocks)]
    grids = fig10_grids(rows, output_dir)
    if grids:
        sections.append(html.Section("Figure 10: EBGAN-LN samples", [
            html.paragraph("Two 8×8 grids of 28×28 generations, each from a different EBGAN-LN "
                           "run (the paper: identical setting, different random seeds). The "
                           "generator is only trained while the margin is positive.")]
            + [html.figure(path, caption) for path, caption in grids]))
    sections.append(html.Section("Training curves", [
        html.figure(curves_figure(rows, output_dir, output_dir / "training_curves.png"),
                    "Row means of the denoising cost of real data, EBGAN-LN's fake energy and "
                    "margin.")]))
    sections.append(html.Section("Runs", [
        html.table(rows, [c for c in RESULT_COLUMNS if c != "run_id"]),
        html.paragraph("Every invocation on this folder (a rerun only runs what is missing):"),
        html.table(runs_log)]))
    sections.append(html.Section("Settings the paper does not give", [
        *[html.choice(text) for text in analysis_choices(experiment)],
        html.paragraph("The settings of every run that the paper does not give (or that are "
                       "only recalled), with the values used:"),
        html.settings_table(experiment.specs()[0]),
    ]))
    return sections


def pages(experiment, frame, context) -> list[Page]:
    """The report's one page, index.html."""
    rows = frame.to_dict("records")
    return [Page("index.html", "Table 2 and Figure 10: semi-supervised EBGAN-LN on PI-MNIST",
                 lambda: _sections(experiment, rows, Path(context.output_dir), context.runs_log),
                 subtitle="Bottom-layer-cost Ladder Network (LN) vs the LN as the energy of an "
                          "EBGAN (paper §4.2), with 100, 200 and 1000 labels.")]
