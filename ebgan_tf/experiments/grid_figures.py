"""Figures 2, 3 and 4 of the MNIST grid, the paper's readings beside ours, and the report pages
of `ebgan_tf.experiments.mnist_grid.GridExperiment`:

- `index.html`: the grid's full report (Figs. 2, 3 and 4, tables, settings);
- `fig3.html`: the optimizer histograms alone; `fig4.html`: the best samples alone.

Histograms plot `metrics.HISTOGRAM_SCORE` (log IS, the score whose range matches the paper's axis;
docs/mnist_score.md) in 30 equal bins over [0, ln 10]: width 0.077, the paper's bin width read
off Fig. 2 (about 25 bins over [0, 1.93], paper.md §2.5).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ebgan_tf.experiments.mnist_trials import RANK_SCORE, SAMPLES_FILE
from ebgan_tf.metrics import HISTOGRAM_SCORE
from ebgan_tf.reporting import hinge, html, plots
from ebgan_tf.runs.experiment import Page
from ebgan_tf.runs.store import STATUSES

PAGES = ("index.html", "fig3.html", "fig4.html")
NUM_BINS = 30
BIN_EDGES = np.linspace(0.0, math.log(10.0), NUM_BINS + 1)
# The paper's colours (matplotlib's defaults of the time): GAN blue, EBGAN green.
COLOURS = {"GAN": "#1f77b4", "EBGAN": "#2ca02c", "EBGAN-PT": "#d62728"}
KIND_LABELS = {"gan": "GAN", "ebgan": "EBGAN", "ebgan_pt": "EBGAN-PT"}

# Percent of models in the first three bins, read off the paper's figures (paper.md §2.5, §2.6;
# ±1-2 points).
PAPER_FIG2 = {
    "a": {"title": "(a) all", "max_layers": 5, "gan": (56, 29, 7), "ebgan": (9, 21, 32)},
    "b": {"title": "(b) nLayer[GD] <= 4", "max_layers": 4, "gan": (54, 27, 7), "ebgan": (9, 19, 30)},
    "c": {"title": "(c) nLayer[GD] <= 3", "max_layers": 3, "gan": (48, 26, 9), "ebgan": (10, 11, 22)},
}
FIG3_LRS = (1e-2, 1e-3, 1e-4)
FIG3_OPTIMIZERS = (("adam", "adam"), ("sgd", "adam"), ("adam", "sgd"), ("sgd", "sgd"))
PAPER_FIG3_GAN = {
    (1e-2, "adam", "adam"): (76, 21, 2.5), (1e-2, "sgd", "adam"): (63, 21, 4.5),
    (1e-2, "adam", "sgd"): (52, 28, 13.5), (1e-2, "sgd", "sgd"): (50, 23, 2),
    (1e-3, "adam", "adam"): (56, 32, 9), (1e-3, "sgd", "adam"): (61, 32, 6),
    (1e-3, "adam", "sgd"): (47, 26, 4), (1e-3, "sgd", "sgd"): (64, 15, 7),
    (1e-4, "adam", "adam"): (44, 37.5, 10), (1e-4, "sgd", "adam"): (59, 34, 7),
    (1e-4, "adam", "sgd"): (47, 32, 10), (1e-4, "sgd", "sgd"): (46.5, 47, 6),
}
# Fig. 4's configurations as Appendix C is recalled (paper.md §2.7).
PAPER_FIG4 = {
    "gan": "nLayerG=5, nLayerD=2, sizeG=1600, sizeD=1024, no dropout, SGD/SGD, lr 0.01",
    "ebgan": "nLayerG=5, nLayerD=2, sizeG=800, sizeD=1024, no dropout, Adam/Adam, lr 0.001, m=10",
    "ebgan_pt": "as EBGAN, with the PT at weight 0.1",
}
CLAIM = "EBGAN's histogram lies to the right of GAN's"

# How the figures are drawn from the trials: analysis choices, not settings of a trial.
ANALYSIS_CHOICES = [
    f"Histogram score: {HISTOGRAM_SCORE} = E_x KL(p(y|x) || p(y)) (the paper's text prints the "
    "swapped order, whose range does not fit its axis; docs/mnist_score.md has the evidence). "
    "The paper's I' is in results.csv as i_prime.",
    "Bins: 30 equal bins over [0, ln 10] (width 0.077, the width read off the paper's Fig. 2).",
    "A diverged trial (NaN/inf loss or samples) generates nothing and counts in the lowest bin; "
    "a failed trial (an error, not a model outcome) is left out of the histograms and listed.",
    "Every trial uses the same seed (--seed) for weights, data order and latents.",
    "EBGAN-PT runs over the same Table 1 configurations as EBGAN (the paper does not say whether "
    "it had its own grid); it enters Fig. 4 only.",
]


# --- numbers ---------------------------------------------------------------------------------

def histogram_scores(frame, kind: str, max_layers: int = 5, lr=None, optim_d=None, optim_g=None):
    """The histogram scores of one kind's trials (diverged = 0, failed left out), as float64 [N]."""
    rows = frame[(frame["kind"] == kind) & (frame["status"] != "failed")
                 & (frame["nLayerG"] <= max_layers) & (frame["nLayerD"] <= max_layers)]
    if lr is not None:
        rows = rows[np.isclose(rows["lr"], lr) & (rows["optimD"] == optim_d)
                    & (rows["optimG"] == optim_g)]
    scores = rows[HISTOGRAM_SCORE].to_numpy(np.float64)
    return np.where(rows["status"].to_numpy() == "diverged", 0.0, np.nan_to_num(scores))


