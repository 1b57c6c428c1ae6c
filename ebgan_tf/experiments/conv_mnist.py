"""The convolutional models on real images: MNIST upsampled to 64×64 (the LSUN/CelebA networks) and
to 128×128 (the ImageNet-128 networks, noise planes in every generator layer), scored during
training by the suite's MNIST classifier, so that "the models learn" is a number, not a look.

    experiment = ConvMNIST("conv_mnist", "cpu")          # DCGAN, EBGAN, EBGAN-PT at 64×64
    engine.reproduce(experiment, "reports/conv_mnist", Runtime(data_dir=...))

A `ConvFigures` experiment with its own data sets and scales (`figures`, `scales`): runs, resume,
divergence, TensorBoard, the grids and the settings and budget tables are the conv figures'. What
it adds is the score: at the step a run starts from and after every metrics row, the generator's
samples (inference mode, the same latents at every point and for every model) are converted back
to MNIST's format, the channel mean at 32×32 by a 2×2 (4×4) block mean, and scored in one
classifier pass (`ebgan_tf.metrics.evaluate_generators`): log IS, I′, the Fréchet distance to the
MNIST test set, and the digit classes present. Each run's points go to `trials/<id>/scores.csv`
(a resumed run keeps those up to its checkpoint and scores a missing one when it restarts), real
digits through the same conversion give the reference, and the report draws them against the
step beside the energies and the hinge-active fraction P[D(G(z)) < m].

The margins are chosen by the criterion of docs/margin_scaling.md, written before any run.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from ebgan_tf.configs.conv import Preprocessing
from ebgan_tf.configs.scales import Scale
from ebgan_tf.experiments.conv_figures import (EVALUATION, KINDS, ConvFigures, ConvRun, Figure)

SCORES_FILE = "scores.csv"
# The latents of every scoring point: the same at every step and for every model of a seed.
SCORE_SEED_OFFSET = 3000
MNIST_SIZE = 32  # The classifier's input: MNIST's 28×28 digits padded to 32×32.
# Choice: a digit class counts as present when it holds at least 2 % of the scored samples, as in
# the Fig. 9 sweep (`ebgan_tf.experiments.margin_sweep.CLASS_SHARE_THRESHOLD`).
CLASS_SHARE = 0.02
SCORES = ("log_is", "i_prime", "frechet_distance", "num_classes")
_GENERATE_BATCH = 100  # Samples per generator call while scoring.

_PAPER_RESULT = ("Not in the paper (it shows no MNIST at these sizes). Its claims carried over: "
                 "the models learn the data, and EBGAN-PT's samples are at least as varied as "
                 "EBGAN's (§4.3, Appendix F: the PT against mode collapse).")
FIGURES: dict[str, Figure] = {
    "conv_mnist": Figure(
        "MNIST at 64×64 (the paper's LSUN/CelebA networks on real digits)", "mnist",
        Preprocessing(64), (8, 8),
        (("dcgan", "model of Figs. 5(a), 6(a), 11(a)"), ("ebgan", "model of Figs. 12(a), "
         "13(a), 14(a)"), ("ebgan_pt", "model of Figs. 5(b), 6(b), 11(b)")),
        _PAPER_RESULT, "dcgan64", 35.0, 20_000, 60_000),
    "conv_mnist128": Figure(
        "MNIST at 128×128 (the paper's ImageNet-128 networks, noise planes in every generator "
        "layer)", "mnist", Preprocessing(128), (6, 10), (("ebgan_pt", "model of Fig. 7"),),
        _PAPER_RESULT, "imagenet128", 70.0, 20_000, 60_000),
}
# The models a run trains when none are named: Fig. 7 shows only EBGAN-PT at 128×128.
DEFAULT_KINDS = {"conv_mnist": KINDS, "conv_mnist128": ("ebgan_pt",)}


def _scales(name: str, figure: Figure) -> dict[str, Scale]:
    size = figure.preprocessing.image_size
    smoke = {64: dict(batch_size=8, width_divisor=8), 128: dict(batch_size=4, width_divisor=16)}
    # cpu: sized for ≈ 30 min on 2 cores (1.2 s per 64×64 step of batch 32 on a Zen 4, 3 models).
    cpu = {64: dict(batch_size=32, train_steps=400, log_every=100, num_eval_samples=1000),
           128: dict(batch_size=16, train_steps=200, log_every=50, num_eval_samples=500)}
    smoke, cpu = smoke[size], cpu[size]
    cpu_epochs = cpu["train_steps"] * cpu["batch_size"] / figure.train_images
    paper_epochs = figure.paper_steps * 64 / figure.train_images
    return {
        "smoke": Scale(
            "smoke", f"4 steps of batch {smoke['batch_size']} per model on real MNIST, every "
            f"hidden width divided by {smoke['width_divisor']}, scored on 100 samples at steps "
            "0, 2 and 4: checks the machinery in seconds; the scores say nothing.",
            train_steps=4, batch_size=smoke["batch_size"], log_every=2, num_eval_samples=100,
            overrides={"width_divisor": smoke["width_divisor"]}),
        "cpu": Scale(
            "cpu", f"The paper's {size}×{size} networks on real MNIST, {cpu['train_steps']:,} "
            f"steps of batch {cpu['batch_size']} per model ({cpu_epochs:.2f} epochs), scored "
            f"on {cpu['num_eval_samples']:,} samples at step 0 and every {cpu['log_every']} "
            "steps: early training on a CPU, enough to show whether and how fast each model "
            "learns; not a paper result.", train_steps=cpu["train_steps"],
            batch_size=cpu["batch_size"], log_every=cpu["log_every"],
            num_eval_samples=cpu["num_eval_samples"]),
        "paper": Scale(
            "paper", f"The paper's {size}×{size} networks, {figure.paper_steps:,} steps of "
            f"batch 64 per model (about {paper_epochs:.0f} epochs; a choice: the paper has no "
            "such run), scored on 10,000 samples every 1,000 steps, for accelerators.",
            train_steps=figure.paper_steps, batch_size=64, log_every=1_000,
            num_eval_samples=10_000, reuse_workers=False),
    }


SCALES: dict[str, dict[str, Scale]] = {name: _scales(name, f) for name, f in FIGURES.items()}


@dataclasses.dataclass(frozen=True)
class MNISTConvRun(ConvRun):
    """A `ConvRun` scored during training on `num_eval_samples` samples (0: not scored)."""

    num_eval_samples: int = 1000

    def to_dict(self) -> dict:
        return {**super().to_dict(), "num_eval_samples": self.num_eval_samples}

    @classmethod
    def from_dict(cls, d: dict) -> "MNISTConvRun":
        run = ConvRun.from_dict(d)
        return cls(**{f.name: getattr(run, f.name) for f in dataclasses.fields(ConvRun)},
                   num_eval_samples=d["num_eval_samples"])


def to_mnist_digits(images) -> np.ndarray:
    """Generated [N, S, S, C] in [-1, 1] -> MNIST's [N, 32, 32, 1]: the channel mean, then the
    mean of each (S/32)×(S/32) block (the inverse of the data's upsampling, up to a blur)."""
    images = np.asarray(images, np.float32).mean(axis=-1)
    n, size = images.shape[0], images.shape[1]
    factor = size // MNIST_SIZE
    if size != factor * MNIST_SIZE or images.shape[2] != size:
        raise ValueError(f"images must be square with a side a multiple of {MNIST_SIZE}, got "
                         f"{images.shape[1:]}")
    blocks = images.reshape(n, MNIST_SIZE, factor, MNIST_SIZE, factor).mean(axis=(2, 4))
    return np.clip(blocks, -1.0, 1.0)[..., None]


def classes_present(class_counts) -> int:
    """How many digit classes hold at least `CLASS_SHARE` of the samples."""
    counts = np.asarray(class_counts, np.float64)
    return int((counts >= CLASS_SHARE * counts.sum()).sum()) if counts.sum() > 0 else 0


def score_row(result: dict) -> dict:
    """One scores.csv row from an `evaluate_generators` result (or real digits' scores)."""
    counts = result["class_counts"]
    return {"log_is": result["log_is"], "i_prime": result["i_prime"],
            "frechet_distance": result["frechet_distance"],
            "num_classes": classes_present(counts),
            **{f"class_{digit}": int(c) for digit, c in enumerate(counts)}}


class _NonFinite(Exception):
    pass


def score_generator(generator, run: MNISTConvRun, data_dir=None) -> dict:
    """The generator's samples (inference mode) scored in one classifier pass; NaN scores when
    it outputs NaN/inf (the training row says it diverged)."""
    from ebgan_tf import metrics

    def generate(noise):
        images = np.concatenate([np.asarray(generator(noise[i:i + _GENERATE_BATCH],
                                                      training=False))
                                 for i in range(0, len(noise), _GENERATE_BATCH)])
        if not np.all(np.isfinite(images)):
            raise _NonFinite
        return to_mnist_digits(images)[None]

    try:
        (result,) = metrics.evaluate_generators(
            generate, 1, run.config.noise_dim, run.num_eval_samples,
            seed=run.config.seed + SCORE_SEED_OFFSET, with_frechet_distance=True,
            data_dir=data_dir)
    except _NonFinite:
        return {name: math.nan for name in SCORES}
    return score_row(result)


def score_real_digits(run: MNISTConvRun, runtime) -> dict:
    """The reference: `num_eval_samples` real MNIST images of the run's size (the held order of
    `conv_run`), through the same conversion and scores as the samples."""
    from ebgan_tf import metrics
    from ebgan_tf.data import images
    from ebgan_tf.experiments.conv_run import HELD_SEED_OFFSET
    from ebgan_tf.metrics.scores import classifier_scores

    batch = min(run.num_eval_samples, 250)  # Bounds memory at 128×128.
    stream = images.image_stream(run.source, run.preprocessing, batch,
                                 run.config.seed + HELD_SEED_OFFSET, noise_dim=1,
                                 data_dir=runtime.data_dir, data_source=runtime.data_source)
    digits = np.concatenate([to_mnist_digits(x.numpy()) for x, _ in stream.take(
        math.ceil(run.num_eval_samples / batch))])[:run.num_eval_samples]
    probabilities = metrics.classify_mnist(digits)
    result = {**classifier_scores(probabilities),
              "class_counts": np.bincount(probabilities.argmax(axis=1), minlength=10).tolist(),
              "frechet_distance": metrics.mnist_frechet_distance(digits, runtime.data_dir)}
    return score_row(result)


class RowScorer:
    """`monitor` for `conv_run.train_and_evaluate`: scores the generator at the step training
    starts from and after every metrics row, into `<run_dir>/scores.csv` and TensorBoard."""

    def __init__(self, run: MNISTConvRun, run_dir: Path, data_dir=None):
        self.run, self.path, self.data_dir = run, Path(run_dir) / SCORES_FILE, data_dir
        self.rows: list[dict] = []
        self.seconds = 0.0
        self.started = False

    def monitor(self, model):
        from ebgan_tf.runs import tensorboard, train

        def on_step(step: int) -> None:
            if not self.started:
                # An interrupted process's points, up to the step its checkpoint holds.
                self.rows = train.read_metrics_csv(self.path, step)
                self.started = True
            if any(row["step"] == step for row in self.rows):
                return
            start = time.perf_counter()
            scores = score_generator(model.generator, self.run, self.data_dir)
            seconds = time.perf_counter() - start
            self.seconds += seconds
            self.rows.append({"step": step, **scores, "seconds": round(seconds, 2)})
            train.write_metrics_csv(self.path, self.rows)
            # Beside the training scalars; prefixed, as the HParams table's final scores are not.
            tensorboard.write_scalars(self.path.parent, step,
                                      {f"score/{name}": scores[name] for name in SCORES})

        return on_step


@dataclasses.dataclass(frozen=True)
class ConvMNIST(ConvFigures):
    """DCGAN, EBGAN and EBGAN-PT on MNIST upsampled, scored during training.

    name: "conv_mnist" (64×64, the LSUN/CelebA networks) or "conv_mnist128" (the ImageNet-128
      networks); the other arguments are `ConvFigures`'.
    """

    figures = FIGURES
    scales = SCALES
    smoke_source = None  # Real MNIST at every scale: it is on every machine the tests run on.
    hparam_metrics = EVALUATION + SCORES

    def specs(self) -> list[MNISTConvRun]:
        return [MNISTConvRun(**{f.name: getattr(run, f.name) for f in dataclasses.fields(run)},
                             num_eval_samples=self.scale.num_eval_samples)
                for run in super().specs()]

    def spec_from_dict(self, payload: dict) -> MNISTConvRun:
        return MNISTConvRun.from_dict(payload)

    def check_data(self, runtime) -> None:
        """The training digits (through the stream) and the test digits (the Fréchet distance's
        reference): a missing or altered file is one line before anything is written."""
        from ebgan_tf.data import mnist

        super().check_data(runtime)
        mnist.load_mnist_arrays("test", runtime.data_dir, data_source=runtime.data_source)

    def run(self, spec: MNISTConvRun, run_dir, runtime) -> dict:
        from ebgan_tf.experiments import conv_run

        scorer = RowScorer(spec, run_dir, runtime.data_dir)
        outcome = conv_run.train_and_evaluate(
            spec, run_dir, runtime, monitor=scorer.monitor if spec.num_eval_samples else None)
        outcome.update(scores=scorer.rows, score_seconds=scorer.seconds)
        if outcome["status"] == "ok" and spec.num_eval_samples:
            outcome["real_scores"] = score_real_digits(spec, runtime)
        return outcome

    def result_record(self, spec: MNISTConvRun, outcome: dict, wall_time_s: float) -> dict:
        record = super().result_record(spec, outcome, wall_time_s)
        nested = {"final_metrics": record.pop("final_metrics")}
        scores = outcome.get("scores", [])
        last = scores[-1] if scores and scores[-1]["step"] == spec.config.train_steps else {}
        first = scores[0] if scores and scores[0]["step"] == 0 else {}
        real = outcome.get("real_scores", {})
        counts = [last.get(f"class_{d}") for d in range(10)]
        return {
            **record,
            **{name: last.get(name, math.nan) for name in SCORES},
            "class_counts": " ".join(str(int(c)) for c in counts) if last.get("class_0") is not None
            else "",
            "initial_frechet_distance": first.get("frechet_distance", math.nan),
            "initial_log_is": first.get("log_is", math.nan),
            "hinge_active": nested["final_metrics"].get("hinge_active", math.nan),
            **{f"real_{name}": real.get(name, math.nan) for name in SCORES},
            "num_eval_samples": spec.num_eval_samples,
            "score_seconds": round(outcome.get("score_seconds", 0.0), 2),
            **nested, "scores": scores,
        }

    def results_table(self, finished: list[tuple], output_dir):
        frame = super().results_table(finished, output_dir)
        columns = [*SCORES, "class_counts", "initial_frechet_distance", "initial_log_is",
                   "hinge_active", *(f"real_{name}" for name in SCORES), "num_eval_samples",
                   "score_seconds"]
        for column in columns:
            frame[column] = [result.get(column) for _, result in finished]
        return frame

    def report_pages(self, frame, context):
        from ebgan_tf.experiments import conv_mnist_report

        return conv_mnist_report.pages(self, frame, context)


def define_flags() -> None:
    """--image_size, --models, --train_steps and --margin, beside `cli.define_common_flags`."""
    from absl import flags

    flags.DEFINE_enum("image_size", "64", ["64", "128"],
                      "64: the LSUN/CelebA networks (reports/conv_mnist/); 128: the ImageNet-128 "
                      "networks with noise planes (reports/conv_mnist128/ unless --output_dir).")
    flags.DEFINE_list("models", None, f"Models to train, a comma-separated subset of "
                      f"{','.join(KINDS)}; default: all three at 64, ebgan_pt at 128.")
    flags.DEFINE_integer("train_steps", None, "Override the scale's training steps per model "
                         "(rounded up to whole metrics rows).", lower_bound=1)
    flags.DEFINE_float("margin", None, "EBGAN energy margin m (eq. 1); default: the experiment's "
                       f"(64: {FIGURES['conv_mnist'].margin:g}, 128: "
                       f"{FIGURES['conv_mnist128'].margin:g}; docs/margin_scaling.md).",
                       lower_bound=0.0)


def experiment_name(image_size: int | str) -> str:
    return "conv_mnist" if int(image_size) == 64 else "conv_mnist128"
