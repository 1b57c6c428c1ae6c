"""The Fig. 9 report: the sweep's figure per energy reduction, the digit classes and energies per
margin, the three reductions on one L2-equivalent axis, and the page of `MarginSweep`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ebgan_tf.experiments.margin_sweep import (CLASS_SHARE_THRESHOLD, ENERGY_REDUCTIONS,
                                               MIDDLE_MARGINS, PAPER_FIG9, PATTERN_RULES,
                                               SAMPLES_PER_ROW, base_config, l2_equivalent_margin,
                                               pattern_check, row_samples)
from ebgan_tf.reporting import html, plots
from ebgan_tf.runs.experiment import Page


# --- figures ---------------------------------------------------------------------------------

def draw_fig9(rows_by_reduction: dict, output_dir, path) -> Path:
    """Fig. 9 once per reduction, side by side: one row of 16 samples per m, m ascending."""
    reductions = list(rows_by_reduction)
    margins = sorted({r["margin"] for rows in rows_by_reduction.values() for r in rows})
    width = 6.2
    fig, axes = plots.new_figure(1, len(reductions), style=None, squeeze=False, figsize=(
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
        grid_image = plots.image_grid(np.concatenate(strips), len(margins), SAMPLES_PER_ROW)
        ax.imshow(grid_image[..., 0], cmap="gray", vmin=0, vmax=255)
        step = grid_image.shape[0] / len(margins)
        ax.set_yticks([(i + 0.5) * step for i in range(len(margins))],
                      [f"m={m:g}" for m in margins])
        ax.set_xticks([])
        ax.set_title(f"energy = {reduction}")
    fig.suptitle("Fig. 9: 16 samples per margin, m from top to bottom (same z in every row)",
                 y=1.02)
    return plots.save_figure(fig, path)


def draw_class_histograms(rows_by_reduction: dict, path) -> Path:
    """Share of samples per digit class (columns) for each m (rows), one heatmap per reduction."""
    import seaborn as sns

    reductions = list(rows_by_reduction)
    fig, axes = plots.new_figure(1, len(reductions), style=None, squeeze=False,
                                 figsize=(4.6 * len(reductions), 3.6))
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
    return plots.save_figure(fig, path)


def draw_energies(rows_by_reduction: dict, path) -> Path:
    """Final real and fake energies against m, with the line energy = m, per reduction."""
    reductions = list(rows_by_reduction)
    fig, axes = plots.new_figure(1, len(reductions), squeeze=False,
                                 figsize=(4.6 * len(reductions), 3.4))
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
    return plots.save_figure(fig, path)


def draw_equivalent_margins(rows_by_reduction: dict, path, num_pixels: int = 32 * 32) -> Path:
    """log IS and digit classes against the L2-equivalent margin, all reductions on one axis."""
    fig, axes = plots.new_figure(1, 2, figsize=(10, 3.6))
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
    return plots.save_figure(fig, path)


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


def _sections(experiment, rows_by_reduction: dict, output_dir: Path, runs: list[dict]) -> list:
    scale = experiment.scale
    checks = {r: pattern_check(rows) for r, rows in rows_by_reduction.items()}
    summary_rows = [{"energy reduction": r, "margins run": len(rows_by_reduction[r]),
                     "m=1 collapses": _check_cell(c["small_m_collapses"]),
                     "m=4-12 diverse": _check_cell(c["middle_m_diverse"]),
                     "m=32 degrades": _check_cell(c["large_m_degrades"]),
                     "pattern appears": "yes" if c["appears"] else
                     f"no ({c['criteria_met']}/{c['criteria_checked']} criteria)"}
                    for r, c in checks.items()]
    appearing = [r for r, c in checks.items() if c["appears"]]
    default = base_config(experiment.scale).energy_reduction
    blocks = [html.paragraph(experiment.summary()),
              html.table(summary_rows),
              html.verdict(f"Fig. 9's pattern appears under the suite's default energy "
                             f"({default})", default in appearing)]
    if len(rows_by_reduction) > 1:
        blocks.append(html.paragraph(
            "Reductions under which the pattern appears: "
            + (", ".join(appearing) if appearing else "none") + "; most criteria met: "
            + ", ".join(f"{r} ({c['criteria_met']}/{c['criteria_checked']})"
                        for r, c in sorted(checks.items(), key=lambda rc: -rc[1]["criteria_met"]))
            + ". The last figure puts the sweeps on one (L2-equivalent) margin axis. The "
            "reasoning and the default are in docs/energy_scale.md."))
    blocks += [html.paragraph("Every invocation on this folder (a rerun only runs what is "
                                "missing):"), html.table(runs)]
    sections = [html.Section("Summary", blocks)]
    png = draw_fig9(rows_by_reduction, output_dir, output_dir / "fig9.png")
    sections.append(html.Section("Figure 9", [
        html.figure(png, "Each panel is the paper's figure under one energy reduction: m = 1, "
                           "2, 4, 6, 8, 12, 16, 32 from top to bottom, 16 samples per row, the "
                           "same latent vectors in every row."),
        html.paragraph("The paper's figure: m = 1 almost all 1s; m = 2 mostly 1/7/9; m = 4, 6, "
                         "8, 12 diverse good digits; m = 16 noisy; m = 32 one identical noisy "
                         "blob (paper.md §6.1)."),
    ]))
    for reduction, rows in rows_by_reduction.items():
        sections.append(html.Section(f"Per margin, energy = {reduction}",
                                       [html.table(_display_rows(rows))]))
    sections.append(html.Section("Which digits, and the energies", [
        html.figure(draw_class_histograms(rows_by_reduction, output_dir / "fig9_classes.png"),
                      "Mode dropping: the share of samples the committed classifier puts in "
                      "each class."),
        html.figure(draw_energies(rows_by_reduction, output_dir / "fig9_energies.png"),
                      "If the fake energy cannot reach m, D's hinge never switches off and m "
                      "has no meaning on that scale."),
    ]))
    if len(rows_by_reduction) > 1:
        pixels = base_config(scale).image_size ** 2
        sections.append(html.Section("The three energy scales on one axis", [
            html.figure(draw_equivalent_margins(rows_by_reduction,
                                                  output_dir / "fig9_equivalent.png", pixels),
                          "Each sweep plotted against the L2 margin whose hinge acts on the same "
                          "samples: m under l2, sqrt(m) under sse, sqrt(N m) under mse (sse = "
                          "l2², mse = l2² / N, N = 1,024 pixels). If the curves line up, what "
                          "matters is the margin on the L2 scale, and the paper's margins can "
                          "be read on the scale where its pattern falls at its m."),
        ]))
    sections.append(html.Section("Settings the paper is silent on", [
        html.choice(f"Training budget: {scale.train_steps:,} steps of batch {scale.batch_size} "
                    f"({scale.epochs:.2f} epochs) at this scale (the paper gives none)."),
        html.choice(f"Scored on {scale.num_eval_samples:,} samples; the rows of Fig. 9 are the "
                    "first 16 of the 96 samples drawn with the evaluation seed."),
        html.choice("The pattern, made testable: " + " ".join(PATTERN_RULES)),
        html.choice("Plain EBGAN (no pulling-away term), as the caption's 'EBGAN auto-encoder "
                    "model' suggests."),
        html.paragraph("The settings of every trial that the paper does not give, with the "
                       "values used:"),
        html.settings_table(experiment.specs()[0].config),
        html.paragraph("The paper's budget: python reproductions/fig9_margin_sweep.py "
                       "--scale=paper --energy_reduction=all [--ray_address=<cluster>]."),
    ]))
    return sections


def pages(experiment, frame, context) -> list[Page]:
    """The sweep's one page, index.html, over every reduction run in this folder."""
    rows = frame.to_dict("records")
    rows_by_reduction = {}
    for reduction in ENERGY_REDUCTIONS:
        of_reduction = [r for r in rows if r["energy_reduction"] == reduction]
        if reduction in experiment.energy_reductions or of_reduction:
            rows_by_reduction[reduction] = of_reduction
    return [Page("index.html", f"EBGAN Fig. 9: the margin sweep ({experiment.scale.name} scale)",
                 lambda: _sections(experiment, rows_by_reduction, Path(context.output_dir),
                                   context.runs_log),
                 subtitle="Zhao, Mathieu, LeCun (ICLR 2017), Appendix E-F, Fig. 9.")]
