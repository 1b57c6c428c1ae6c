"""Executes an experiment's runs: one idempotent run (`run_one`), and many, inline or on Ray Tune.

    runtime = Runtime(data_dir=...)                  # how runs execute; not part of their ids
    execute(experiment, pending_specs, store, runtime, Execution(executor="ray"), on_finished)

Ray Tune runs each pending spec as one Tune trial (local Ray, or a cluster via `ray_address`;
there `output_dir` must be a filesystem every node shares), `cpus_per_run`/`gpus_per_run`
(fractions share a GPU) per trial. A run never raises for its own failure: its status says it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable

from ebgan_tf.errors import RunError, UsageError
from ebgan_tf.runs.packs import Pack, run_pack
from ebgan_tf.runs.store import RunStore

EXECUTORS = ("ray", "inline")
SAVE_GENERATORS = ("best", "all", "none")
STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu")


@dataclasses.dataclass(frozen=True)
class Runtime:
    """How runs execute; none of it changes their numbers, so none of it is in their ids."""

    data_dir: str | None = None
    data_source: str = "auto"
    strategy: str = "default"  # Per run, inside its worker (e.g. "mirrored" over its GPUs).
    deterministic: bool = True  # Op determinism: a resumed experiment reproduces an uninterrupted one.
    jit_compile: bool = False  # XLA; Keras turns it off under op determinism, hence the check.
    # XLA for packed steps (`ebgan_tf.packed`), deterministic or not: their run-to-run bitwise
    # reproducibility is tested directly (tests/test_packing.py), not assumed.
    pack_xla: bool = True
    save_generators: str = "best"  # MNIST grids: keep generator.keras for the best run of a kind.
    threads: int = 1  # TensorFlow intra-op threads per run (= CPUs per run).
    # Train steps per call into the TF runtime; 0 = a whole metrics.csv row. The same steps and
    # numbers either way; fewer calls save Keras's per-step Python work.
    steps_per_execution: int = 0

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise UsageError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.save_generators not in SAVE_GENERATORS:
            raise UsageError(f"save_generators must be one of {SAVE_GENERATORS}, "
                             f"got {self.save_generators!r}")
        if self.jit_compile and self.deterministic:
            raise UsageError("--jit_compile needs --nodeterministic: Keras turns XLA off when op "
                             "determinism is on (a resumed run is then not bitwise reproducible)")


@dataclasses.dataclass(frozen=True)
class Execution:
    """Where runs execute."""

    executor: str = "ray"  # "ray" (Ray Tune) or "inline" (one after another in this process).
    ray_address: str | None = None  # Join this Ray cluster instead of starting a local one.
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    max_concurrent: int | None = None  # Default: as many as the resources allow.
    # Run many trials in one Ray worker process: saves TensorFlow's start-up (~5 s) per run.
    reuse_workers: bool = True
    # Train runs of equal shape as one model, up to `max_pack` at a time (`ebgan_tf.runs.packs`),
    # where the experiment can.
    pack: bool = False
    max_pack: int = 24

    def __post_init__(self):
        if self.executor not in EXECUTORS:
            raise UsageError(f"executor must be one of {EXECUTORS}, got {self.executor!r}")
        if self.max_pack < 1:
            raise UsageError(f"max_pack must be at least 1, got {self.max_pack}")


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}"


_PROCESS_SETUP: dict = {}


def set_up_process(runtime: Runtime) -> None:
    """Process-wide TensorFlow settings, applied once per (worker) process."""
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


def run_one(experiment, spec, store: RunStore, runtime: Runtime) -> dict:
    """Runs one spec unless it has finished; returns its result (the `result.json` dict)."""
    finished = store.read_result(spec.run_id)
    if finished is not None and finished.get("status") != "failed":
        return finished
    folder = store.begin(spec.run_id, spec.to_dict(), resume=experiment.resumable)
    start = time.perf_counter()
    try:
        set_up_process(runtime)
        outcome = experiment.run(spec, folder, runtime)
    except FloatingPointError as e:
        outcome = {"status": "diverged", "reason": one_line(e)}
    except Exception as e:  # noqa: BLE001 - recorded, never raised: one run must not stop the rest.
        outcome = {"status": "failed", "reason": one_line(e)}
        traceback.print_exc(file=sys.stderr)
    result = experiment.result_record(spec, outcome, time.perf_counter() - start)
    from ebgan_tf.runs import tensorboard

    tensorboard.write_hparams(folder, experiment.hparams(spec),
                              {name: result.get(name) for name in experiment.hparam_metrics})
    return store.finish(spec.run_id, result)


def record_worker_death(experiment, spec, store: RunStore) -> dict:
    """A run whose worker process died (out of memory, a crash) is recorded as failed."""
    existing = store.read_result(spec.run_id)
    if existing is not None:
        return existing
    store.run_dir(spec.run_id).mkdir(parents=True, exist_ok=True)
    outcome = {"status": "failed", "reason": "the Ray worker died (out of memory or a crash)"}
    return store.finish(spec.run_id, experiment.result_record(spec, outcome, float("nan")))


def check_ray_address(address: str | None, timeout: float = 5.0) -> None:
    """A RunError within seconds if a cluster address does not answer (ray.init would retry for
    minutes); "auto" and no address (a local Ray) are left to Ray."""
    if not address or address == "auto" or address.startswith("ray://"):
        return
    import socket

    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host or address, int(port or 6379)), timeout=timeout).close()
    except (OSError, ValueError) as e:
        raise RunError(f"no Ray cluster answers at {address}: {one_line(e)}") from None


def run_unit(experiment, unit, store: RunStore, runtime: Runtime) -> list[dict]:
    """Runs one spec or one `Pack`; returns the results of its runs."""
    if isinstance(unit, Pack):
        return run_pack(experiment, unit, store, runtime)
    return [run_one(experiment, unit, store, runtime)]


def unit_from_dict(experiment, payload: dict):
    if "specs" in payload:
        return Pack(tuple(experiment.spec_from_dict(d) for d in payload["specs"]))
    return experiment.spec_from_dict(payload)


def members(unit) -> tuple:
    return unit.specs if isinstance(unit, Pack) else (unit,)


def execute(experiment, units: list, store: RunStore, runtime: Runtime, execution: Execution,
            on_finished: Callable[[dict], None]) -> None:
    """Runs every unit (a spec or a `Pack`; the caller passes the pending ones);
    `on_finished(result)` per run."""
    if not units:
        return
    if execution.executor == "inline":
        for unit in units:
            for result in run_unit(experiment, unit, store, runtime):
                on_finished(result)
        return
    _execute_on_ray(experiment, units, store, runtime, execution, on_finished)


def _tune_trainable(param: dict, experiment, runtime: Runtime, output_dir: str) -> dict:
    """Ray Tune's function trainable: one run or pack in a (reused) Ray worker process."""
    results = run_unit(experiment, unit_from_dict(experiment, param["unit"]),
                       RunStore(output_dir), runtime)
    # Tune keeps only flat scalars; the full records are the runs' result.json files.
    return {"runs": len(results), "ok": sum(r.get("status") == "ok" for r in results)}


