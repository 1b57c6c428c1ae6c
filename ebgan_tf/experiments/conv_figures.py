"""Convolutional EBGAN experiments (paper §4.3, §4.4; Figures 5, 6, 7, 8, 11–14): configs, named
presets per figure and scale, training with `fit()` under a strategy, checkpoint and resume,
TensorBoard logs, sample grids of the paper's sizes, `.keras` generators and the HTML report.

One experiment is one paper figure pair (e.g. Figs. 5 and 12: LSUN whole images) and trains one
model per kind — DCGAN (the baseline, `models.GAN` with the DCGAN discriminator), EBGAN and
EBGAN-PT (`models.EBGAN` with the convolutional auto-encoder) — under the same configuration, as
the paper does ("we train a DCGAN model under the same configuration", §4.3). The report shows
the three side by side.

Layout of `<output_dir>` (default `reports/<script name>/`):
  index.html                 the report (self-contained)
  samples_<kind>.png         the sample grids at the paper's grid size
  trials/<kind>/             per model, not committed: config.json, checkpoints/ (the last two
                             tf.train checkpoints), tensorboard/, history.csv, generator.keras

A run that finds a checkpoint in `trials/<kind>/` resumes from it: the weights, both optimizers'
state and the step count are restored, and the data stream is resumed at the same batch (see
`ebgan_tf.image_data`), so a killed and rerun job ends where an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ebgan_tf import conv_networks, distribute, image_data, losses, models, report
from ebgan_tf.cli import SCALES, UsageError
from ebgan_tf.data import DataError
from ebgan_tf.image_data import Preprocessing

KINDS = ("dcgan", "ebgan", "ebgan_pt")
KIND_TITLES = {"dcgan": "DCGAN", "ebgan": "EBGAN", "ebgan_pt": "EBGAN-PT"}
# Sustained training throughput assumed for the paper-scale estimate (no accelerator was measured):
# small-spatial-size GAN convolutions typically reach a small fraction of an accelerator's peak.
ASSUMED_ACCELERATOR_TFLOPS = 10.0


@dataclasses.dataclass(frozen=True)
class ConvConfig:
    """One convolutional DCGAN / EBGAN / EBGAN-PT model and how it is trained."""

    kind: str = "ebgan_pt"  # "dcgan", "ebgan" or "ebgan_pt".
    architecture: str = "dcgan64"  # A key of conv_networks.ARCHITECTURES.
    # --- EBGAN (paper §2) ---
    margin: float = 80.0  # Recalled, not verified: 80 LSUN, 20 CelebA, 40 ImageNet-128, 80 -256.
    pt_weight: float = 0.1  # Appendix F (verified); used only by "ebgan_pt".
    energy_reduction: str = "l2"  # Eq. 13 as written (see ebgan_tf.losses).
    hinge: str = "per_sample"  # Eq. 1.
    pt_squared: bool = True  # Eq. 14.
    # --- DCGAN baseline ---
    gan_loss: str = "non_saturating"
    # --- Networks (choices: DCGAN guidance; see conv_networks) ---
    width_divisor: int = 1  # Divides every hidden width; >1 only for smoke runs.
    init_stddev: float = 0.02
    leaky_slope: float = 0.2
    decoder_activation: str = "linear"
    sync_batch_norm: bool = True
    # --- Optimisation (paper silent: DCGAN's Adam settings for every model) ---
    lr: float = 2e-4
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999
    batch_size: int = 64  # Global batch.
    train_steps: int = 1000  # One step = one D update + one G update.
    steps_per_checkpoint: int = 100  # Also the Keras "epoch": logs, TensorBoard, history rows.
    jit_compile: bool = False
    seed: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.architecture not in conv_networks.ARCHITECTURES:
            raise ValueError(f"architecture must be one of {sorted(conv_networks.ARCHITECTURES)}")
        if self.margin < 0:
            raise ValueError(f"margin must be non-negative, got {self.margin}")
        if self.train_steps < 1 or self.steps_per_checkpoint < 1 or self.batch_size < 2:
            raise ValueError("train_steps and steps_per_checkpoint must be >= 1, batch_size >= 2")
        if self.train_steps % self.steps_per_checkpoint:
            raise ValueError(f"train_steps {self.train_steps} is not a multiple of "
                             f"steps_per_checkpoint {self.steps_per_checkpoint}")

    @property
    def is_ebgan(self) -> bool:
        return self.kind != "dcgan"

    @property
    def effective_pt_weight(self) -> float:
        return self.pt_weight if self.kind == "ebgan_pt" else 0.0

    @property
    def image_size(self) -> int:
        return conv_networks.ARCHITECTURES[self.architecture].image_size

    @property
    def epochs(self) -> int:
        return math.ceil(self.train_steps / self.steps_per_checkpoint)

    def replace(self, **changes) -> "ConvConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ConvExperiment:
    """One reproduction script: a data set, a grid size, the models and their shared settings."""

    name: str  # The script's name; the report folder is reports/<name>/.
    title: str
    source: str  # A key of image_data.SOURCES.
    preprocessing: Preprocessing
    grid: tuple[int, int]  # (rows, cols) of each sample grid, as in the paper's figure.
    figures: tuple[tuple[str, str], ...]  # (kind, which panel of which paper figure).
    paper_result: str
    base: ConvConfig
    scale: str = "cpu"
    kinds: tuple[str, ...] = KINDS

    def config(self, kind: str) -> ConvConfig:
        return self.base.replace(kind=kind)

    def figure_of(self, kind: str) -> str:
        return dict(self.figures).get(kind, "not in the paper: a baseline this suite adds")

    def replace(self, **changes) -> "ConvExperiment":
        return dataclasses.replace(self, **changes)


# --- presets -----------------------------------------------------------------------------------

_FIGURES = {
    "fig5_fig12_lsun": dict(
        title="Figures 5 and 12: LSUN bedroom, whole images, 64×64",
        source="lsun_bedroom", preprocessing=Preprocessing(64), grid=(7, 7),
        figures=(("dcgan", "Fig. 5(a)"), ("ebgan", "Fig. 12(a)"),
                 ("ebgan_pt", "Fig. 5(b) = Fig. 12(b)")),
        paper_result="Qualitative: EBGAN-PT's bedrooms are at least as sharp and varied as DCGAN's.",
        base=ConvConfig(architecture="dcgan64", margin=80.0)),
    "fig11_fig13_lsun_patches": dict(
        title="Figures 11 and 13: LSUN bedroom, augmented patches (64×64 crops of 96×96)",
        source="lsun_bedroom", preprocessing=Preprocessing(64, load_size=96), grid=(7, 7),
        figures=(("dcgan", "Fig. 11(a)"), ("ebgan", "Fig. 13(a)"),
                 ("ebgan_pt", "Fig. 11(b) = Fig. 13(b)")),
        paper_result="Qualitative: plausible bedroom patches from all three; EBGAN-PT varied.",
        base=ConvConfig(architecture="dcgan64", margin=80.0)),
    "fig6_fig14_celeba": dict(
        title="Figures 6 and 14: CelebA, 64×64",
        source="celeb_a", preprocessing=Preprocessing(64, crop_size=108), grid=(6, 6),
        figures=(("dcgan", "Fig. 6(a)"), ("ebgan", "Fig. 14(a)"),
                 ("ebgan_pt", "Fig. 6(b) = Fig. 14(b)")),
        paper_result="Qualitative: EBGAN-PT's faces comparable to DCGAN's.",
        base=ConvConfig(architecture="dcgan64", margin=20.0)),
    "fig7_imagenet128": dict(
        title="Figure 7: ImageNet 128×128 (EBGAN-PT)",
        source="imagenet2012", preprocessing=Preprocessing(128), grid=(6, 10),
        figures=(("ebgan_pt", "Fig. 7"),),
        paper_result="Qualitative: EBGAN-PT at 128×128 with object-like shapes and textures.",
        base=ConvConfig(architecture="imagenet128", margin=40.0)),
    "fig8_imagenet256": dict(
        title="Figure 8: ImageNet dog subset, 256×256 (EBGAN-PT)",
        source="imagenet_dogs", preprocessing=Preprocessing(256), grid=(2, 6),
        figures=(("ebgan_pt", "Fig. 8"),),
        paper_result="Qualitative: EBGAN-PT at 256×256 with dog-like fur, faces and bodies.",
        base=ConvConfig(architecture="imagenet256", margin=80.0)),
}

# Per scale and image size: (batch, train steps, steps per checkpoint, width divisor).
# smoke: synthetic blobs, hidden widths shrunk, a handful of steps (CI, seconds).
# cpu: real data, the paper's networks, a short run (the wall times are in the README).
# paper: the paper's networks at a budget the paper does not give (choices, stated in the report).
_SCALES = {
    "smoke": {64: (8, 4, 2, 8), 128: (4, 4, 2, 16), 256: (2, 4, 2, 32)},
    "cpu": {64: (64, 300, 50, 1), 128: (16, 100, 25, 1), 256: (8, 50, 25, 1)},
    "paper": {64: (64, 100_000, 1000, 1), 128: (64, 200_000, 1000, 1),
              256: (64, 100_000, 1000, 1)},
}
# Paper-scale step budgets are per data set (about 2 epochs of LSUN, 16 of CelebA, 10 of
# ImageNet-1k, 40 of the dog subset), all choices.
_PAPER_STEPS = {"fig5_fig12_lsun": 100_000, "fig11_fig13_lsun_patches": 100_000,
                "fig6_fig14_celeba": 50_000, "fig7_imagenet128": 200_000,
                "fig8_imagenet256": 100_000}

EXPERIMENTS = tuple(_FIGURES)


def experiment(name: str, scale: str = "cpu", **base_overrides) -> ConvExperiment:
    """The named figure's experiment at a scale; `base_overrides` change the shared ConvConfig."""
    if name not in _FIGURES:
        raise ValueError(f"unknown experiment {name!r}; choose one of {sorted(_FIGURES)}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    spec = dict(_FIGURES[name])
    base: ConvConfig = spec.pop("base")
    batch, steps, per_checkpoint, divisor = _SCALES[scale][base.image_size]
    if scale == "paper":
        steps = _PAPER_STEPS[name]
    base = base.replace(batch_size=batch, train_steps=steps, steps_per_checkpoint=per_checkpoint,
                        width_divisor=divisor)
    if base_overrides:
        base = base.replace(**base_overrides)
    if scale == "smoke":
        spec["source"] = "synthetic"
    return ConvExperiment(name=name, base=base, scale=scale, **spec)


# --- models ------------------------------------------------------------------------------------

def build_networks(cfg: ConvConfig) -> tuple[keras.Model, keras.Model]:
    arch = conv_networks.ARCHITECTURES[cfg.architecture]
    common = dict(width_divisor=cfg.width_divisor, init_stddev=cfg.init_stddev,
                  sync_batch_norm=cfg.sync_batch_norm)
    generator = conv_networks.build_conv_generator(arch.generator, arch.noise_planes, **common)
    if cfg.is_ebgan:
        discriminator = conv_networks.build_conv_autoencoder(
            arch.encoder, arch.decoder, arch.image_size, leaky_slope=cfg.leaky_slope,
            decoder_activation=cfg.decoder_activation, **common)
    else:
        discriminator = conv_networks.build_dcgan_discriminator(
            arch.dcgan_discriminator, arch.image_size, leaky_slope=cfg.leaky_slope, **common)
    return generator, discriminator


def build_conv_model(cfg: ConvConfig) -> models.AdversarialModel:
    """The compiled `models.EBGAN` (EBGAN, EBGAN-PT) or `models.GAN` (DCGAN), in the current scope."""
    generator, discriminator = build_networks(cfg)
    if cfg.is_ebgan:
        model = models.EBGAN(generator, discriminator, margin=cfg.margin,
                             pt_weight=cfg.effective_pt_weight,
                             energy_reduction=cfg.energy_reduction, hinge=cfg.hinge,
                             pt_squared=cfg.pt_squared, seed=cfg.seed, name=cfg.kind)
    else:
        model = models.GAN(generator, discriminator, gan_loss=cfg.gan_loss, seed=cfg.seed,
                           name="dcgan")
    opt = dict(adam_beta1=cfg.adam_beta1, adam_beta2=cfg.adam_beta2)
    model.compile(d_optimizer=models.make_optimizer("adam", cfg.lr, **opt),
                  g_optimizer=models.make_optimizer("adam", cfg.lr, **opt),
                  jit_compile=cfg.jit_compile)
    return model


def train_step_flops(cfg: ConvConfig) -> float:
    """Approximate training FLOPs of one step: G forward+backward once (3G), D forward+backward on
    the real batch, the fake batch for D's update and again for G's update (~9D), per image."""
    arch = conv_networks.ARCHITECTURES[cfg.architecture]
    g_flops = conv_networks.spec_flops(arch, "generator", cfg.width_divisor)
    d_flops = conv_networks.spec_flops(
        arch, "autoencoder" if cfg.is_ebgan else "dcgan_discriminator", cfg.width_divisor)
    return cfg.batch_size * (3 * g_flops + 9 * d_flops)


def expected_accelerator_hours(cfg: ConvConfig, tflops: float = ASSUMED_ACCELERATOR_TFLOPS) -> float:
    return cfg.train_steps * train_step_flops(cfg) / (tflops * 1e12) / 3600.0


# --- training ----------------------------------------------------------------------------------

@dataclasses.dataclass
class TrainResult:
    kind: str
    config: ConvConfig
    run_dir: Path
    start_step: int  # The step the run resumed from (0: fresh).
    final_step: int
    train_seconds: float  # This process's training time only.
    history: list[dict]  # One row per checkpoint interval, over all runs (resumes included).
    evaluation: dict  # Energies (EBGAN) or probabilities (DCGAN) on one held batch.
    samples_png: Path


class _SaveCheckpoint(keras.callbacks.Callback):
    """Saves a tf.train checkpoint, numbered by the global step, at the end of every interval.

    The step is counted from Keras's epochs, not from an optimizer's `iterations`, which a
    float16 loss-scale optimizer does not advance on the steps it skips."""

    def __init__(self, manager: tf.train.CheckpointManager, completed_steps: tf.Variable,
                 steps_per_epoch: int):
        super().__init__()
        self.manager = manager
        self.completed_steps = completed_steps
        self.steps_per_epoch = steps_per_epoch

    def on_epoch_end(self, epoch, logs=None):
        self.completed_steps.assign((epoch + 1) * self.steps_per_epoch)
        self.manager.save(checkpoint_number=int(self.completed_steps.numpy()))


def _check_settings(run_dir: Path, cfg: ConvConfig) -> None:
    """A trial folder belongs to one configuration; resuming another would mix two runs."""
    path = run_dir / "config.json"
    wanted = cfg.to_dict()
    if path.exists():
        found = json.loads(path.read_text())
        changed = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k)
                         and k not in ("train_steps",))
        if changed:
            raise UsageError(
                f"{run_dir} holds a {cfg.kind} run with other settings ({', '.join(changed)}); "
                "use another --output_dir or delete that folder.")
    run_dir.mkdir(parents=True, exist_ok=True)
    report.write_text_atomic(path, json.dumps(wanted, indent=1, sort_keys=True))


