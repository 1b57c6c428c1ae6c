"""The convolutional figures (paper §4.3, §4.4; Figs. 5-8 and 11-14) as engine experiments.

    experiment = ConvFigures("fig5_fig12_lsun", "cpu")
    engine.reproduce(experiment, "reports/fig5_fig12_lsun", Runtime(data_dir=...))

One experiment is one figure pair (e.g. Figs. 5 and 12: LSUN whole images) and trains one model
per kind, DCGAN (the baseline), EBGAN and EBGAN-PT, under the same configuration, as the paper
does ("we train a DCGAN model under the same configuration", §4.3); the report shows the three
side by side, beside the data.

Each model is one run (`ConvRun`) in `trials/<run_id>/`: config.json, metrics.csv,
checkpoints/ (an interrupted run resumes at the last one, its data stream at the same batch),
tensorboard/ (scalars and the sample grid), generator.keras, samples.png (the paper's grid),
data.png (the training data after preprocessing, at the same grid size) and, last,
result.json. Training and evaluation are in `conv_run`, the report in `conv_report`.

Importing this module needs no TensorFlow, so a script's `--help` and bad flags answer at once.
"""

from __future__ import annotations

import dataclasses
import math

from ebgan_tf.configs.conv import ConvConfig, Preprocessing
from ebgan_tf.configs.scales import Scale, pick
from ebgan_tf.configs.settings import stable_id
from ebgan_tf.runs.experiment import Experiment

KINDS = ConvConfig.KINDS
KIND_TITLES = {"dcgan": "DCGAN", "ebgan": "EBGAN", "ebgan_pt": "EBGAN-PT"}
PRECISIONS = ("float32", "mixed")
# What the energies and probabilities of one held batch are called in result.json.
EVALUATION = ("real_energy", "fake_energy", "real_prob", "fake_prob")
HINGE_COLUMNS = ("hinge_active_early", "hinge_active_overall", "hinge_verdict")


@dataclasses.dataclass(frozen=True)
class Figure:
    """One figure pair of the paper: its data, its models' networks and its sample grids."""

    title: str
    source: str  # A key of `ebgan_tf.data.images.SOURCES`.
    preprocessing: Preprocessing
    grid: tuple[int, int]  # (rows, cols) of each sample grid, as in the paper's figure.
    panels: tuple[tuple[str, str], ...]  # (kind, its panel in the paper).
    paper_result: str
    architecture: str  # A key of `ebgan_tf.configs.conv.ARCHITECTURES`.
    margin: float  # As recalled (see ConvConfig.margin).
    # The paper gives no iteration counts: the paper scale's budget is a choice, sized in epochs
    # of the training set (`train_images`, its approximate size).
    paper_steps: int
    train_images: int

    def panel(self, kind: str) -> str:
        return dict(self.panels).get(kind, "not in the paper: a baseline this suite adds")


