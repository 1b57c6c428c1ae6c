"""The Table 2 report's figures: test error per run, the hinge and energies during training, the
error every evaluation, and Fig. 10's sample grids. Each figure draws one budget (the runs of one
`train_steps`), since the preset and the noise-floor comparison share the report."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ebgan_tf.atomic_files import write_bytes_atomic
from ebgan_tf.experiments.table2_run import SAMPLES_FILE
from ebgan_tf.reporting import plots
from ebgan_tf.runs.store import RESULT_FILE
from ebgan_tf.runs.train import METRICS_FILE, read_metrics_csv

MODEL_LABELS = {"ln": "LN", "ebgan_ln": "EBGAN-LN", "control": "control (m = 0)"}


def _run_label(r: dict) -> str:
    return f"{MODEL_LABELS[r['model']]}, {r['labels']} labels, seed {r['seed']}"


def error_figure(rows: list[dict], paper_means: dict, path: Path) -> Path:
    """Every ok run's test error per label count and model, the means, and the paper's means
    (`paper_means`: {name: {labels: (mean, std)}})."""
    import pandas as pd
    import seaborn as sns

    frame = pd.DataFrame(rows)
    frame["model"] = frame["model"].map(MODEL_LABELS)
    frame["labels"] = frame["labels"].astype(str)
    # Label counts are categories here; matplotlib would log that they look like numbers.
    logging.getLogger("matplotlib.category").setLevel(logging.WARNING)
    fig, ax = plots.new_figure(figsize=(6.4, 4.0))
    sns.stripplot(data=frame, x="labels", y="error_rate", hue="model", dodge=True, alpha=0.6, ax=ax)
    # seaborn divides the dodge among the models, so one model (--models=ln) gets none.
    dodge = 0.5 if frame["model"].nunique() > 1 else False
    repeated = frame.groupby(["model", "labels"]).size().max() > 1
    sns.pointplot(data=frame, x="labels", y="error_rate", hue="model", dodge=dodge,
                  linestyle="none", errorbar="sd" if repeated else None, markers="D", ax=ax,
                  legend=False)
    order = [t.get_text() for t in ax.get_xticklabels()]
    for (name, values), style in zip(paper_means.items(), ("--", ":")):
        xs = [i for i, n in enumerate(order) if values.get(int(n))]
        ax.plot(xs, [values[int(order[i])][0] for i in xs], style, color="grey", label=name)
    ax.set_xlabel("labelled examples")
    ax.set_ylabel("test error (%)")
    ax.set_title("PI-MNIST test error per run (diamonds: mean ± sd)")
    ax.legend(fontsize=8)
    return plots.save_figure(fig, path)


def hinge_figure(rows: list[dict], output_dir: Path, path: Path) -> Path:
    """The adversarial runs' metrics rows: the hinge-active fraction, and EBGAN-LN's real and
    fake energies and margin."""
    import pandas as pd
    import seaborn as sns

    active, energies = [], []
    for r in rows:
        if r["model"] not in ("ebgan_ln", "control"):
            continue
        for point in read_metrics_csv(output_dir / "trials" / r["run_id"] / METRICS_FILE, 2**62):
            active.append({"step": point["step"], "run": _run_label(r),
                           "hinge_active": point.get("hinge_active", float("nan"))})
            if r["model"] != "ebgan_ln":
                continue
            # After the margin's decay EBGAN-LN trains as an LN and logs fake energy 0.
            for metric in ("denoising_cost", "fake_energy", "margin"):
                if metric == "denoising_cost" or point.get("g_loss", 0.0) != 0.0:
                    energies.append({"step": point["step"], "value": point[metric],
                                     "metric": {"denoising_cost": "real D(x)",
                                                "fake_energy": "fake D(G(z))",
                                                "margin": "margin m"}[metric],
                                     "run": _run_label(r)})
    fig, (left, right) = plots.new_figure(1, 2, figsize=(12.0, 4.0))
    if active:
        sns.lineplot(data=pd.DataFrame(active), x="step", y="hinge_active", hue="run", ax=left)
        left.legend(fontsize=7)
    left.set_ylabel("P[D(G(z)) < m] over D's fakes")
    left.set_title("Hinge-active fraction (row means)")
    if energies:
        sns.lineplot(data=pd.DataFrame(energies), x="step", y="value", hue="metric", style="run",
                     ax=right, errorbar=None)
        right.set_yscale("log")
        right.legend(fontsize=7)
    right.set_ylabel("energy (λ₀/784 · sum of squares)")
    right.set_title("EBGAN-LN: real and fake energy, margin")
    return plots.save_figure(fig, path)


def evaluations(output_dir: Path, run_id: str) -> list[dict]:
    """The run's evaluations (step, validation_error, test_error) from its result.json."""
    try:
        return json.loads((output_dir / "trials" / run_id / RESULT_FILE).read_text()).get(
            "evaluations", [])
    except (OSError, json.JSONDecodeError):
        return []


def error_curves_figure(rows: list[dict], output_dir: Path, path: Path) -> Path | None:
    """Test (solid) and validation (dashed) error at every evaluation, per run; None if the runs
    were evaluated once only."""
    import pandas as pd
    import seaborn as sns

    points = [{"step": e["step"], "error": e[column], "set": name, "model": MODEL_LABELS[r["model"]],
               "run": f"{r['labels']} labels, seed {r['seed']}"}
              for r in rows for e in evaluations(output_dir, r["run_id"])
              for column, name in (("test_error", "test"), ("validation_error", "validation"))]
    frame = pd.DataFrame(points).dropna() if points else pd.DataFrame()
    if frame.empty or frame["step"].nunique() < 2:
        return None
    fig, axes = plots.new_figure(1, 2, figsize=(12.0, 4.0), sharey=True)
    for ax, name in zip(axes, ("test", "validation")):
        part = frame[frame["set"] == name]
        if not part.empty:
            sns.lineplot(data=part, x="step", y="error", hue="model", style="run", marker="o",
                         ax=ax, errorbar=None)
            ax.legend(fontsize=7)
        ax.set_title(f"{name} error during training")
        ax.set_ylabel("error (%)")
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
                              f"seed {r['seed']}, after {r['train_steps']:,} steps"))
    return grids
