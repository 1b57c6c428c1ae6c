"""The MNIST grid search of paper §4.1 (Table 1): the trial table, one idempotent trial, Ray Tune.

    trials = grid.grid_trials("cpu", seed=0)            # the cpu scale's subset of Table 1
    frame = grid.run_grid(trials, "reports/fig2", grid.TrialRuntime(data_dir=...))

A trial is one (configuration, evaluation) pair with a stable id derived from every setting that
changes its numbers. `run_trial` builds the model, trains it with `fit()`, scores its generator
with the MNIST score and writes `<output_dir>/trials/<trial_id>/`: `config.json`, `metrics.csv`
(training log), `samples.png` (8x12 digits) and the same digits as `samples.npy`, optionally `generator.keras`, and `result.json`,
written atomically and last. A folder with `result.json` is finished and never re-run; a folder
without one is a trial that was killed and is redone from scratch. Every trial is seeded and (by
default) runs with op determinism, so a grid killed at any moment reruns to the same scores.

`run_grid` runs the unfinished trials on Ray Tune (local Ray, or a cluster via `ray_address`; on a
cluster `output_dir` must be a filesystem every node shares), prints progress with an ETA, keeps
generators as asked, and writes `<output_dir>/results.csv`, one row per trial.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from ebgan_tf import config as config_lib
from ebgan_tf.config import MLPConfig

SAVE_GENERATORS = ("best", "all", "none")
EXECUTORS = ("ray", "inline")
STATUSES = ("ok", "diverged", "failed")
RESULT_FILE = "result.json"
GENERATOR_FILE = "generator.keras"
SAMPLES_FILE = "samples.png"
# The same digits as float16 [96, 32, 32, 1]: figures that lay samples out differently (Fig. 9's
# rows of 16) read these instead of re-loading generators.
SAMPLES_ARRAY_FILE = "samples.npy"
# Fig. 4's panels are 8x12 digits (paper.md §2.7); every trial keeps such a grid.
SAMPLE_ROWS, SAMPLE_COLS = 8, 12
# The score that ranks trials (best generator, Fig. 4) and that the histograms plot.
RANK_SCORE = "log_is"
RESULT_COLUMNS = [
    "trial_id", "kind", "status", "log_is", "i_prime", "inception_score", "frechet_distance",
    "nLayerG", "nLayerD", "sizeG", "sizeD", "dropoutD", "optimD", "optimG", "lr", "margin",
    "seed", "steps", "batch_size", "num_eval_samples", "precision", "wall_time_s",
    "real_energy", "fake_energy", "d_loss", "g_loss", "reason",
]


class GridError(Exception):
    """The grid cannot run as asked (e.g. no Ray cluster at the address). One line, for the user."""


# --- the trial table -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Trial:
    """One grid trial: a model configuration and how its generator is scored.

    Everything here changes the trial's numbers, so all of it goes into `trial_id`; how the trial
    is executed (data folder, strategy, threads) lives in `TrialRuntime` and does not.
    """

    config: MLPConfig
    num_eval_samples: int = 10_000  # Paper silent; the size of the MNIST test set.
    eval_seed: int = 0  # Seeds the latents of the score and of samples.png.
    log_every: int = 100  # Training steps per row of metrics.csv.
    precision: str = "float32"  # "float32" or "mixed" (bf16 on CPU/TPU, fp16 on GPU).

    def __post_init__(self):
        if self.config.train_steps % self.log_every:
            raise ValueError(f"train_steps ({self.config.train_steps}) must be a multiple of "
                             f"log_every ({self.log_every})")
        if self.precision not in ("float32", "mixed"):
            raise ValueError(f"precision must be 'float32' or 'mixed', got {self.precision!r}")

    @property
    def trial_id(self) -> str:
        prefix = self.config.trial_id.rsplit("-", 1)[0]
        digest = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()
        return f"{prefix}-{digest[:10]}"

    def to_dict(self) -> dict:
        return {"config": self.config.to_dict(), "num_eval_samples": self.num_eval_samples,
                "eval_seed": self.eval_seed, "log_every": self.log_every,
                "precision": self.precision}

    @classmethod
    def from_dict(cls, d: dict) -> "Trial":
        return cls(config=MLPConfig(**d["config"]), num_eval_samples=d["num_eval_samples"],
                   eval_seed=d["eval_seed"], log_every=d["log_every"], precision=d["precision"])


@dataclasses.dataclass(frozen=True)
class GridScale:
    """Which part of Table 1 a scale runs, and with what training budget."""

    name: str
    summary: str  # What subset, and why: printed at start and written in the report.
    kinds: tuple[str, ...]
    axes: dict  # Table 1 axis -> the values this scale uses (a subset of config.TABLE1).
    gan_optimization: tuple[tuple[str, str, float], ...] | None  # (optimD, optimG, lr); None = all 12.
    train_steps: int
    batch_size: int
    num_eval_samples: int
    log_every: int
    # Reusing Ray worker processes saves TensorFlow's start-up (~5 s) per trial, but a worker's
    # memory grows by ~12 MB per trial (measured at cpu scale), so long grids start fresh workers.
    reuse_workers: bool = True

    @property
    def epochs(self) -> float:
        return self.train_steps * self.batch_size / 60_000


_ALL_LAYERS = dict(n_layer_g=config_lib.TABLE1["n_layer_g"], n_layer_d=config_lib.TABLE1["n_layer_d"])
SCALES: dict[str, GridScale] = {
    "smoke": GridScale(
        name="smoke",
        summary=("8 tiny trials (2 EBGAN, 2 EBGAN-PT, 4 GAN; nLayerG=2, nLayerD 2-3, sizeG=400, "
                 "sizeD=128) of 40 steps, scored on 256 samples: checks the machinery end to end "
                 "in seconds, says nothing about the paper."),
        kinds=("ebgan", "ebgan_pt", "gan"),
        axes=dict(n_layer_g=(2,), n_layer_d=(2, 3), size_g=(400,), size_d=(128,),
                  dropout_d=(False,)),
        gan_optimization=(("adam", "adam", 1e-3), ("sgd", "sgd", 1e-2)),
        train_steps=40, batch_size=64, num_eval_samples=256, log_every=20),
    "cpu": GridScale(
        name="cpu",
        summary=("Table 1 with the widths fixed at their smallest values (sizeG=400, sizeD=128): "
                 "all 16 (nLayerG, nLayerD) pairs x dropoutD, so all three Fig. 2 panels are "
                 "populated, and for GANs all 12 (optimD, optimG, lr) settings of Fig. 3: "
                 "32 EBGAN + 32 EBGAN-PT + 384 GAN trials. Width is what the paper varies last and "
                 "what costs most on a CPU (a 3200-wide layer is 64x a 400-wide one). Each trial "
                 "trains 400 steps of batch 64 (0.43 epochs) and is scored on 1,000 samples: the "
                 "448 trials took 22.7-25.6 minutes on 2 CPU cores."),
        kinds=("ebgan", "ebgan_pt", "gan"),
        axes=dict(**_ALL_LAYERS, size_g=(400,), size_d=(128,), dropout_d=(True, False)),
        gan_optimization=None,
        train_steps=400, batch_size=64, num_eval_samples=1_000, log_every=100),
    "paper": GridScale(
        name="paper",
        summary=("The whole of Table 1: 512 EBGAN + 512 EBGAN-PT + 6,144 GAN trials. The paper "
                 "gives no training budget; the suite's choice is 20 epochs (18,740 steps of "
                 "batch 64) per trial, scored on 10,000 samples."),
        kinds=("ebgan", "ebgan_pt", "gan"),
        axes=dict(config_lib.TABLE1),
        gan_optimization=None,
        train_steps=18_740, batch_size=64, num_eval_samples=10_000, log_every=1_874,
        reuse_workers=False),
}


def grid_trials(scale: str | GridScale, seed: int = 0, margin: float = 10.0,
                kinds: tuple[str, ...] | None = None, precision: str = "float32",
                **config_overrides) -> list[Trial]:
    """The trials of one scale, in a fixed order (EBGAN, EBGAN-PT, GAN; Table 1 order within).

    Args:
      scale: "smoke", "cpu", "paper", or a `GridScale`.
      seed: the seed of every trial (weights, data order, latents).
      margin: EBGAN margin m (the paper fixes 10 on MNIST).
      kinds: a subset of the scale's kinds (default: all of them).
      precision: "float32" or "mixed".
      config_overrides: other `MLPConfig` fields to set on every trial (e.g. energy_reduction).
    """
    if isinstance(scale, str):
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {sorted(SCALES)}, got {scale!r}")
        scale = SCALES[scale]
    base = MLPConfig(seed=seed, margin=margin, batch_size=scale.batch_size,
                     train_steps=scale.train_steps, **config_overrides)
    trials = []
    for kind in kinds or scale.kinds:
        for cfg in config_lib.table1_grid(kind, base):
            if any(getattr(cfg, axis) not in values for axis, values in scale.axes.items()):
                continue
            if (kind == "gan" and scale.gan_optimization is not None
                    and (cfg.optim_d, cfg.optim_g, cfg.lr) not in scale.gan_optimization):
                continue
            trials.append(Trial(cfg, num_eval_samples=scale.num_eval_samples,
                                eval_seed=seed, log_every=scale.log_every, precision=precision))
    return trials


# --- one trial -------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TrialRuntime:
    """How trials execute; none of it is part of a trial's identity."""

    data_dir: str | None = None
    data_source: str = "auto"
    strategy: str = "default"  # Per trial, inside its worker (e.g. "mirrored" over its GPUs).
    deterministic: bool = True  # op determinism: a resumed grid reproduces an uninterrupted one.
    jit_compile: bool = False  # XLA; off by default: the grid's small models compile longer than they train.
    save_generators: str = "best"
    threads: int = 1  # TF intra-op threads per trial (= CPUs per trial).
    # Train steps per call into the TF runtime; 0 = a whole metrics.csv row (`log_every` steps).
    # The same steps and numbers either way; fewer calls save Keras's per-step Python work
    # (~1 ms of a ~5 ms step at cpu scale, benchmarks/README.md).
    steps_per_execution: int = 0

    def __post_init__(self):
        if self.save_generators not in SAVE_GENERATORS:
            raise ValueError(f"save_generators must be one of {SAVE_GENERATORS}, "
                             f"got {self.save_generators!r}")
        if self.jit_compile and self.deterministic:
            # Keras silently compiles without XLA under op determinism; say so instead.
            raise GridError("--jit_compile needs --nodeterministic: Keras turns XLA off when op "
                            "determinism is on (a resumed grid is then not bitwise reproducible)")