FIGURES: dict[str, Figure] = {
    "fig5_fig12_lsun": Figure(
        "Figures 5 and 12: LSUN bedroom, whole images, 64×64", "lsun_bedroom",
        Preprocessing(64), (7, 7),
        (("dcgan", "Fig. 5(a)"), ("ebgan", "Fig. 12(a)"), ("ebgan_pt", "Fig. 5(b) = Fig. 12(b)")),
        "Qualitative: EBGAN-PT's bedrooms are at least as sharp and varied as DCGAN's.",
        "dcgan64", 80.0, 100_000, 3_033_042),
    "fig11_fig13_lsun_patches": Figure(
        "Figures 11 and 13: LSUN bedroom, augmented patches (64×64 crops of 96×96)",
        "lsun_bedroom", Preprocessing(64, load_size=96), (7, 7),
        (("dcgan", "Fig. 11(a)"), ("ebgan", "Fig. 13(a)"),
         ("ebgan_pt", "Fig. 11(b) = Fig. 13(b)")),
        "Qualitative: plausible bedroom patches from all three; EBGAN-PT varied.",
        "dcgan64", 80.0, 100_000, 3_033_042),
    "fig6_fig14_celeba": Figure(
        "Figures 6 and 14: CelebA, 64×64", "celeb_a", Preprocessing(64, crop_size=108), (6, 6),
        (("dcgan", "Fig. 6(a)"), ("ebgan", "Fig. 14(a)"), ("ebgan_pt", "Fig. 6(b) = Fig. 14(b)")),
        "Qualitative: EBGAN-PT's faces comparable to DCGAN's.",
        "dcgan64", 20.0, 50_000, 202_599),
    "fig7_imagenet128": Figure(
        "Figure 7: ImageNet 128×128 (EBGAN-PT)", "imagenet2012", Preprocessing(128), (6, 10),
        (("ebgan_pt", "Fig. 7"),),
        "Qualitative: EBGAN-PT at 128×128 with object-like shapes and textures.",
        "imagenet128", 40.0, 200_000, 1_281_167),
    "fig8_imagenet256": Figure(
        "Figure 8: ImageNet dog subset, 256×256 (EBGAN-PT)", "imagenet_dogs",
        Preprocessing(256), (2, 6), (("ebgan_pt", "Fig. 8"),),
        "Qualitative: EBGAN-PT at 256×256 with dog-like fur, faces and bodies.",
        "imagenet256", 80.0, 100_000, 150_473),
}

# Per image size. smoke: a handful of steps on synthetic blobs with every hidden width divided
# (CI, seconds); cpu: the paper's networks on the real data for a short run, the batch cut for
# the larger images so that a 2-core machine finishes in hours, not days.
_SMOKE = {64: dict(batch_size=8, width_divisor=8), 128: dict(batch_size=4, width_divisor=16),
          256: dict(batch_size=2, width_divisor=32)}
_CPU = {64: dict(batch_size=64, train_steps=300, log_every=50),
        128: dict(batch_size=16, train_steps=100, log_every=25),
        256: dict(batch_size=8, train_steps=50, log_every=25)}
PAPER_BATCH_SIZE = 64  # DCGAN's.
PAPER_LOG_EVERY = 1_000


def _scales(figure: Figure) -> dict[str, Scale]:
    size = figure.preprocessing.image_size
    smoke, cpu = _SMOKE[size], _CPU[size]
    epochs = figure.paper_steps * PAPER_BATCH_SIZE / figure.train_images
    return {
        "smoke": Scale(
            "smoke", f"4 steps of batch {smoke['batch_size']} per model on synthetic blobs, "
            f"every hidden width divided by {smoke['width_divisor']}: checks the machinery "
            "(training, checkpoints, grids, report) in seconds; the samples say nothing about "
            "the paper.", train_steps=4, batch_size=smoke["batch_size"], log_every=2,
            overrides={"width_divisor": smoke["width_divisor"]}),
        "cpu": Scale(
            "cpu", f"The paper's networks on the real data, {cpu['train_steps']:,} steps of "
            f"batch {cpu['batch_size']} per model: early training, for a CPU; not the paper's "
            "result.", train_steps=cpu["train_steps"], batch_size=cpu["batch_size"],
            log_every=cpu["log_every"]),
        "paper": Scale(
            "paper", f"The paper's networks, {figure.paper_steps:,} steps of batch "
            f"{PAPER_BATCH_SIZE} per model (about {epochs:.0f} epochs of "
            f"{figure.train_images:,} images; the paper gives no budget, so this is a choice), "
            "for accelerators.", train_steps=figure.paper_steps, batch_size=PAPER_BATCH_SIZE,
            log_every=PAPER_LOG_EVERY, reuse_workers=False),
    }


SCALES: dict[str, dict[str, Scale]] = {name: _scales(f) for name, f in FIGURES.items()}


