"""The experiment engine with a fake experiment (no TensorFlow): the run store, one idempotent
run, failures and divergence recorded as rows, the best-generator keeper, results.csv, the runs
log and the report pages. The real experiments' end-to-end runs are in their own test files."""

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from ebgan_tf.errors import UsageError
from ebgan_tf.reporting import html
from ebgan_tf.runs import engine
from ebgan_tf.runs.execute import Execution, Runtime, run_one
from ebgan_tf.runs.experiment import Experiment, Page
from ebgan_tf.runs.keep import GENERATOR_FILE, BestGeneratorKeeper
from ebgan_tf.runs.store import RESULT_FILE, RunStore

INLINE = Execution(executor="inline")
RUNTIME = Runtime(deterministic=False, save_generators="best")


@dataclasses.dataclass(frozen=True)
class FakeSpec:
    name: str
    score: float = 1.0
    kind: str = "ebgan"
    outcome: str = "ok"  # "ok", "diverge" (FloatingPointError), "fail" (another error)

    @property
    def run_id(self):
        return f"{self.kind}-{self.name}"

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class FakeExperiment(Experiment):
    runs: tuple = ()
    calls: list = dataclasses.field(default_factory=list, compare=False)
    name = "fake"
    rank_score = "score"

    def specs(self):
        return list(self.runs)

    def spec_from_dict(self, payload):
        return FakeSpec(**payload)

    def run(self, spec, run_dir, runtime):
        self.calls.append(spec.name)
        (run_dir / GENERATOR_FILE).write_bytes(b"weights")
        if spec.outcome == "diverge":
            raise FloatingPointError("NaN at step 3")
        if spec.outcome == "fail":
            raise KeyError("boom")
        return {"status": "ok", "score": spec.score}

    def result_record(self, spec, outcome, wall_time_s):
        return {"run_id": spec.run_id, "kind": spec.kind, "status": outcome["status"],
                "reason": outcome.get("reason", ""), "score": outcome.get("score", float("nan")),
                "wall_time_s": wall_time_s}

    def results_table(self, finished, output_dir):
        return pd.DataFrame([result for _, result in finished])

    def report_pages(self, frame, context):
        return [Page("index.html", "Fake", lambda: [html.Section("Runs", [
            html.table(frame.to_dict("records"))])]),
                Page("other.html", "Other", lambda: [])]


def test_a_run_writes_result_last_and_is_never_rerun(tmp_path):
    experiment = FakeExperiment((FakeSpec("a"),))
    spec = experiment.runs[0]
    result = run_one(experiment, spec, RunStore(tmp_path), RUNTIME)
    folder = RunStore(tmp_path).run_dir(spec.run_id)
    assert result["status"] == "ok" and json.loads((folder / RESULT_FILE).read_text()) == result
    assert json.loads((folder / "config.json").read_text()) == spec.to_dict()
    assert run_one(experiment, spec, RunStore(tmp_path), RUNTIME) == result
    assert experiment.calls == ["a"]


def test_divergence_and_failure_are_rows_and_failed_runs_are_retried(tmp_path):
    experiment = FakeExperiment((FakeSpec("d", outcome="diverge"), FakeSpec("f", outcome="fail"),
                                 FakeSpec("ok")))
    assert engine.run_all(experiment, tmp_path, RUNTIME, INLINE, print_fn=lambda _: None) == 3
    frame = engine.write_results(experiment, tmp_path)
    assert frame["status"].tolist() == ["diverged", "failed", "ok"]
    assert frame["reason"][0] == "FloatingPointError: NaN at step 3"
    assert frame["reason"][1].startswith("KeyError")
    # A rerun runs the failed one again (not a model outcome), nothing else.
    assert engine.run_all(experiment, tmp_path, RUNTIME, INLINE, print_fn=lambda _: None) == 1
    assert experiment.calls == ["d", "f", "ok", "f"]