def check_data(runtime: TrialRuntime) -> None:
    """Loads both MNIST splits once here, so a missing or corrupt data set stops the grid with
    `data.DataError` before any trial starts, instead of failing every trial."""
    from ebgan_tf import data

    for split in data.SPLITS:
        data.load_mnist_arrays(split, runtime.data_dir, data_source=runtime.data_source)


def trial_dir(output_dir: str | os.PathLike, trial: Trial) -> Path:
    return Path(output_dir) / "trials" / trial.trial_id


def read_result(output_dir: str | os.PathLike, trial: Trial) -> dict | None:
    """The trial's `result.json`, or None when it has not finished."""
    path = trial_dir(output_dir, trial) / RESULT_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError):
        # result.json is written by rename, so this is damage from outside: redo the trial.
        return None


_PROCESS_SETUP: dict = {}


def _set_up_process(runtime: TrialRuntime) -> None:
    """Process-wide TensorFlow settings, applied once per worker process."""
    import tensorflow as tf

    if "threads" not in _PROCESS_SETUP:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(runtime.threads)
            tf.config.threading.set_inter_op_parallelism_threads(max(1, runtime.threads))
        except RuntimeError:
            pass  # TensorFlow already started in this process; it keeps its thread pools.
        _PROCESS_SETUP["threads"] = runtime.threads
    if runtime.deterministic and not _PROCESS_SETUP.get("deterministic"):
        tf.config.experimental.enable_op_determinism()
        _PROCESS_SETUP["deterministic"] = True