def bin_percentages(scores) -> np.ndarray:
    """Percent of scores per bin of `BIN_EDGES` (the last bin closed), float64 [NUM_BINS]."""
    scores = np.clip(np.asarray(scores, np.float64), BIN_EDGES[0], BIN_EDGES[-1])
    if scores.size == 0:
        return np.zeros(NUM_BINS)
    counts, _ = np.histogram(scores, BIN_EDGES)
    return 100.0 * counts / scores.size


def probability_of_superiority(a, b) -> float:
    """P(A > B) + P(A = B)/2 for independent draws from samples a and b (the Mann-Whitney AUC)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size == 0 or b.size == 0:
        return float("nan")
    greater = (a[:, None] > b[None, :]).mean()
    equal = (a[:, None] == b[None, :]).mean()
    return float(greater + 0.5 * equal)


def claim_check(ebgan_scores, gan_scores) -> dict:
    """Does EBGAN's mass lie right of GAN's? P(EBGAN > GAN) > 0.5 and a higher median."""
    p = probability_of_superiority(ebgan_scores, gan_scores)
    median_e = float(np.median(ebgan_scores)) if len(ebgan_scores) else float("nan")
    median_g = float(np.median(gan_scores)) if len(gan_scores) else float("nan")
    return {"p_ebgan_gt_gan": p, "median_ebgan": median_e, "median_gan": median_g,
            "holds": bool(p > 0.5 and median_e > median_g)}


def _verdict_cell(check: dict) -> str:
    return "n/a (no runs)" if math.isnan(check["p_ebgan_gt_gan"]) else (
        "yes" if check["holds"] else "no")


def l1_to_paper(ours_percent, paper_percent) -> float:
    """Percentage points between our first bins and the paper's readings of them: sum |ours - paper|
    over the bins the paper was read at (its first three). 0 is the paper's histogram head."""
    paper = np.asarray(paper_percent, np.float64)
    return float(np.abs(np.asarray(ours_percent, np.float64)[:len(paper)] - paper).sum())


def fig2_table(frame) -> list[dict]:
    rows = []
    for key, panel in PAPER_FIG2.items():
        ebgan = histogram_scores(frame, "ebgan", panel["max_layers"])
        gan = histogram_scores(frame, "gan", panel["max_layers"])
        check = claim_check(ebgan, gan)
        for kind, scores in (("gan", gan), ("ebgan", ebgan)):
            ours = bin_percentages(scores)
            rows.append({
                "panel": panel["title"], "model": KIND_LABELS[kind], "runs": len(scores),
                "bins 1-3 (paper), %": "/".join(f"{v:g}" for v in panel[kind]),
                "bins 1-3 (ours), %": "/".join(f"{v:.0f}" for v in ours[:3]),
                "L1 to the paper, points": l1_to_paper(ours, panel[kind]),
                "rest (ours), %": round(float(ours[3:].sum()), 1),
                "median score": float(np.median(scores)) if len(scores) else float("nan"),
                "P(EBGAN > GAN)": check["p_ebgan_gt_gan"],
                "claim holds": _verdict_cell(check),
            })
    return rows


