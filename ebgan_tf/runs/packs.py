"""Trial packing: runs of equal shape trained as one model (`--pack=auto`, `--max_pack=K`).

An experiment that can pack says which runs may share a pack (`pack_key(spec)`; None: this run
trains alone) and trains a pack (`run_pack(specs, run_dirs, runtime) -> outcomes`). Packs are a
fixed function of the experiment's whole run table: runs grouped by key in table order, each
group cut into chunks of at most `max_pack`. So a resumed experiment re-forms exactly the packs
an uninterrupted one trains, and a pack with any run unfinished is trained again whole (its
finished members come along and are not rewritten): a run's numbers never depend on which of its
packmates happened to finish before an interruption.

Each run keeps its own folder, metrics.csv, samples and result.json (written atomically, last,
for every member once the pack has finished); one pack is one Ray trial.
"""

from __future__ import annotations

import dataclasses
import time

from ebgan_tf.runs.store import RunStore


@dataclasses.dataclass(frozen=True)
class Pack:
    """Runs trained together; `run_id` names the pack (its first run's id and its size)."""

    specs: tuple

    @property
    def run_id(self) -> str:
        return f"{self.specs[0].run_id}+{len(self.specs) - 1}"

    def to_dict(self) -> dict:
        return {"specs": [s.to_dict() for s in self.specs]}


def form_packs(experiment, specs: list, max_pack: int) -> list:
    """The experiment's runs as packs (runs that cannot pack stay single specs), in table order."""
    groups: dict = {}
    order = []
    for spec in specs:
        key = experiment.pack_key(spec)
        if key is None:
            order.append(spec)
            continue
        if key not in groups:
            groups[key] = []
            order.append(groups[key])
        groups[key].append(spec)
    units = []
    for item in order:
        if isinstance(item, list):
            units += [Pack(tuple(item[i:i + max_pack])) for i in range(0, len(item), max_pack)]
        else:
            units.append(item)
    return units


def run_pack(experiment, pack: Pack, store: RunStore, runtime) -> list[dict]:
    """Trains a pack unless all its runs have finished; returns every member's result."""
    from ebgan_tf.runs import tensorboard
    from ebgan_tf.runs.execute import one_line, set_up_process

    finished = [store.read_result(s.run_id) for s in pack.specs]
    todo = [r is None or r.get("status") == "failed" for r in finished]
    if not any(todo):
        return finished
    folders = [store.begin(s.run_id, s.to_dict(), resume=False) if t else None
               for s, t in zip(pack.specs, todo)]
    start = time.perf_counter()
    try:
        set_up_process(runtime)
        outcomes = experiment.run_pack(list(pack.specs), folders, runtime)
    except Exception as e:  # noqa: BLE001 - recorded, never raised: one pack must not stop the rest.
        import sys
        import traceback

        traceback.print_exc(file=sys.stderr)
        outcomes = [{"status": "failed", "reason": one_line(e)}] * len(pack.specs)
    # A pack's wall time is shared by its runs: each is charged its share.
    share = (time.perf_counter() - start) / len(pack.specs)
    results = []
    for spec, outcome, folder, old in zip(pack.specs, outcomes, folders, finished):
        if folder is None:
            results.append(old)
            continue
        result = experiment.result_record(spec, outcome, share)
        tensorboard.write_hparams(folder, experiment.hparams(spec),
                                  {name: result.get(name) for name in experiment.hparam_metrics})
        results.append(store.finish(spec.run_id, result))
    return results
