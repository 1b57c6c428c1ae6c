"""`reproduce`: what every reproduction script does, for any experiment.

    reproduce(experiment, output_dir, runtime, execution)

data check -> the runs still to do -> inline or Ray Tune (one progress line per run, with an
ETA) -> `<output_dir>/results.csv` (atomically) -> the runs log (`runs.jsonl`, one line per
invocation) and provenance -> the report's pages. Returns the path of the first page.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ebgan_tf.atomic_files import write_text_atomic
from ebgan_tf.reporting import html, provenance
from ebgan_tf.runs.execute import (Execution, Runtime, check_ray_address, execute, members,
                                   set_up_process)
from ebgan_tf.runs.packs import Pack, form_packs
from ebgan_tf.runs.experiment import Experiment, ReportContext
from ebgan_tf.runs.keep import BestGeneratorKeeper
from ebgan_tf.runs.store import RunStore

RESULTS_FILE = "results.csv"


class Progress:
    """Counts finished runs and prints one line each, with an ETA."""

    def __init__(self, pending: int, total: int, print_fn: Callable[[str], None],
                 score: str | None = None):
        self.pending, self.total, self.print, self.score = pending, total, print_fn, score
        self.done, self.start = 0, time.perf_counter()

    def __call__(self, result: dict) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.pending - self.done)
        shown = ""
        if self.score:
            shown = f" {self.score}={result.get(self.score, float('nan')):.3f}"
        self.print(f"[{self.total - self.pending + self.done}/{self.total}] "
                   f"{result.get('run_id', '?')} {result.get('status', '?')}{shown} "
                   f"({result.get('wall_time_s', float('nan')):.1f} s) "
                   f"elapsed {duration(elapsed)}, ETA {duration(eta)}")


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return (f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600
            else f"{seconds // 60}m{seconds % 60:02d}s")


def run_all(experiment: Experiment, output_dir, runtime: Runtime = Runtime(),
            execution: Execution = Execution(), print_fn=print,
            on_finished: Callable[[dict], None] | None = None) -> int:
    """Runs every unfinished run of `experiment.specs()`; returns how many ran."""
    specs = experiment.specs()
    if len({s.run_id for s in specs}) != len(specs):
        raise ValueError("the experiment's runs hold duplicates")
    store = RunStore(output_dir)
    store.root.mkdir(parents=True, exist_ok=True)
    units = specs
    if execution.pack and hasattr(experiment, "run_pack"):
        units = form_packs(experiment, specs, execution.max_pack)
    units = [u for u in units if any(store.needs_running(s.run_id) for s in members(u))]
    pending = [s for u in units for s in members(u) if store.needs_running(s.run_id)]
    packs = sum(isinstance(u, Pack) for u in units)
    print_fn(f"{len(specs)} runs: {len(specs) - len(pending)} finished, {len(pending)} to run"
             + (f" (in {packs} packs)." if packs else "."))
    rank_score = getattr(experiment, "rank_score", None)
    progress = Progress(len(pending), len(specs), print_fn, rank_score)
    keeper = None
    if rank_score and runtime.save_generators == "best":
        keeper = BestGeneratorKeeper(store, [s.run_id for s in specs], rank_score)

    pending_ids = {s.run_id for s in pending}

    def finished(result: dict) -> None:
        if result.get("run_id") not in pending_ids:
            return  # A finished member of a pack that was trained again for its packmates.
        pending_ids.discard(result["run_id"])
        if keeper is not None:
            keeper(result)
        if on_finished is not None:
            on_finished(result)
        progress(result)

    execute(experiment, units, store, runtime, execution, finished)
    if keeper is not None:
        keeper.finalise()
    return len(pending)


def collect_results(experiment: Experiment, output_dir) -> list[tuple]:
    """(spec, result) of every finished run of `experiment.table_specs()`, in order."""
    store = RunStore(output_dir)
    pairs = [(spec, store.read_result(spec.run_id)) for spec in experiment.table_specs()]
    return [(spec, result) for spec, result in pairs if result is not None]


def write_results(experiment: Experiment, output_dir):
    """Writes `<output_dir>/results.csv` atomically; returns its DataFrame."""
    frame = experiment.results_table(collect_results(experiment, output_dir), Path(output_dir))
    write_text_atomic(Path(output_dir) / RESULTS_FILE, frame.to_csv(index=False))
    return frame


def reproduce(experiment: Experiment, output_dir, runtime: Runtime = Runtime(),
              execution: Execution = Execution(), print_fn=print, pages=None,
              on_finished: Callable[[dict], None] | None = None, **provenance_extra) -> Path:
    """Runs or resumes the experiment, then writes results.csv and the report.

    `pages`: the filenames of the report pages to write (default: all of them).
    """
    output_dir = Path(output_dir)
    summary = experiment.summary()
    if summary:
        print_fn(summary)
    if execution.executor == "inline":
        set_up_process(runtime)  # Before the data check starts TensorFlow in this process.
    else:
        check_ray_address(execution.ray_address)  # Before anything is written.
    experiment.check_data(runtime)
    started = time.time()
    ran = run_all(experiment, output_dir, runtime, execution, print_fn, on_finished)
    wall_time_s = time.time() - started
    frame = write_results(experiment, output_dir)
    info = provenance.provenance(
        wall_time_s, runs=len(experiment.specs()), executor=execution.executor,
        cpus_per_run=execution.cpus_per_run, deterministic=runtime.deterministic,
        jit_compile=runtime.jit_compile, **provenance_extra)
    runs_log = provenance.append_run_log(output_dir, {
        "started (UTC)": time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)),
        "runs run": ran, "wall time, min": round(wall_time_s / 60, 1),
        "hardware": info["hardware"], "executor": execution.executor,
        "cpus per run": execution.cpus_per_run, **provenance_extra})
    context = ReportContext(output_dir, runs_log, info)
    written = []
    for page in experiment.report_pages(frame, context):
        if pages is None or page.filename in pages:
            written.append(html.write_report(output_dir, page.title, page.build(), info,
                                             subtitle=page.subtitle, filename=page.filename))
    print_fn(f"Wrote {written[0] if written else output_dir} and {output_dir / RESULTS_FILE}.")
    return written[0] if written else output_dir
