"""The report of a convolutional figure pair (`ConvFigures`): one page, index.html, with the
models' sample grids side by side beside the data, their training curves against the margin, the
energies of one held batch, and the settings and budgets, every one of them generated from the
configs and scales (nothing restated by hand).

Besides index.html it writes, next to it, what the committed reports keep (the run folders are
not committed): samples_data.png, samples_<kind>.png and training_curves.png.
"""

from __future__ import annotations

from pathlib import Path

from ebgan_tf import step_cost
from ebgan_tf.atomic_files import write_bytes_atomic
from ebgan_tf.configs.scales import SCALE_NAMES
from ebgan_tf.experiments.conv_figures import (EVALUATION, HINGE_COLUMNS, KIND_TITLES,
                                              ConvFigures)
from ebgan_tf.experiments.conv_run import DATA_FILE, SAMPLES_FILE
from ebgan_tf.reporting import html, plots
from ebgan_tf.reporting.hinge import HingeVerdict
from ebgan_tf.runs.experiment import Page, ReportContext
from ebgan_tf.runs.store import RunStore

SUBTITLE = "Zhao, Mathieu, LeCun: Energy-based GAN (ICLR 2017), §4.3-4.4."
# Model-building rules that no config field holds (they are the code of ebgan_tf.networks.conv).
NETWORK_CHOICES = (
    "Latent z ~ N(0, I) of 100 dimensions; the ImageNet generators' noise planes are N(0, I) at "
    "each layer's input resolution, concatenated to its input (one reading of the recalled "
    "'100-64-32-16-8-4').",
    "Batch norm after every layer except G's output and D's input layer and outputs; ReLU in G "
    "and the decoder, LeakyReLU in the encoder and the DCGAN discriminator.",
    "The DCGAN baseline's discriminator: widths 64, 128, ... halving the resolution down to 4×4, "
    "then a 4×4 convolution to one logit.",
    "Samples come from the generator in inference mode (batch-norm moving averages), from one "
    "noise batch shared by every model; the energies are measured on one batch of training "
    "images drawn in another order than in training.",
)


def _side_by_side(cells: list[str]) -> str:
    boxes = "".join(f'<div style="flex:1 1 0;min-width:240px">{c}</div>' for c in cells)
    return f'<div style="display:flex;gap:1em;flex-wrap:wrap;align-items:flex-start">{boxes}</div>'


def _copy(source: Path, target: Path) -> Path:
    return write_bytes_atomic(target, source.read_bytes())


def sample_section(experiment: ConvFigures, rows: list[dict], output_dir: Path) -> html.Section:
    from ebgan_tf.data.images import SOURCES

    figure, store = experiment.figure, RunStore(output_dir)
    spec = experiment.specs()[0]
    blocks = [html.paragraph(f"Paper: {figure.paper_result} Data: {SOURCES[spec.source].title}; "
                             f"preprocessing: {spec.preprocessing.describe()}; pixels in "
                             "[-1, 1]."),
              html.paragraph(experiment.summary())]
    cells = []
    data_pngs = [store.run_dir(r["run_id"]) / DATA_FILE for r in rows]
    data_png = next((p for p in data_pngs if p.is_file()), None)
    if data_png is not None:
        cells.append(html.figure(_copy(data_png, output_dir / "samples_data.png"),
                                 "Training data, after preprocessing"))
    for row in rows:
        png = store.run_dir(row["run_id"]) / SAMPLES_FILE
        title = f"{row['model']} — paper: {row['paper figure']}"
        if row["status"] == "ok" and png.is_file():
            target = output_dir / f"samples_{row['kind']}.png"
            cells.append(html.figure(_copy(png, target), f"{title}; step {row['steps_run']}"))
        else:
            cells.append(html.paragraph(f"{title}: {row['status']} ({row['reason']})"))
    blocks.append(_side_by_side(cells))
    rows_, cols = figure.grid
    return html.Section(f"Samples side by side ({rows_}×{cols} grids, the same noise for every "
                        "model), beside the data", blocks)