def test_an_interrupted_folder_is_emptied_unless_the_experiment_resumes(tmp_path):
    spec = FakeSpec("a")
    store = RunStore(tmp_path)
    folder = store.begin(spec.run_id, spec.to_dict(), resume=False)
    (folder / "checkpoint").write_text("half")
    assert (store.begin(spec.run_id, spec.to_dict(), resume=True) / "checkpoint").exists()
    with pytest.raises(UsageError, match="other settings"):
        store.begin(spec.run_id, {**spec.to_dict(), "score": 2.0}, resume=True)
    assert not (store.begin(spec.run_id, spec.to_dict(), resume=False) / "checkpoint").exists()


def test_keeper_keeps_only_the_best_generator_of_each_kind(tmp_path):
    store = RunStore(tmp_path)
    results = []
    for name, kind, score, status in [("1", "ebgan", 1.0, "ok"), ("1", "gan", 0.2, "ok"),
                                      ("2", "ebgan", 1.5, "ok"), ("3", "ebgan", 1.2, "ok"),
                                      ("0", "ebgan", 1.5, "ok"),  # Ties 2: the smaller id wins.
                                      ("2", "gan", float("nan"), "diverged")]:
        folder = store.run_dir(f"{kind}-{name}")
        folder.mkdir(parents=True)
        (folder / GENERATOR_FILE).write_bytes(b"weights")
        results.append({"run_id": f"{kind}-{name}", "kind": kind, "status": status,
                        "score": score})
    keeper = BestGeneratorKeeper(store, [r["run_id"] for r in results], "score")
    for result in results:
        keeper(result)
    keeper.finalise()
    kept = sorted(p.parent.name for p in tmp_path.glob(f"trials/*/{GENERATOR_FILE}"))
    assert kept == ["ebgan-0", "gan-1"]


@pytest.mark.parametrize("mode, kept", [("best", 1), ("all", 2), ("none", 2)])
def test_only_save_generators_best_deletes_generators(tmp_path, mode, kept):
    # With "none" the experiment itself writes no file (MNIST trials); the engine deletes nothing.
    experiment = FakeExperiment((FakeSpec("a", 1.0), FakeSpec("b", 2.0)))
    engine.run_all(experiment, tmp_path, Runtime(deterministic=False, save_generators=mode),
                   INLINE, print_fn=lambda _: None)
    assert len(list(tmp_path.glob(f"trials/*/{GENERATOR_FILE}"))) == kept


def test_duplicate_runs_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="duplicates"):
        engine.run_all(FakeExperiment((FakeSpec("a"), FakeSpec("a"))), tmp_path, RUNTIME, INLINE)


def test_reproduce_writes_results_runs_log_and_the_asked_pages(tmp_path):
    experiment = FakeExperiment((FakeSpec("a", 0.5), FakeSpec("b", 0.7)))
    lines = []
    path = engine.reproduce(experiment, tmp_path, RUNTIME, INLINE, print_fn=lines.append,
                            pages=["index.html"])
    assert path == tmp_path / "index.html" and not (tmp_path / "other.html").exists()
    assert pd.read_csv(tmp_path / "results.csv")["score"].tolist() == [0.5, 0.7]
    assert lines[0] == "2 runs: 0 finished, 2 to run."
    assert lines[1].startswith("[1/2] ebgan-a ok score=0.500")
    engine.reproduce(experiment, tmp_path, RUNTIME, INLINE, print_fn=lines.append)
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert [r["runs run"] for r in runs] == [2, 0]
    assert (tmp_path / "other.html").exists()
    assert "Provenance" in Path(path).read_text()


def test_an_unreachable_ray_cluster_is_a_one_line_error_before_anything_is_written(tmp_path):
    from ebgan_tf.errors import RunError

    experiment = FakeExperiment((FakeSpec("a"),))
    with pytest.raises(RunError, match="no Ray cluster answers at 127.0.0.1:1"):
        engine.reproduce(experiment, tmp_path / "out", RUNTIME,
                         Execution(executor="ray", ray_address="127.0.0.1:1"),
                         print_fn=lambda _: None)
    assert not (tmp_path / "out").exists()