@dataclasses.dataclass(frozen=True)
class ConvRun:
    """One model of a figure: everything that changes its numbers, hence its `run_id`."""

    config: ConvConfig
    source: str  # A key of `ebgan_tf.data.images.SOURCES`.
    preprocessing: Preprocessing
    grid: tuple[int, int]  # (rows, cols) of the sample and data grids.
    log_every: int  # Steps per metrics.csv row and per checkpoint.
    precision: str = "float32"  # "float32" or "mixed" (bf16 on CPU/TPU, fp16 on GPU).

    def __post_init__(self):
        if self.config.train_steps % self.log_every:
            raise ValueError(f"train_steps ({self.config.train_steps}) must be a multiple of "
                             f"log_every ({self.log_every})")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.preprocessing.image_size != self.config.image_size:
            raise ValueError(f"{self.config.architecture} makes {self.config.image_size}-pixel "
                             f"images, the data is {self.preprocessing.image_size}-pixel")

    @property
    def run_id(self) -> str:
        cfg = self.config
        return stable_id(f"{cfg.kind}-{cfg.architecture}-s{cfg.seed}",
                         {**self.to_dict(), "config": cfg.id_dict()})

    def to_dict(self) -> dict:
        return {"config": self.config.to_dict(), "source": self.source,
                "preprocessing": self.preprocessing.to_dict(), "grid": list(self.grid),
                "log_every": self.log_every, "precision": self.precision}

    @classmethod
    def from_dict(cls, d: dict) -> "ConvRun":
        return cls(ConvConfig(**d["config"]), d["source"], Preprocessing(**d["preprocessing"]),
                   tuple(d["grid"]), d["log_every"], d["precision"])


