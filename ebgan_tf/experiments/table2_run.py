"""One Table 2 run: its data (labelled subset, unlabelled pool, validation split), its training by
the one loop, its evaluations every `eval_every` steps, and its result record.

The training images split into the pool (the first 60,000 - `validation_images`: the labelled
subset is drawn from it, the unlabelled batches and the batch-norm calibration come from it) and
the validation images (the last `validation_images`), which only ever score a model. An
evaluation calibrates the test-time batch norm on `calibration_examples` pool images, then scores
the validation images and (unless the experiment is a pilot, which must not see it) the first
`num_eval_samples` test images; evals.csv holds one row per evaluation.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ebgan_tf.configs.ladder import ADVERSARIAL_KINDS, LadderConfig
from ebgan_tf.reporting.hinge import hinge_verdict

SAMPLES_FILE = "samples.png"  # Fig. 10's 8x8 grid of one EBGAN-LN (or control) run.
EVALS_FILE = "evals.csv"
EVAL_BATCH = 5_000


def balanced_labelled_subset(labels: np.ndarray, num_labels: int, seed: int,
                             num_classes: int = 10) -> np.ndarray:
    """Indices of `num_labels` examples, `num_labels / num_classes` of each class 0..num_classes-1,
    chosen by `seed` (returned sorted)."""
    if num_labels % num_classes:
        raise ValueError(f"{num_labels} labels cannot be split evenly over {num_classes} classes")
    per_class = num_labels // num_classes
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ValueError(f"class {c} has only {len(members)} examples, {per_class} needed")
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def to_ladder_input(images: np.ndarray) -> np.ndarray:
    """MNIST from `mnist.load_mnist_arrays(..., pad=False)` ([N, 28, 28, 1] in [-1, 1]) to the
    permutation-invariant input: float32 [N, 784] in [0, 1], the range the ladder's noise is set
    for."""
    flat = np.asarray(images, np.float32).reshape(len(images), -1)
    return ((flat + 1.0) * 0.5).astype(np.float32)


def samples_to_images(samples: np.ndarray) -> np.ndarray:
    """Generator output [N, 784] in [0, 1] -> [N, 28, 28, 1] in [-1, 1] for `save_image_grid`."""
    side = int(round(math.sqrt(samples.shape[1])))
    return samples.reshape(-1, side, side, 1) * 2.0 - 1.0


_MNIST: dict = {}


def ladder_mnist(runtime) -> tuple[np.ndarray, ...]:
    """(train images, train labels, test images, test labels) as ladder inputs, once per process
    (a reused Ray worker runs many runs)."""
    from ebgan_tf.data import mnist

    key = (runtime.data_dir, runtime.data_source)
    if key not in _MNIST:
        splits = [mnist.load_mnist_arrays(split, runtime.data_dir, pad=False,
                                          data_source=runtime.data_source)
                  for split in ("train", "test")]
        _MNIST[key] = tuple(x for images, labels in splits
                            for x in (to_ladder_input(images), labels))
    return _MNIST[key]


def split_training_set(images: np.ndarray, labels: np.ndarray, validation_images: int):
    """(pool images, pool labels, validation images, validation labels): the validation split is
    the last `validation_images` training images, the pool the rest."""
    if not 0 <= validation_images < len(images):
        raise ValueError(f"validation_images must be in 0..{len(images) - 1}, got "
                         f"{validation_images}")
    cut = len(images) - validation_images
    return images[:cut], labels[:cut], images[cut:], labels[cut:]


def error_rate(ladder_network, images: np.ndarray, labels: np.ndarray) -> float:
    """Test-time error (%) of the clean encoder with its population statistics."""
    import tensorflow as tf

    predictions = np.concatenate([
        np.argmax(ladder_network.classify(tf.constant(images[i:i + EVAL_BATCH])).numpy(), axis=1)
        for i in range(0, len(images), EVAL_BATCH)])
    return float(np.mean(predictions != labels) * 100.0)


def evaluation_steps(train_steps: int, eval_every: int) -> list[int]:
    """The steps evaluated: every `eval_every`-th and the last."""
    return sorted({*range(eval_every, train_steps + 1, eval_every), train_steps})


# --- one run ------------------------------------------------------------------------------------

def train_and_evaluate(cfg: LadderConfig, run_dir: Path, runtime, log_every: int,
                       eval_every: int, num_eval_samples: int, score_test: bool = True) -> dict:
    """Trains one run in `run_dir` (resuming its checkpoint), evaluating it at
    `evaluation_steps`; returns the outcome, scored at the last step."""
    import keras
    import tensorflow as tf

    from ebgan_tf import distribute, ladder
    from ebgan_tf.data import streams
    from ebgan_tf.reporting.plots import save_image_grid
    from ebgan_tf.runs import train

    train_images, train_labels, test_images, test_labels = ladder_mnist(runtime)
    pool, pool_labels, valid, valid_labels = split_training_set(train_images, train_labels,
                                                                cfg.validation_images)
    test_images, test_labels = test_images[:num_eval_samples], test_labels[:num_eval_samples]
    keras.backend.clear_session()
    keras.utils.set_random_seed(cfg.seed)  # For any random op without a seed of its own.
    labelled = balanced_labelled_subset(pool_labels, cfg.num_labels, cfg.seed)
    adversarial = cfg.kind in ADVERSARIAL_KINDS
    with distribute.make_strategy(runtime.strategy).scope():
        model = ladder.build_model(cfg, jit_compile=runtime.jit_compile)
    calibration = np.sort(np.random.default_rng(cfg.seed).choice(
        len(pool), min(cfg.calibration_examples, len(pool)), replace=False))
    due = set(evaluation_steps(cfg.train_steps, eval_every))
    evals_path = Path(run_dir) / EVALS_FILE
    evaluations: list[dict] = []
    started: list[int] = []  # The step `train` starts from, once its first `on_step` came.

    def stream_from(step):
        return streams.semi_supervised_stream(
            pool, pool_labels, labelled, cfg.labelled_batch_size, cfg.unlabelled_batch_size,
            cfg.seed, noise_dim=cfg.noise_dim if adversarial else None, start_batch=step)

    def evaluate(step):
        # Population statistics are used only by `classify`: training never reads them, so an
        # evaluation mid-run changes no training number.
        model.ladder.calibrate(pool[calibration])
        row = {"step": step,
               "validation_error": (error_rate(model.ladder, valid, valid_labels) if len(valid)
                                    else math.nan),
               "test_error": (error_rate(model.ladder, test_images, test_labels) if score_test
                              else math.nan)}
        evaluations[:] = [r for r in evaluations if r["step"] < step] + [row]
        train.write_metrics_csv(evals_path, evaluations)

    def on_step(step):
        if not started:  # The first call: a resumed run keeps its earlier evaluations.
            started.append(step)
            evaluations.extend(train.read_metrics_csv(evals_path, step))
        # Once the margin is 0 for good, G's update can no longer move D.
        if adversarial and model.adversarial and step >= cfg.margin_decay_steps:
            model.stop_adversarial()
        if step in due and not any(r["step"] == step for r in evaluations):
            evaluate(step)

    log = train.train(model, stream_from, run_dir, cfg.train_steps, log_every, checkpoint=True,
                      on_step=on_step)
    outcome = {"final_metrics": log.final, "steps_run": log.steps_done,
               "evaluations": list(evaluations)}
    if adversarial:
        outcome["hinge"] = hinge_verdict(log.rows)
    if log.diverged:
        return {**outcome, "status": "diverged",
                "reason": f"non-finite training loss in the row ending at step {log.steps_done}"}
    last = evaluations[-1]
    outcome.update(error_rate=last["test_error"], validation_error=last["validation_error"])
    if adversarial:
        noise = tf.random.stateless_normal([64, cfg.noise_dim], seed=[cfg.seed, 10])
        save_image_grid(samples_to_images(model.generate(noise).numpy()), 8, 8,
                        Path(run_dir) / SAMPLES_FILE, scale=2)
    return {**outcome, "status": "ok"}


def result_record(cfg: LadderConfig, outcome: dict, wall_time_s: float,
                  num_eval_samples: int) -> dict:
    """result.json: flat scalars first (results.csv's columns), then the evaluations and the
    last metrics row."""
    final = outcome.get("final_metrics", {})
    adversarial = cfg.kind in ADVERSARIAL_KINDS
    nan = float("nan")
    hinge = outcome.get("hinge")
    return {
        "run_id": cfg.run_id, "status": outcome["status"], "reason": outcome.get("reason", ""),
        "model": cfg.kind, "labels": cfg.num_labels, "seed": cfg.seed,
        "error_rate": outcome.get("error_rate", nan),
        "validation_error": outcome.get("validation_error", nan),
        "train_steps": cfg.train_steps,
        # The LN has no margin: 0 says so in the table.
        "margin_factor": cfg.effective_margin_factor if adversarial else 0.0,
        "margin_decay_fraction": cfg.margin_decay_fraction if adversarial else 0.0,
        "fake_batch_stats": cfg.fake_batch_stats if adversarial else "",
        "hinge_active_early": hinge.early if hinge else nan,
        "hinge_active_overall": hinge.overall if hinge else nan,
        "hinge_verdict": hinge.verdict if hinge else "",
        "lr": cfg.lr, "adam_beta1": cfg.adam_beta1, "lambda0": cfg.lambda0,
        "noise_std": cfg.noise_std, "validation_images": cfg.validation_images,
        "final_denoising_cost": final.get("denoising_cost", nan),
        "final_class_cost": final.get("class_cost", nan),
        "wall_time_s": round(wall_time_s, 2), "steps_run": outcome.get("steps_run", 0),
        "num_eval_samples": num_eval_samples, "final_metrics": final,
        "evaluations": outcome.get("evaluations", []),
    }