def _read_history(path: Path) -> list[dict]:
    if not path.exists():
        return []
    import csv

    rows = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            values = {}
            for key, value in row.items():
                try:
                    values[key] = float(value)
                except (TypeError, ValueError):
                    continue  # "NA" (Keras's empty validation columns), or a row cut short.
            if "epoch" in values:
                rows[int(values["epoch"])] = values
    return [rows[e] for e in sorted(rows)]


def sample_noise(cfg: ConvConfig, count: int) -> np.ndarray:
    """The fixed noise of the sample grids: the same for every kind, so grids are comparable."""
    arch = conv_networks.ARCHITECTURES[cfg.architecture]
    sizes = conv_networks.generator_input_sizes(arch.generator)
    dim = conv_networks.noise_dim(arch.noise_planes, sizes)
    return np.random.default_rng(cfg.seed + 2017).standard_normal((count, dim)).astype(np.float32)


def _generate(generator, noise, batch=16):
    return np.concatenate([np.asarray(generator(noise[i:i + batch], training=False))
                           for i in range(0, len(noise), batch)])


def _evaluate(model, cfg: ConvConfig, batch) -> dict:
    """D on one batch of training images and one generated batch, in inference mode."""
    real, noise = batch
    fake = model.generator(noise, training=False)
    if cfg.is_ebgan:
        out = {}
        for name, images in (("real_energy", real), ("fake_energy", fake)):
            reconstruction, _ = model.discriminator(images, training=False)
            out[name] = float(tf.reduce_mean(losses.autoencoder_energy(
                images, reconstruction, cfg.energy_reduction)))
        return out
    return {"real_prob": float(tf.reduce_mean(tf.sigmoid(model.discriminator(real, training=False)))),
            "fake_prob": float(tf.reduce_mean(tf.sigmoid(model.discriminator(fake, training=False))))}