def fig3_table(frame) -> list[dict]:
    ebgan = histogram_scores(frame, "ebgan")
    rows = []
    for lr in FIG3_LRS:
        for optim_d, optim_g in FIG3_OPTIMIZERS:
            gan = histogram_scores(frame, "gan", lr=lr, optim_d=optim_d, optim_g=optim_g)
            ours = bin_percentages(gan)
            check = claim_check(ebgan, gan)
            rows.append({
                "lr": f"{lr:g}", "optimD/optimG": f"{optim_d}/{optim_g}", "GAN runs": len(gan),
                "GAN bins 1-3 (paper), %": "/".join(f"{v:g}" for v in
                                                  PAPER_FIG3_GAN[(lr, optim_d, optim_g)]),
                "GAN bins 1-3 (ours), %": "/".join(f"{v:.0f}" for v in ours[:3]),
                "L1 to the paper, points": l1_to_paper(ours, PAPER_FIG3_GAN[(lr, optim_d, optim_g)]),
                "GAN median": float(np.median(gan)) if len(gan) else float("nan"),
                "P(EBGAN > GAN)": check["p_ebgan_gt_gan"],
                "claim holds": _verdict_cell(check),
            })
    return rows


def best_trials(frame) -> dict:
    """kind -> the result row of its best ok trial by `RANK_SCORE` (ties: smaller id)."""
    best = {}
    ok = frame[frame["status"] == "ok"]
    for kind in KIND_LABELS:
        rows = ok[ok["kind"] == kind].sort_values([RANK_SCORE, "trial_id"],
                                                  ascending=[False, True])
        if len(rows):
            best[kind] = rows.iloc[0].to_dict()
    return best


# --- figures ---------------------------------------------------------------------------------

def _histogram(ax, series: dict, title: str, legend_suffix: str = ""):
    import pandas as pd
    import seaborn as sns

    long = pd.concat([pd.DataFrame({"score": np.clip(v, 0, BIN_EDGES[-1]),
                                    "model": label + legend_suffix})
                      for label, v in series.items() if len(v)], ignore_index=True)
    if long.empty:
        ax.set_title(title + " (no runs)")
        return
    palette = {label + legend_suffix: COLOURS[label] for label in series}
    sns.histplot(data=long, x="score", hue="model", bins=BIN_EDGES, stat="percent",
                 common_norm=False, multiple="dodge", shrink=0.9, palette=palette, ax=ax,
                 alpha=0.9, edgecolor="none")
    ax.set_xlim(0, BIN_EDGES[-1])
    ax.set_xlabel("inception_score (log IS)")
    ax.set_ylabel("percentage")
    ax.set_title(title)


def draw_fig2(frame, path: Path) -> Path:
    fig, axes = plots.new_figure(1, 3, figsize=(16, 4.2))
    for ax, (key, panel) in zip(axes, PAPER_FIG2.items()):
        suffix = "" if panel["max_layers"] == 5 else f"-layers<={panel['max_layers']}"
        _histogram(ax, {"GAN": histogram_scores(frame, "gan", panel["max_layers"]),
                        "EBGAN": histogram_scores(frame, "ebgan", panel["max_layers"])},
                   panel["title"], suffix)
    fig.suptitle("Fig. 2: histogram of the scores of the grid search", y=1.02)
    return plots.save_figure(fig, path)