def _execute_on_ray(experiment, units, store, runtime, execution, on_finished):
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's own tables would bury our progress.
    import ray
    from ray import tune

    class Callback(tune.Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):
            for spec in members(unit_from_dict(experiment, trial.config["unit"])):
                on_finished(store.read_result(spec.run_id) or {})

        def on_trial_error(self, iteration, trials, trial, **info):
            for spec in members(unit_from_dict(experiment, trial.config["unit"])):
                on_finished(record_worker_death(experiment, spec, store))

    started_ray = False
    if not ray.is_initialized():
        check_ray_address(execution.ray_address)
        try:
            ray.init(address=execution.ray_address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = (f"the Ray cluster at {execution.ray_address}" if execution.ray_address
                     else "a local Ray")
            raise RunError(f"could not start or join {where}: {one_line(e)}") from None
        started_ray = True
    for stale in store.root.glob(".tune-*"):
        shutil.rmtree(stale, ignore_errors=True)  # Ray Tune's scratch of a killed run.
    tune_dir = Path(tempfile.mkdtemp(prefix=".tune-", dir=store.root)).resolve()
    try:
        trainable = tune.with_resources(
            tune.with_parameters(_tune_trainable, experiment=experiment, runtime=runtime,
                                 output_dir=str(store.root.resolve())),
            {"cpu": execution.cpus_per_run, "gpu": execution.gpus_per_run})
        tuner = tune.Tuner(
            trainable,
            param_space={"unit": tune.grid_search([u.to_dict() for u in units])},
            tune_config=tune.TuneConfig(reuse_actors=execution.reuse_workers,
                                        max_concurrent_trials=execution.max_concurrent),
            run_config=tune.RunConfig(
                name=experiment.name, storage_path=str(tune_dir), verbose=0,
                callbacks=[Callback()], failure_config=tune.FailureConfig(max_failures=0)))
        tuner.fit()
    finally:
        shutil.rmtree(tune_dir, ignore_errors=True)
        if started_ray:
            ray.shutdown()