def _save_generator(generator: keras.Model, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.keras")
    generator.save(tmp)
    os.replace(tmp, path)


def train_model(exp: ConvExperiment, kind: str, output_dir: Path,
                strategy: tf.distribute.Strategy | None = None, data_dir=None,
                data_source: str = "auto", callbacks=(), verbose: int = 0) -> TrainResult:
    """Trains (or resumes, or just reloads when finished) one model of an experiment."""
    cfg = exp.config(kind)
    strategy = strategy or tf.distribute.get_strategy()
    run_dir = Path(output_dir) / "trials" / kind
    _check_settings(run_dir, cfg)
    arch = conv_networks.ARCHITECTURES[cfg.architecture]
    noise_dim = conv_networks.noise_dim(arch.noise_planes,
                                        conv_networks.generator_input_sizes(arch.generator))
    with strategy.scope():
        keras.utils.set_random_seed(cfg.seed)  # The same initial weights on every (re)run.
        model = build_conv_model(cfg)
    completed_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="completed_steps")
    with strategy.scope():
        checkpoint = tf.train.Checkpoint(generator=model.generator,
                                         discriminator=model.discriminator,
                                         d_optimizer=model.d_optimizer,
                                         g_optimizer=model.g_optimizer,
                                         completed_steps=completed_steps)
        manager = tf.train.CheckpointManager(checkpoint, str(run_dir / "checkpoints"), max_to_keep=2)
        if manager.latest_checkpoint:
            checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    start_step = int(completed_steps.numpy())
    if start_step % cfg.steps_per_checkpoint and start_step < cfg.train_steps:
        raise UsageError(f"{run_dir}: checkpoint at step {start_step} is not on a "
                         f"{cfg.steps_per_checkpoint}-step boundary; delete the folder to restart.")
    if start_step:
        print(f"{KIND_TITLES[kind]}: resuming from step {start_step} ({manager.latest_checkpoint})",
              flush=True)

    def dataset(start_batch, seed_offset=0):
        return image_data.image_dataset(
            exp.source, exp.preprocessing, cfg.batch_size, cfg.seed + seed_offset, noise_dim,
            data_dir=data_dir, data_source=data_source, start_batch=start_batch,
            num_synthetic=4 * cfg.batch_size)

    started = time.monotonic()
    if start_step < cfg.train_steps:
        fit_callbacks = [
            _SaveCheckpoint(manager, completed_steps, cfg.steps_per_checkpoint),
            keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
            keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False,
                                        update_freq="epoch"),
            *callbacks,
        ]
        try:
            model.fit(dataset(start_step), epochs=cfg.epochs, steps_per_epoch=cfg.steps_per_checkpoint,
                      initial_epoch=start_step // cfg.steps_per_checkpoint,
                      callbacks=fit_callbacks, verbose=verbose)
        except tf.errors.InvalidArgumentError as e:
            # Mid-stream decode failures surface here; the last checkpoint is kept.
            raise DataError(f"training {kind} stopped at a bad input ({e.message.splitlines()[0][:200]}); "
                            f"the checkpoint at step {int(completed_steps.numpy())} is kept.") from None
    train_seconds = time.monotonic() - started
    final_step = int(completed_steps.numpy())
    _save_generator(model.generator, run_dir / "generator.keras")
    rows, cols = exp.grid
    samples = _generate(model.generator, sample_noise(cfg, rows * cols))
    png = report.save_image_grid(samples, rows, cols, Path(output_dir) / f"samples_{kind}.png",
                                 scale=1)
    with tf.summary.create_file_writer(str(run_dir / "tensorboard" / "samples")).as_default():
        tf.summary.image("samples", report.image_grid(samples, rows, cols)[None], step=final_step)
    evaluation = _evaluate(model, cfg, next(iter(dataset(0, seed_offset=1000))))
    return TrainResult(kind, cfg, run_dir, start_step, final_step, train_seconds,
                       _read_history(run_dir / "history.csv"), evaluation, png)