def draw_curves(experiment: ConvFigures, rows: list[dict], output_dir: Path) -> Path | None:
    """Per model, its metrics.csv: EBGANs' mean energies with the margin and, on a second axis,
    the hinge-active fraction P[D(G(z)) < m]; DCGAN's losses."""
    import pandas as pd

    store = RunStore(output_dir)
    curves = []
    for row in rows:
        path = store.run_dir(row["run_id"]) / "metrics.csv"
        if path.is_file():
            curves.append((row, pd.read_csv(path)))
    if not curves:
        return None
    fig, axes = plots.new_figure(1, len(curves), squeeze=False,
                                 figsize=(4.2 * len(curves), 3.2))
    for ax, (row, metrics) in zip(axes[0], curves):
        names = ("real_energy", "fake_energy") if row["kind"] != "dcgan" else ("d_loss", "g_loss")
        for name in names:
            if name in metrics:
                ax.plot(metrics["step"], metrics[name], "o-", label=name)
        if row["kind"] != "dcgan":
            ax.axhline(row["margin"], color="grey", linestyle="--",
                       label=f"margin m = {row['margin']:g}")
        handles, labels = ax.get_legend_handles_labels()
        if "hinge_active" in metrics:
            twin = ax.twinx()
            twin.plot(metrics["step"], metrics["hinge_active"], ":", color="black",
                      label="P[D(G(z)) < m] (right axis)")
            twin.set_ylim(-0.05, 1.05)
            twin.grid(False)
            more = twin.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        ax.set_xlabel("step")
        ax.set_title(row["model"])
        ax.legend(handles, labels, fontsize=8)
    return plots.save_figure(fig, output_dir / "training_curves.png")


def training_section(experiment: ConvFigures, rows: list[dict], output_dir: Path) -> html.Section:
    shown = ["model", "paper figure", "status", "steps_run", "resumed_from", "train_seconds",
             *EVALUATION, *HINGE_COLUMNS]
    blocks = [html.table([{k: r[k] for k in shown} for r in rows], shown),
              html.paragraph("Energies: D(x), eq. 13 under the run's energy reduction, mean "
                             "over one held batch of training images and one generated batch, "
                             "in inference mode; probabilities: the DCGAN discriminator's "
                             "sigmoid output. resumed_from: the step the run's last process "
                             "started from (0: uninterrupted).")]
    for r in rows:
        if r["kind"] != "dcgan" and r.get("hinge_verdict"):
            # Was it an EBGAN? A hinge never reached, or always exceeded, is shown, not hidden.
            blocks.append(html.paragraph(f"{r['model']}: " + HingeVerdict(
                r["hinge_active_early"], r["hinge_active_overall"], r["hinge_verdict"]
            ).describe() + f" (criterion: reporting/hinge.py; m = {r['margin']:g})."))
        if r["kind"] != "dcgan" and r["status"] == "ok":
            blocks.append(html.verdict(
                f"{r['model']}'s discriminator gives generated images more energy than real "
                "ones (what the hinge of eq. 1 trains it to do)",
                r["fake_energy"] > r["real_energy"]))
    curves = draw_curves(experiment, rows, output_dir)
    if curves is not None:
        blocks.append(html.figure(curves, "Training curves, one point per metrics row (EBGANs: "
                                          "mean energies and the margin, and on the right axis "
                                          "the fraction of D's fake batch below the margin, "
                                          "P[D(G(z)) < m]; DCGAN: losses)."))
    return html.Section("Training", blocks)


def architecture_rows(architecture) -> list[dict]:
    return [
        {"part": "generator", "layers": "-".join(architecture.generator),
         "noise planes": "-".join(map(str, architecture.noise_planes)),
         "source": architecture.generator_source},
        {"part": "EBGAN encoder", "layers": "-".join(architecture.encoder), "noise planes": "",
         "source": architecture.source},
        {"part": "EBGAN decoder", "layers": "-".join(architecture.decoder), "noise planes": "",
         "source": architecture.source},
        {"part": "DCGAN discriminator", "layers": "-".join(architecture.dcgan_discriminator),
         "noise planes": "", "source": "DCGAN (Radford et al. 2016); a choice"},
    ]


