"""`--save_generators=best`: keep one run's generator per kind, the best by the experiment's
`rank_score`, and delete the others' as soon as they are beaten.

Runs in the driver, one finished run at a time, so it needs no locks. Ties go to the smaller run
id, so which files are kept does not depend on the order in which runs finish.
"""

from __future__ import annotations

import math

from ebgan_tf.runs.store import RunStore

GENERATOR_FILE = "generator.keras"


class BestGeneratorKeeper:
    def __init__(self, store: RunStore, run_ids: list[str], rank_score: str,
                 filename: str = GENERATOR_FILE):
        self.store, self.run_ids, self.rank_score, self.filename = store, run_ids, rank_score, filename
        self.best: dict[str, dict] = {}  # kind -> result
        for run_id in run_ids:
            result = store.read_result(run_id)
            if result is not None:
                self._consider(result)

    def _consider(self, result: dict) -> str | None:
        """Updates the best of the result's kind; returns the run id whose file is now surplus."""
        score = result.get(self.rank_score, float("nan"))
        if result.get("status") != "ok" or not math.isfinite(score):
            return result.get("run_id")
        current = self.best.get(result["kind"])
        if current is None or score > current[self.rank_score] or (
                score == current[self.rank_score] and result["run_id"] < current["run_id"]):
            self.best[result["kind"]] = result
            return current["run_id"] if current else None
        return result["run_id"]

    def __call__(self, result: dict) -> None:
        """One run finished."""
        if result:
            surplus = self._consider(result)
            if surplus:
                (self.store.run_dir(surplus) / self.filename).unlink(missing_ok=True)

    def finalise(self) -> None:
        """Deletes every generator but the best of each kind (a killed run can leave some)."""
        keep = {result["run_id"] for result in self.best.values()}
        for run_id in self.run_ids:
            if run_id not in keep:
                (self.store.run_dir(run_id) / self.filename).unlink(missing_ok=True)