def draw_fig3(frame, path: Path) -> Path:
    fig, axes = plots.new_figure(len(FIG3_LRS), len(FIG3_OPTIMIZERS), figsize=(18, 10.5),
                                 context="paper", sharex=True)
    ebgan = histogram_scores(frame, "ebgan")
    for r, lr in enumerate(FIG3_LRS):
        for c, (optim_d, optim_g) in enumerate(FIG3_OPTIMIZERS):
            gan = histogram_scores(frame, "gan", lr=lr, optim_d=optim_d, optim_g=optim_g)
            ax = axes[r, c]
            _histogram(ax, {"GAN": gan, "EBGAN": ebgan},
                       f"GAN-lr{lr:.2e}_optimD-{optim_d}_optimG{optim_g}")
            if r < len(FIG3_LRS) - 1:
                ax.set_xlabel("")
    fig.suptitle("Fig. 3: scores grouped by optimization setting (rows: lr; columns: optimD/optimG)",
                 y=1.01)
    fig.tight_layout()
    return plots.save_figure(fig, path)


def draw_fig4(frame, output_dir: Path, path: Path) -> Path | None:
    import matplotlib.image

    best = best_trials(frame)
    if not best:
        return None
    fig, axes = plots.new_figure(1, 3, figsize=(18, 4.6), style=None)
    for ax, (kind, label) in zip(axes, (("gan", "(a) best GAN"), ("ebgan", "(b) best EBGAN"),
                                        ("ebgan_pt", "(c) best EBGAN-PT"))):
        ax.axis("off")
        if kind not in best:
            ax.set_title(f"{label}: no finished trial")
            continue
        samples = output_dir / "trials" / best[kind]["trial_id"] / SAMPLES_FILE
        ax.imshow(matplotlib.image.imread(samples), cmap="gray", interpolation="nearest")
        ax.set_title(f"{label}, {HISTOGRAM_SCORE} = {best[kind][HISTOGRAM_SCORE]:.2f}")
    fig.suptitle("Fig. 4: 8x12 samples of the best model of each kind", y=1.0)
    return plots.save_figure(fig, path)


# --- pages -----------------------------------------------------------------------------------

def _summary_section(frame, experiment, runs: list[dict]) -> html.Section:
    counts = []
    for kind, label in KIND_LABELS.items():
        rows = frame[frame["kind"] == kind]
        counts.append({"model": label, "trials": len(rows),
                       **{s: int((rows["status"] == s).sum()) for s in STATUSES},
                       "mean wall time per trial, s": float(rows["wall_time_s"].mean())
                       if len(rows) else float("nan"),
                       **{f"hinge {v}": int((rows["hinge_verdict"] == v).sum())
                          if kind != "gan" and "hinge_verdict" in rows else ""
                          for v in ("engaged", "saturated", "inert")}})
    checks = [claim_check(histogram_scores(frame, "ebgan", p["max_layers"]),
                          histogram_scores(frame, "gan", p["max_layers"]))
              for p in PAPER_FIG2.values()]
    blocks = [html.paragraph(experiment.summary()),
              html.table(counts),
              html.paragraph(
                  "Hinge: whether each EBGAN's margin acted, from the fraction of fakes with "
                  f"D(G(z)) < m logged every row (reporting.hinge): inert when under "
                  f"{hinge.MIN_EARLY_ACTIVE:.0%} of fakes fell under the margin in the first "
                  f"{hinge.EARLY_FRACTION:.0%} of the steps (not an EBGAN), saturated when over "
                  f"{hinge.MAX_ACTIVE:.0%} did over the whole run, else engaged; a trial that "
                  "diverged or predates the tracker is in none of the three."),
              html.paragraph(
                  "Every invocation of the grid on this folder (a rerun only runs what is "
                  f"missing); the trials' own wall times add up to "
                  f"{frame['wall_time_s'].sum() / 60:.1f} min over concurrent workers:"),
              html.table(runs),
              html.verdict(f"{CLAIM}, in all three panels of Fig. 2 (P(EBGAN > GAN) > 0.5 "
                             "and a higher median in each)", all(c["holds"] for c in checks))]
    failed = frame[frame["status"] == "failed"]
    if len(failed):
        blocks.append(html.paragraph(f"{len(failed)} trial(s) failed (not model outcomes; "
                                       "left out of the histograms):"))
        blocks.append(html.table(failed[["trial_id", "reason"]].to_dict("records")))
    return html.Section("Summary", blocks)