def settings_section(experiment: ConvFigures, sources: dict | None = None) -> html.Section:
    """`sources`: {setting: (source, why)} where this experiment's value has another origin than
    the field's default (`html.settings_table`'s `origins`)."""
    spec = experiment.specs()[0]
    cfg = spec.config
    run_rows = [{"setting": "data", "value": spec.source},
                {"setting": "preprocessing", "value": spec.preprocessing.describe()},
                {"setting": "grid (rows × cols)", "value": "×".join(map(str, spec.grid))},
                {"setting": "steps per metrics row and checkpoint", "value": spec.log_every},
                {"setting": "precision", "value": spec.precision},
                *({"setting": f.name, "value": getattr(cfg, f.name)}
                  for f in cfg.__dataclass_fields__.values()
                  if f.metadata.get("source") == "run" and f.name != "kind")]
    return html.Section("Architecture and settings", [
        html.paragraph("The networks, in the paper's notation ('(64)4c2s': 64 maps, 4×4 "
                       "kernel, stride 2), as built:"),
        html.table(architecture_rows(cfg.arch)),
        html.paragraph("Every model setting with where its value comes from (paper: verified; "
                       "recalled: Appendix C as recalled, not verified; choice: the paper is "
                       "silent) and the value every model of this report used (the DCGAN "
                       "ignores the EBGAN settings):"),
        html.settings_table(cfg, ("paper", "recalled", "choice"), origins=sources),
        html.paragraph("This run's settings:"),
        html.table(run_rows, ["setting", "value"], float_format="{:g}"),
        *(html.choice(text) for text in NETWORK_CHOICES),
    ])


def budget_section(experiment: ConvFigures) -> html.Section:
    rows = []
    for scale_name in SCALE_NAMES:
        other = type(experiment)(experiment.name, experiment.scales[experiment.name][scale_name],
                                 experiment.kinds, experiment.seed, experiment.margin)
        for spec in other.specs():
            cfg = spec.config
            rows.append({"scale": scale_name, "model": KIND_TITLES[cfg.kind],
                         "batch": cfg.batch_size, "steps": cfg.train_steps,
                         "width ÷": cfg.width_divisor,
                         "GFLOP/step": step_cost.conv_train_step_flops(cfg) / 1e9,
                         "expected accelerator-hours": step_cost.conv_accelerator_hours(cfg)})
    return html.Section("Budget per scale", [
        html.table(rows, float_format="{:.3g}"),
        html.paragraph(
            "Accelerator-hours are an estimate, not a measurement: the convolutions' FLOPs "
            "counted from the layer specs (ebgan_tf.step_cost.conv_train_step_flops), at an "
            f"assumed sustained {step_cost.ASSUMED_ACCELERATOR_TFLOPS:g} TFLOP/s. The paper "
            "gives no iteration counts: every budget here is a choice."),
    ])


def runs_section(runs_log: list[dict]) -> html.Section:
    return html.Section("Runs", [
        html.paragraph("Every invocation on this folder (a rerun only runs, or resumes, what is "
                       "unfinished):"),
        html.table(runs_log),
        html.paragraph("Per model, under trials/<run id>/: config.json, metrics.csv, "
                       "checkpoints/ (a rerun resumes from them), tensorboard/, generator.keras, "
                       "samples.png, data.png and result.json."),
    ])


def pages(experiment: ConvFigures, frame, context: ReportContext) -> list[Page]:
    output_dir = Path(context.output_dir)
    rows = frame.to_dict("records")

    def build():
        return [sample_section(experiment, rows, output_dir),
                training_section(experiment, rows, output_dir),
                settings_section(experiment), budget_section(experiment),
                runs_section(context.runs_log)]

    title = f"EBGAN {experiment.figure.title} ({experiment.scale.name} scale)"
    return [Page("index.html", title, build, subtitle=SUBTITLE)]