_TRAINING_IMAGES: dict = {}


def _training_images(runtime: TrialRuntime, image_size: int):
    from ebgan_tf import data

    key = (runtime.data_dir, runtime.data_source, image_size)
    if key not in _TRAINING_IMAGES:
        if image_size not in (28, 32):
            raise ValueError(f"MNIST trials use 28 or 32 pixel images, got {image_size}")
        images, _ = data.load_mnist_arrays("train", runtime.data_dir, pad=image_size == 32,
                                           data_source=runtime.data_source)
        import tensorflow as tf

        # Kept as a tensor, so that each trial's input pipeline starts without copying 245 MB.
        _TRAINING_IMAGES[key] = tf.constant(images)
    return _TRAINING_IMAGES[key]


class _MetricsLog(keras.callbacks.Callback):
    """Writes one metrics.csv row per `log_every` steps (one Keras epoch of the trial's fit), and
    stops training at the first non-finite row (checked per row, not per step, so that the
    train step never waits for the host)."""

    def __init__(self, path: Path, log_every: int):
        super().__init__()
        self.path, self.log_every = path, log_every
        self.rows, self.start = [], time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"step": (epoch + 1) * self.log_every,
               "elapsed_s": round(time.perf_counter() - self.start, 3)}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        self.rows.append(row)
        columns = list(self.rows[0])
        lines = [",".join(columns)] + [",".join(repr(r.get(c, "")) for c in columns)
                                       for r in self.rows]
        self.path.write_text("\n".join(lines) + "\n")
        if not all(math.isfinite(v) for v in row.values()):
            self.model.stop_training = True