def fig2_section(frame, output_dir: Path) -> html.Section:
    png = draw_fig2(frame, output_dir / "fig2.png")
    return html.Section("Figure 2: scores of all, <= 4-layer and <= 3-layer models", [
        html.figure(png, "GAN (blue) vs EBGAN (green): percent of each kind's models per bin."),
        html.paragraph("Our bin percentages beside the paper's readings (first three bins; "
                         "the paper's are read off its figure, ±1-2 points):"),
        html.table(fig2_table(frame)),
    ])


def fig3_section(frame, output_dir: Path) -> html.Section:
    png = draw_fig3(frame, output_dir / "fig3.png")
    return html.Section("Figure 3: GAN scores per optimization setting, EBGAN for reference", [
        html.figure(png, "Rows: lr 1e-2, 1e-3, 1e-4; columns: (optimD, optimG). Every subplot "
                           "repeats the same EBGAN histogram, as in the paper."),
        html.table(fig3_table(frame)),
    ])


def fig4_section(frame, output_dir: Path) -> html.Section:
    png = draw_fig4(frame, output_dir, output_dir / "fig4.png")
    best = best_trials(frame)
    rows = [{"model": KIND_LABELS[kind], "best trial (ours)": best[kind]["trial_id"],
             HISTOGRAM_SCORE: best[kind][HISTOGRAM_SCORE], "i_prime": best[kind]["i_prime"],
             "Fréchet distance": best[kind]["frechet_distance"],
             "paper's best (Appendix C, recalled)": PAPER_FIG4[kind]}
            for kind in KIND_LABELS if kind in best]
    blocks = [html.figure(png, "Samples drawn with the evaluation seed from the generator at "
                                 "the end of training.")] if png else []
    blocks += [html.table(rows),
               html.paragraph("The generators of these trials are kept as "
                                "trials/<trial_id>/generator.keras (--save_generators=best).")]
    return html.Section("Figure 4: the best GAN, EBGAN and EBGAN-PT", blocks)


def settings_section(experiment) -> html.Section:
    """The budget of the scale and every setting the paper is silent on, as the trials used them."""
    scale = experiment.scale
    config = experiment.specs()[0].config  # The choices are the same for every trial.
    return html.Section("Settings the paper is silent on", [
        html.choice(f"Training budget: the paper gives none. This scale ({scale.name}): "
                    f"{scale.train_steps:,} steps of batch {scale.batch_size} "
                    f"({scale.epochs:.2f} epochs) per trial, one D and one G update a step; "
                    f"scored on {scale.num_eval_samples:,} samples with seeded latents."),
        html.paragraph("The settings of every trial that the paper does not give (Table 1's "
                       "settings vary by trial; these do not), with the values used:"),
        html.settings_table(config),
        *[html.choice(text) for text in ANALYSIS_CHOICES],
        html.paragraph("The full grid: python reproductions/fig2_grid_search.py --scale=paper "
                       "[--ray_address=<cluster>] [--gpus_per_trial=0.25]."),
    ])


def pages(experiment, frame, context) -> list[Page]:
    """The grid's pages: index.html (the full report), fig3.html and fig4.html."""
    output_dir = Path(context.output_dir)
    scale = f"({experiment.scale.name} scale)"
    full = lambda: [_summary_section(frame, experiment, context.runs_log),  # noqa: E731
                    fig2_section(frame, output_dir), fig3_section(frame, output_dir),
                    fig4_section(frame, output_dir), settings_section(experiment)]
    return [
        Page("index.html", f"EBGAN Figs. 2-4: the MNIST grid search {scale}", full,
             subtitle="Zhao, Mathieu, LeCun (ICLR 2017), §4.1, Table 1."),
        Page("fig3.html", f"EBGAN Fig. 3: scores per optimizer {scale}",
             lambda: [fig3_section(frame, output_dir), settings_section(experiment)]),
        Page("fig4.html", f"EBGAN Fig. 4: best samples {scale}",
             lambda: [fig4_section(frame, output_dir), settings_section(experiment)]),
    ]