@dataclasses.dataclass(frozen=True)
class ConvFigures(Experiment):
    """One figure pair: its models (`kinds`) at a scale, trained and reported side by side.

    name: a key of `figures` (also the report folder, reports/<name>/).
    scale: "smoke", "cpu", "paper" or a `Scale` (its `overrides` set ConvConfig fields).
    margin: None takes the figure's (recalled) margin.
    train_steps: None takes the scale's; a number is rounded up to whole metrics rows.
    source: None takes the figure's data set, or synthetic blobs at smoke scale.
    """

    name: str
    scale: Scale | str = "cpu"
    kinds: tuple[str, ...] = KINDS
    seed: int = 0
    margin: float | None = None
    precision: str = "float32"
    train_steps: int | None = None
    source: str | None = None
    resumable = True
    hparam_metrics = EVALUATION
    # The experiment's tables (class attributes, not fields): a subclass brings its own data sets
    # (`ebgan_tf.experiments.conv_mnist`) and inherits the rest.
    figures = FIGURES
    scales = SCALES
    smoke_source = "synthetic"  # The smoke scale's data (None: the figure's own).

    def __post_init__(self):
        if self.name not in self.figures:
            raise ValueError(f"unknown figure {self.name!r}; choose one of {sorted(self.figures)}")
        if isinstance(self.scale, str):
            object.__setattr__(self, "scale", pick(self.scales[self.name], self.scale))
        kinds = tuple(dict.fromkeys(self.kinds))
        if not kinds or any(k not in KINDS for k in kinds):
            raise ValueError(f"--models must be a non-empty subset of {','.join(KINDS)}, got "
                             f"{','.join(self.kinds) or '(none)'}")
        object.__setattr__(self, "kinds", kinds)
        if self.train_steps is not None and self.train_steps < 1:
            raise ValueError(f"--train_steps must be positive, got {self.train_steps}")
        self.specs()  # A bad margin or precision is an error now, not when the runs start.

    @property
    def figure(self) -> Figure:
        return self.figures[self.name]

    def specs(self) -> list[ConvRun]:
        figure, scale = self.figure, self.scale
        steps = scale.train_steps
        if self.train_steps is not None:
            steps = math.ceil(self.train_steps / scale.log_every) * scale.log_every
        base = ConvConfig(architecture=figure.architecture, seed=self.seed,
                          margin=figure.margin if self.margin is None else self.margin,
                          batch_size=scale.batch_size, train_steps=steps, **scale.overrides)
        source = self.source or (self.smoke_source if scale.name == "smoke" else None) \
            or figure.source
        return [ConvRun(base.replace(kind=kind), source, figure.preprocessing, figure.grid,
                        scale.log_every, self.precision) for kind in self.kinds]

    def spec_from_dict(self, payload: dict) -> ConvRun:
        return ConvRun.from_dict(payload)

    def summary(self) -> str:
        return f"{self.figure.title}. Scale {self.scale.name}: {self.scale.summary}"

    def check_data(self, runtime) -> None:
        """Opens the data stream once (a missing, empty or unreadable data set raises here, in
        seconds, before any model is built)."""
        from ebgan_tf.data import images

        run = self.specs()[0]
        images.image_stream(run.source, run.preprocessing, 2, run.config.seed, noise_dim=1,
                            data_dir=runtime.data_dir, data_source=runtime.data_source,
                            num_synthetic=2)

    def run(self, spec: ConvRun, run_dir, runtime) -> dict:
        from ebgan_tf.experiments import conv_run

        return conv_run.train_and_evaluate(spec, run_dir, runtime)

    def result_record(self, spec: ConvRun, outcome: dict, wall_time_s: float) -> dict:
        from ebgan_tf.reporting.hinge import hinge_verdict

        cfg = spec.config
        evaluation, final = outcome.get("evaluation", {}), outcome.get("final_metrics", {})
        # Was it an EBGAN? (the hinge must engage: reporting.hinge); the DCGAN has no margin.
        hinge = hinge_verdict(outcome.get("rows", [])) if cfg.is_ebgan else None
        return {
            "run_id": spec.run_id, "kind": cfg.kind, "status": outcome["status"],
            "reason": outcome.get("reason", ""),
            **{name: evaluation.get(name, float("nan")) for name in EVALUATION},
            "margin": cfg.margin if cfg.is_ebgan else float("nan"),
            "hinge_active_early": hinge.early if hinge else float("nan"),
            "hinge_active_overall": hinge.overall if hinge else float("nan"),
            "hinge_verdict": hinge.verdict if hinge else "", "steps": cfg.train_steps,
            "steps_run": outcome.get("steps_run", 0),
            "resumed_from": outcome.get("resumed_from", 0), "batch_size": cfg.batch_size,
            "seed": cfg.seed, "architecture": cfg.architecture, "source": spec.source,
            "precision": spec.precision, "wall_time_s": round(wall_time_s, 2),
            "train_seconds": round(outcome.get("train_seconds", float("nan")), 2),
            "final_metrics": final,
        }

    def results_table(self, finished: list[tuple], output_dir):
        import pandas as pd

        rows = [{"model": KIND_TITLES[spec.config.kind],
                 "paper figure": self.figure.panel(spec.config.kind),
                 **{k: result.get(k) for k in (
                     "kind", "status", *EVALUATION, "margin", *HINGE_COLUMNS, "steps",
                     "steps_run",
                     "resumed_from", "batch_size", "seed", "wall_time_s", "train_seconds",
                     "run_id", "reason")}}
                for spec, result in finished]
        columns = ["model", "paper figure", "kind", "status", *EVALUATION, "margin",
                   *HINGE_COLUMNS, "steps",
                   "steps_run", "resumed_from", "batch_size", "seed", "wall_time_s",
                   "train_seconds", "run_id", "reason"]
        return pd.DataFrame(rows, columns=columns)

    def report_pages(self, frame, context):
        from ebgan_tf.experiments import conv_report

        return conv_report.pages(self, frame, context)

    def hparams(self, spec: ConvRun) -> dict:
        cfg = spec.config
        return {"kind": cfg.kind, "margin": cfg.margin, "batch_size": cfg.batch_size,
                "steps": cfg.train_steps, "seed": cfg.seed}


def define_flags() -> None:
    """--models and --train_steps, beside `cli.define_common_flags`."""
    from absl import flags

    flags.DEFINE_list("models", list(KINDS),
                      f"Models to train, a comma-separated subset of {','.join(KINDS)}.")
    flags.DEFINE_integer("train_steps", None, "Override the scale's training steps per model "
                         "(rounded up to whole metrics rows).", lower_bound=1)