def run_trial(trial: Trial, output_dir: str | os.PathLike,
              runtime: TrialRuntime = TrialRuntime()) -> dict:
    """Runs one trial unless it has finished; returns its result (the `result.json` dict).

    Never raises for a trial's own failure: a model that diverges (NaN/inf) is recorded with
    status "diverged", any other error with status "failed" and the reason, so that one trial
    never stops a grid.
    """
    finished = read_result(output_dir, trial)
    if finished is not None:
        return finished
    folder = trial_dir(output_dir, trial)
    if folder.exists():
        shutil.rmtree(folder)  # A trial killed part-way: start it again from nothing.
    folder.mkdir(parents=True)
    from ebgan_tf.report import write_text_atomic

    write_text_atomic(folder / "config.json", json.dumps(
        {"trial_id": trial.trial_id, **trial.to_dict(),
         "paper_settings": trial.config.paper_settings()}, indent=2))
    start = time.perf_counter()
    try:
        outcome = _train_and_score(trial, folder, runtime)
    except Exception as e:  # noqa: BLE001 — recorded, never raised: one trial must not stop a grid.
        outcome = {"status": "failed", "reason": _one_line(e)}
        traceback.print_exc(file=sys.stderr)
    result = _result_record(trial, outcome, time.perf_counter() - start)
    write_text_atomic(folder / RESULT_FILE, json.dumps(result, indent=2, allow_nan=True))
    return result


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}"