def run_experiment(exp: ConvExperiment, output_dir, data_dir=None, data_source: str = "auto",
                   strategy: str = "default", mixed_precision: bool = False,
                   deterministic: bool = False, callbacks=(), verbose: int = 0) -> Path:
    """Trains every model of `exp` (resuming where checkpoints exist), then writes the report.
    Returns the report's path."""
    output_dir = Path(output_dir)
    previous_policy = keras.mixed_precision.global_policy().name
    started = time.monotonic()
    try:
        if deterministic:
            tf.config.experimental.enable_op_determinism()
        # Fail on missing data in seconds, before any model is built.
        image_data.image_dataset(exp.source, exp.preprocessing, exp.base.batch_size, exp.base.seed,
                                 noise_dim=1, data_dir=data_dir, data_source=data_source,
                                 num_synthetic=2 * exp.base.batch_size)
        policy = distribute.set_mixed_precision(mixed_precision)
        tf_strategy = distribute.make_strategy(strategy)
        results = [train_model(exp, kind, output_dir, tf_strategy, data_dir, data_source,
                               callbacks, verbose) for kind in exp.kinds]
        rows, cols = exp.grid
        real, _ = next(iter(image_data.image_dataset(
            exp.source, exp.preprocessing, rows * cols, exp.base.seed + 1000, noise_dim=1,
            data_dir=data_dir, data_source=data_source, num_synthetic=rows * cols)))
        data_png = report.save_image_grid(real.numpy(), rows, cols, output_dir / "samples_data.png")
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    return write_experiment_report(exp, results, output_dir, time.monotonic() - started,
                                   data_png=data_png,
                                   strategy=f"{strategy} ({tf_strategy.num_replicas_in_sync} "
                                            f"replica(s))", precision=policy)