def _train_and_score(trial: Trial, folder: Path, runtime: TrialRuntime) -> dict:
    from ebgan_tf import data, distribute, metrics, models
    from ebgan_tf.report import save_image_grid

    _set_up_process(runtime)
    cfg = trial.config
    images = _training_images(runtime, cfg.image_size)
    keras.backend.clear_session()
    keras.utils.set_random_seed(cfg.seed)
    distribute.set_mixed_precision(trial.precision == "mixed")
    try:
        strategy = distribute.make_strategy(runtime.strategy)
        with strategy.scope():
            model = models.build_model(
                cfg, jit_compile=runtime.jit_compile,
                steps_per_execution=runtime.steps_per_execution or trial.log_every)
        dataset = data.image_dataset(images, cfg.batch_size, seed=cfg.seed,
                                     noise_dim=cfg.noise_dim)
        history = model.fit(dataset, steps_per_epoch=trial.log_every,
                            epochs=cfg.train_steps // trial.log_every, verbose=0, shuffle=False,
                            callbacks=[_MetricsLog(folder / "metrics.csv", trial.log_every)])
    finally:
        distribute.set_mixed_precision(False)
    final = {name: float(values[-1]) for name, values in history.history.items()}
    steps_run = len(history.history.get("d_loss", [])) * trial.log_every
    outcome = {"final_metrics": final, "steps_run": steps_run}
    if steps_run < cfg.train_steps or not all(math.isfinite(v) for v in final.values()):
        return {**outcome, "status": "diverged",
                "reason": f"non-finite training loss by step {steps_run}"}
    generator = model.generator
    rng = np.random.default_rng(trial.eval_seed)
    noise = rng.standard_normal((SAMPLE_ROWS * SAMPLE_COLS, cfg.noise_dim)).astype(np.float32)
    samples = keras.ops.convert_to_numpy(generator(noise, training=False))
    if not np.all(np.isfinite(samples)):
        return {**outcome, "status": "diverged", "reason": "the generator outputs NaN/inf"}
    save_image_grid(samples, SAMPLE_ROWS, SAMPLE_COLS, folder / SAMPLES_FILE, scale=2)
    np.save(folder / SAMPLES_ARRAY_FILE, samples.astype(np.float16))
    scores = metrics.evaluate_generator(generator, num_samples=trial.num_eval_samples,
                                        seed=trial.eval_seed, with_frechet_distance=True,
                                        data_dir=runtime.data_dir)
    if runtime.save_generators != "none":
        # "best" keeps every trial's file until the driver knows which one is best of its kind.
        generator.save(folder / GENERATOR_FILE)
    return {**outcome, "status": "ok", "scores": scores}


def _result_record(trial: Trial, outcome: dict, wall_time_s: float) -> dict:
    cfg = trial.config
    scores = outcome.get("scores", {})
    final = outcome.get("final_metrics", {})
    record = {
        "trial_id": trial.trial_id, "kind": cfg.kind, "status": outcome["status"],
        "reason": outcome.get("reason", ""),
        **{name: scores.get(name, float("nan"))
           for name in ("log_is", "i_prime", "inception_score", "frechet_distance")},
        **cfg.paper_settings(),
        "margin": cfg.margin if cfg.is_ebgan else float("nan"),
        "seed": cfg.seed, "steps": cfg.train_steps, "steps_run": outcome.get("steps_run", 0),
        "batch_size": cfg.batch_size, "num_eval_samples": trial.num_eval_samples,
        "precision": trial.precision, "wall_time_s": round(wall_time_s, 2),
        **{name: final.get(name, float("nan"))
           for name in ("real_energy", "fake_energy", "d_loss", "g_loss")},
        "class_counts": scores.get("class_counts"),
        "final_metrics": final,
    }
    return record


# --- the grid --------------------------------------------------------------------------------

def _tune_trainable(param: dict, runtime: dict, output_dir: str) -> dict:
    """Ray Tune's function trainable: one trial in a (reused) Ray worker process."""
    result = run_trial(Trial.from_dict(param["trial"]), output_dir, TrialRuntime(**runtime))
    # Tune keeps only flat scalars; the full record is the trial's result.json.
    return {k: v for k, v in result.items() if isinstance(v, (int, float, str, bool))}


class _Progress:
    """Counts finished trials and prints one line each, with an ETA."""

    def __init__(self, total_pending: int, total: int, print_fn: Callable[[str], None]):
        self.pending, self.total, self.print = total_pending, total, print_fn
        self.done, self.start = 0, time.perf_counter()
        self.first_done = total - total_pending

    def trial_finished(self, result: dict) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.pending - self.done)
        score = result.get(RANK_SCORE, float("nan"))
        self.print(f"[{self.first_done + self.done}/{self.total}] {result.get('trial_id', '?')} "
                   f"{result.get('status', '?')} {RANK_SCORE}={score:.3f} "
                   f"({result.get('wall_time_s', float('nan')):.1f} s) "
                   f"elapsed {_duration(elapsed)}, ETA {_duration(eta)}")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s"


def run_grid(trials: list[Trial], output_dir: str | os.PathLike,
             runtime: TrialRuntime = TrialRuntime(), executor: str = "ray",
             ray_address: str | None = None, cpus_per_trial: float = 1.0,
             gpus_per_trial: float = 0.0, max_concurrent_trials: int | None = None,
             reuse_workers: bool = True, print_fn: Callable[[str], None] = print):
    """Runs every unfinished trial, then writes and returns `<output_dir>/results.csv`.

    Args:
      trials: from `grid_trials`.
      output_dir: holds `trials/<trial_id>/` and `results.csv`.
      runtime: execution settings shared by all trials.
      executor: "ray" (Ray Tune; the default) or "inline" (one after another in this process,
        for debugging).
      ray_address: join this Ray cluster instead of starting a local one.
      cpus_per_trial, gpus_per_trial: Ray resources per trial (fractional GPUs share a device).
      max_concurrent_trials: cap on concurrent trials (default: as many as resources allow).
      reuse_workers: run many trials in one Ray worker process (see `GridScale.reuse_workers`).
      print_fn: where progress lines go.

    Returns:
      A pandas DataFrame of the results, one row per trial in `trials` order.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if len({t.trial_id for t in trials}) != len(trials):
        raise ValueError("the trial list holds duplicates")
    output_dir = Path(output_dir)
    (output_dir / "trials").mkdir(parents=True, exist_ok=True)
    pending = [t for t in trials if read_result(output_dir, t) is None]
    print_fn(f"{len(trials)} trials: {len(trials) - len(pending)} finished, "
             f"{len(pending)} to run.")
    progress = _Progress(len(pending), len(trials), print_fn)
    keeper = _GeneratorKeeper(output_dir, trials, runtime.save_generators)
    if pending:
        if executor == "inline":
            for trial in pending:
                result = run_trial(trial, output_dir, runtime)
                keeper.trial_finished(result)
                progress.trial_finished(result)
        else:
            _run_on_ray(pending, output_dir, runtime, ray_address, cpus_per_trial,
                        gpus_per_trial, max_concurrent_trials, reuse_workers, progress, keeper)
    keeper.finalise()
    return write_results_csv(trials, output_dir)


def _run_on_ray(pending, output_dir, runtime, ray_address, cpus_per_trial, gpus_per_trial,
                max_concurrent_trials, reuse_workers, progress, keeper):
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's own tables would bury our progress.
    import ray
    from ray import tune

    class Callback(tune.Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):
            result = read_result(output_dir, Trial.from_dict(trial.config["trial"])) or {}
            keeper.trial_finished(result)
            progress.trial_finished(result)

        def on_trial_error(self, iteration, trials, trial, **info):
            # The worker died (out of memory, a crash): record the trial as failed here.
            t = Trial.from_dict(trial.config["trial"])
            result = _record_worker_death(t, output_dir)
            progress.trial_finished(result)

    started_ray = False
    if not ray.is_initialized():
        try:
            ray.init(address=ray_address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"the Ray cluster at {ray_address}" if ray_address else "a local Ray"
            raise GridError(f"could not start or join {where}: {_one_line(e)}") from None
        started_ray = True
    for stale in Path(output_dir).glob(".tune-*"):
        shutil.rmtree(stale, ignore_errors=True)  # Ray Tune's scratch of a killed run.
    tune_dir = Path(tempfile.mkdtemp(prefix=".tune-", dir=output_dir)).resolve()
    try:
        trainable = tune.with_resources(
            tune.with_parameters(_tune_trainable, runtime=dataclasses.asdict(runtime),
                                 output_dir=str(Path(output_dir).resolve())),
            {"cpu": cpus_per_trial, "gpu": gpus_per_trial})
        tuner = tune.Tuner(
            trainable,
            param_space={"trial": tune.grid_search([t.to_dict() for t in pending])},
            tune_config=tune.TuneConfig(reuse_actors=reuse_workers,
                                        max_concurrent_trials=max_concurrent_trials),
            run_config=tune.RunConfig(
                name="grid", storage_path=str(tune_dir), verbose=0, callbacks=[Callback()],
                failure_config=tune.FailureConfig(max_failures=0)))
        tuner.fit()
    finally:
        shutil.rmtree(tune_dir, ignore_errors=True)
        if started_ray:
            ray.shutdown()


def _record_worker_death(trial: Trial, output_dir) -> dict:
    existing = read_result(output_dir, trial)
    if existing is not None:
        return existing
    from ebgan_tf.report import write_text_atomic

    folder = trial_dir(output_dir, trial)
    folder.mkdir(parents=True, exist_ok=True)
    result = _result_record(trial, {"status": "failed",
                                    "reason": "the Ray worker died (out of memory or a crash)"},
                            float("nan"))
    write_text_atomic(folder / RESULT_FILE, json.dumps(result, indent=2, allow_nan=True))
    return result


class _GeneratorKeeper:
    """Applies --save_generators=best: keeps only the best finished trial's generator per kind.

    Runs in the driver, one finished trial at a time, so it needs no locks. The best is the
    highest `RANK_SCORE`, ties going to the smaller trial id, so which files are kept does not
    depend on the order in which trials finish.
    """

    def __init__(self, output_dir: Path, trials: list[Trial], mode: str):
        self.output_dir, self.trials, self.mode = output_dir, trials, mode
        self.best: dict[str, dict] = {}  # kind -> result
        if mode == "best":
            for trial in trials:
                result = read_result(output_dir, trial)
                if result is not None:
                    self._consider(result)

    def _consider(self, result: dict) -> str | None:
        """Updates the best of the result's kind; returns the trial id whose file is now surplus."""
        score = result.get(RANK_SCORE, float("nan"))
        if result.get("status") != "ok" or not math.isfinite(score):
            return result.get("trial_id")
        current = self.best.get(result["kind"])
        if current is None or score > current[RANK_SCORE] or (
                score == current[RANK_SCORE] and result["trial_id"] < current["trial_id"]):
            self.best[result["kind"]] = result
            return current["trial_id"] if current else None
        return result["trial_id"]

    def trial_finished(self, result: dict) -> None:
        if self.mode == "best" and result:
            surplus = self._consider(result)
            if surplus:
                (self.output_dir / "trials" / surplus / GENERATOR_FILE).unlink(missing_ok=True)

    def finalise(self) -> None:
        """Deletes every generator but the best of each kind (a killed grid can leave some)."""
        if self.mode != "best":
            return
        keep = {result["trial_id"] for result in self.best.values()}
        for trial in self.trials:
            if trial.trial_id not in keep:
                (trial_dir(self.output_dir, trial) / GENERATOR_FILE).unlink(missing_ok=True)


def collect_results(trials: list[Trial], output_dir: str | os.PathLike):
    """A DataFrame of the finished trials' results, in `trials` order, columns `RESULT_COLUMNS`."""
    import pandas as pd

    rows = [r for r in (read_result(output_dir, t) for t in trials) if r is not None]
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    return frame


def write_results_csv(trials: list[Trial], output_dir: str | os.PathLike):
    """Writes `<output_dir>/results.csv` atomically and returns its DataFrame."""
    from ebgan_tf.report import write_text_atomic

    frame = collect_results(trials, output_dir)
    write_text_atomic(Path(output_dir) / "results.csv", frame.to_csv(index=False))
    return frame