# --- the report --------------------------------------------------------------------------------

def _side_by_side(results: list[TrainResult], exp: ConvExperiment, data_png: Path | None) -> str:
    cells = []
    if data_png is not None:
        cells.append(f'<div style="flex:1 1 0;min-width:240px">'
                     f'{report.figure(data_png, "Training data, after preprocessing")}</div>')
    for r in results:
        caption = f"{KIND_TITLES[r.kind]} — paper: {exp.figure_of(r.kind)}; step {r.final_step}"
        cells.append(f'<div style="flex:1 1 0;min-width:240px">{report.figure(r.samples_png, caption)}</div>')
    return f'<div style="display:flex;gap:1em;flex-wrap:wrap;align-items:flex-start">{"".join(cells)}</div>'


def _curves_png(results: list[TrainResult], output_dir: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    frames = []
    for r in results:
        for row in r.history:
            step = (int(row["epoch"]) + 1) * r.config.steps_per_checkpoint
            names = ("real_energy", "fake_energy") if r.config.is_ebgan else ("d_loss", "g_loss")
            for name in names:
                if name in row:
                    frames.append({"model": KIND_TITLES[r.kind], "step": step, "metric": name,
                                   "value": row[name]})
    if not frames:
        return None
    df = pd.DataFrame(frames)
    sns.set_theme(style="whitegrid")
    models_shown = list(dict.fromkeys(df["model"]))
    fig, axes = plt.subplots(1, len(models_shown), figsize=(4.2 * len(models_shown), 3.2),
                             squeeze=False)
    for ax, name in zip(axes[0], models_shown):
        part = df[df["model"] == name]
        sns.lineplot(data=part, x="step", y="value", hue="metric", marker="o", ax=ax)
        r = next(r for r in results if KIND_TITLES[r.kind] == name)
        if r.config.is_ebgan:
            ax.axhline(r.config.margin, color="grey", linestyle="--", label=f"margin m={r.config.margin:g}")
            ax.legend(fontsize=8)
        ax.set_title(name)
    return report.save_figure(fig, output_dir / "training_curves.png")


def write_experiment_report(exp: ConvExperiment, results: list[TrainResult], output_dir: Path,
                            wall_time_s: float, data_png: Path | None = None,
                            **provenance_extra) -> Path:
    sections = []
    smoke = exp.scale == "smoke"
    intro = [report.paragraph(
        f"Paper: {exp.paper_result} Data: {image_data.SOURCES[exp.source].title}; preprocessing: "
        f"{exp.preprocessing.describe()}; pixels in [-1, 1].")]
    if smoke:
        intro.append(report.paragraph(
            "Smoke scale: a few steps on synthetic blobs with shrunken widths. This run checks the "
            "pipeline (training, checkpoints, grids, report), not the paper's result; the samples "
            "are not expected to look like the paper's."))
    intro.append(_side_by_side(results, exp, data_png))
    sections.append(report.Section(f"Samples side by side ({exp.grid[0]}×{exp.grid[1]} grids, "
                                   "the same noise for every model), beside the data", intro))

    rows = []
    for r in results:
        row = {"model": KIND_TITLES[r.kind], "paper figure": exp.figure_of(r.kind),
               "steps": r.final_step, "resumed from": r.start_step,
               "train time here (s)": r.train_seconds}
        row.update({k.replace("_", " "): v for k, v in r.evaluation.items()})
        rows.append(row)
    columns = ["model", "paper figure", "steps", "resumed from", "train time here (s)",
               "real energy", "fake energy", "real prob", "fake prob"]
    blocks = [report.table(rows, columns),
              report.paragraph("Energies: D(x) = ‖Dec(Enc(x)) − x‖ (eq. 13, the L2 norm), mean "
                               "over one batch of training images (drawn in another order than "
                               "in training) and one generated batch, in inference mode; "
                               "probabilities: the DCGAN discriminator's sigmoid output.")]
    for r in results:
        if r.config.is_ebgan:
            holds = r.evaluation["fake_energy"] > r.evaluation["real_energy"]
            blocks.append(report.verdict(
                f"{KIND_TITLES[r.kind]}'s discriminator gives generated images more energy than "
                "real ones (what the hinge of eq. 1 trains it to do)", holds))
    curves = _curves_png(results, output_dir)
    if curves:
        blocks.append(report.figure(curves, "Training curves, one point per checkpoint interval "
                                            "(EBGANs: mean energies and the margin; DCGAN: losses)."))
    sections.append(report.Section("Training", blocks))

    cfg = exp.base
    arch = conv_networks.ARCHITECTURES[cfg.architecture]
    spec_rows = [
        {"part": "generator", "layers": "-".join(arch.generator),
         "noise planes": "-".join(map(str, arch.noise_planes)), "source": arch.generator_source},
        {"part": "EBGAN encoder", "layers": "-".join(arch.encoder), "noise planes": "",
         "source": arch.source},
        {"part": "EBGAN decoder", "layers": "-".join(arch.decoder), "noise planes": "",
         "source": arch.source},
        {"part": "DCGAN discriminator", "layers": "-".join(arch.dcgan_discriminator),
         "noise planes": "", "source": "DCGAN (Radford et al. 2016); a choice"},
    ]
    settings = [report.table(spec_rows),
                report.paragraph(
                    f"Margin m = {cfg.margin:g}. The paper's margins for the convolutional "
                    "experiments (80 LSUN, 20 CelebA, 40 ImageNet 128, 80 ImageNet 256) are "
                    "RECALLED from Appendix C, which could not be read: they are not verified, "
                    "and their scale depends on the energy's reduction, which the paper does not "
                    "state. Set it with --margin. PT weight 0.1 (Appendix F, verified)."),
                report.table([{"setting": k, "value": v} for k, v in cfg.to_dict().items()
                              if k != "kind"], float_format="{:g}")]
    if cfg.width_divisor > 1:
        settings.append(report.paragraph(
            f"Hidden widths divided by {cfg.width_divisor} (smoke scale only)."))
    sections.append(report.Section("Architecture and settings", settings))

    choices = [
        report.choice("Optimiser, learning rate, batch size and iteration count: Adam, lr 2e-4, "
                      "β1 0.5, batch 64, for all three models (DCGAN's settings; the paper says "
                      "only that the DCGAN is trained under the same configuration)."),
        report.choice("Latent z ~ N(0, I) of 100 dimensions; for the ImageNet generators the noise "
                      "planes are N(0, I), at each layer's input resolution, concatenated to its "
                      "input (one reading of the recalled '100-64-32-16-8-4')."),
        report.choice("Batch norm everywhere except G's output and D's input layer and outputs; "
                      "LeakyReLU(0.2) in encoders, ReLU in G and the decoder, linear decoder output, "
                      "N(0, 0.02) weights (DCGAN guidance)."),
        report.choice("The DCGAN baseline's discriminator: widths 64, 128, … halving the resolution "
                      "down to 4×4, then a 4×4 convolution to one logit; non-saturating G loss."),
        report.choice(f"Preprocessing: {exp.preprocessing.describe()} (DCGAN practice)."),
        report.choice("Samples come from the generator in inference mode (batch-norm moving "
                      "averages), from a fixed noise batch shared by the three models."),
    ]
    sections.append(report.Section("Choices where the paper is silent", choices))

    budget_rows = []
    for scale in SCALES:
        other = experiment(exp.name, scale)
        for kind in other.kinds:
            c = other.config(kind)
            budget_rows.append({
                "scale": scale, "model": KIND_TITLES[kind], "batch": c.batch_size,
                "steps": c.train_steps, "width ÷": c.width_divisor,
                "GFLOP/step": train_step_flops(c) / 1e9,
                "expected accelerator-hours": expected_accelerator_hours(c)})
    sections.append(report.Section("Budget per scale", [
        report.table(budget_rows, float_format="{:.2f}"),
        report.paragraph(
            "Accelerator-hours are an estimate, not a measurement: FLOPs counted from the conv "
            f"layers, at an assumed sustained {ASSUMED_ACCELERATOR_TFLOPS:g} TFLOP/s per "
            "accelerator. The paper gives no iteration counts; the paper-scale step budgets "
            "(LSUN 100k, CelebA 50k, ImageNet-128 200k, dogs-256 100k steps) are choices.")]))

    sections.append(report.Section("Outputs", [report.paragraph(
        "Per model, under trials/<model>/: the generator as generator.keras, TensorBoard logs "
        "(tensorboard/), checkpoints (checkpoints/; a rerun resumes from them), history.csv and "
        "config.json.")]))
    info = report.provenance(wall_time_s, scale=exp.scale, **provenance_extra)
    return report.write_report(output_dir, exp.title, sections, info,
                               subtitle="Zhao, Mathieu, LeCun: Energy-based GAN (ICLR 2017), §4.3–4.4.")


# --- the scripts' shared main ------------------------------------------------------------------

def define_flags(default_models: tuple[str, ...] = KINDS) -> None:
    """--models and --train_steps, on top of cli.define_common_flags."""
    from absl import flags

    flags.DEFINE_list("models", list(default_models),
                      f"Models to train, a comma-separated subset of {','.join(KINDS)}.")
    flags.DEFINE_integer("train_steps", None, "Override the scale's number of training steps "
                         "(rounded up to whole checkpoint intervals).", lower_bound=1)


def main_from_flags(name: str, flags_values) -> Path:
    """Flags -> preset -> run_experiment; what every conv reproduction script's main does."""
    from absl import logging

    logging.set_verbosity(logging.WARNING)  # TF's checkpoint saver logs every save at INFO.
    unknown = [m for m in flags_values.models if m not in KINDS]
    if unknown or not flags_values.models:
        raise UsageError(f"--models must be a non-empty subset of {','.join(KINDS)}; got "
                         f"{','.join(flags_values.models) or '(empty)'}")
    overrides = {"seed": flags_values.seed}
    if "margin" in flags_values:
        overrides["margin"] = flags_values.margin
    exp = experiment(name, flags_values.scale, **overrides)
    if flags_values.train_steps:
        per = exp.base.steps_per_checkpoint
        exp = exp.replace(base=exp.base.replace(
            train_steps=math.ceil(flags_values.train_steps / per) * per))
    exp = exp.replace(kinds=tuple(dict.fromkeys(flags_values.models)))
    path = run_experiment(exp, flags_values.output_dir, data_dir=flags_values.data_dir,
                          data_source=flags_values.data_source, strategy=flags_values.strategy,
                          mixed_precision=flags_values.mixed_precision,
                          deterministic=flags_values.deterministic,
                          verbose=2 if exp.scale != "smoke" else 0)
    print(f"report: {path}")
    return path
