"""Score regression of the Fig. 4 configurations on real MNIST (marker `regression`), and the
tolerance logic and baseline schema behind it (docs/score_regression.md).

The regression runs train in one fresh interpreter (this file's `__main__`), so that the baseline's
thread count and op determinism take effect whatever TensorFlow did earlier in the test process.
"""

import copy
import json
import math
import os
import sys
import tempfile

import pytest

import fresh_interpreter
from ebgan_tf import config as config_lib
from ebgan_tf import score_regression as sr


# --- the regression tests (real MNIST, ~3 minutes) -------------------------------------------

@pytest.fixture(scope="module")
def baseline():
    return sr.load_baseline()


@pytest.fixture(scope="module")
def ci_scores(mnist_data_dir):
    """Every spec at its CI seed, in a fresh interpreter: {spec name: scores}."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EBGAN_TF_DATA_DIR", str(mnist_data_dir))
        return fresh_interpreter.run_main(__file__, timeout=1200)


@pytest.mark.regression
@pytest.mark.parametrize("name", [spec.name for spec in sr.SPECS])
def test_scores_stay_within_tolerance_of_the_baseline(name, ci_scores, baseline):
    entry = baseline["configs"][name]
    assert entry["spec"] == sr.SPECS_BY_NAME[name].to_dict(), (
        f"the spec of {name} changed since the baseline was made; regenerate it "
        "(python -m ebgan_tf.score_regression)")
    failures = sr.check_scores(ci_scores[name], entry)
    assert not failures, "\n".join(failures)


@pytest.mark.regression
def test_the_papers_robust_orderings_hold(ci_scores, baseline):
    robust = [o for o in baseline["orderings"] if o["robust"]]
    assert robust, "no ordering of the paper is robust at this budget; the test checks nothing"
    for o in robust:
        assert sr.ordering_holds(ci_scores, o["better"], o["worse"], o["score"]), (
            f"{o['better']} should beat {o['worse']} in {o['score']}: "
            f"{ci_scores[o['better']][o['score']]:.4f} vs {ci_scores[o['worse']][o['score']]:.4f}")


# --- the baseline file -----------------------------------------------------------------------

def test_committed_baseline_matches_the_specs_and_its_own_rule(baseline):
    assert set(baseline["configs"]) == set(sr.SPECS_BY_NAME)
    assert baseline["k_std"] == sr.K_STD and baseline["threads"] == sr.THREADS
    for name, entry in baseline["configs"].items():
        assert entry["spec"] == sr.SPECS_BY_NAME[name].to_dict()
        # The baseline is the CI seed's first fresh-process run, and every repeat equals it.
        ci_seed = str(entry["spec"]["seed"])
        for score in sr.SCORES:
            assert entry["baseline"][score] == entry["seeds"][ci_seed][score]
            assert entry["repeat_spread"][score]["range"] == 0.0, (name, score)
    # Every Fig. 4 configuration's preset is the one the paper names.
    assert {e["spec"]["preset"] for e in baseline["configs"].values()} >= {
        "fig4_gan", "fig4_ebgan", "fig4_ebgan_pt"}
    assert {(o["better"], o["worse"], o["score"]) for o in baseline["orderings"]} == set(sr.ORDERINGS)


def test_validate_baseline_rejects_damaged_files(baseline):
    sr.validate_baseline(baseline)

    def damaged(edit):
        b = copy.deepcopy(baseline)
        edit(b)
        with pytest.raises(ValueError):
            sr.validate_baseline(b)

    name = sr.SPECS[0].name
    damaged(lambda b: b.pop("tolerance_rule"))
    damaged(lambda b: b.update(schema_version=sr.SCHEMA_VERSION + 1))
    damaged(lambda b: b["configs"][name].pop("seeds"))
    damaged(lambda b: b["configs"][name]["tolerance"].update(log_is=0.0))
    damaged(lambda b: b["configs"][name]["tolerance"].update(
        log_is=b["configs"][name]["tolerance"]["log_is"] * 2))  # Not what the rule gives.
    damaged(lambda b: b["configs"][name]["baseline"].update(frechet_distance=float("nan")))
    damaged(lambda b: b["configs"][name].update(
        seeds=dict(list(b["configs"][name]["seeds"].items())[:2])))
    damaged(lambda b: b["configs"][name].update(repeats=b["configs"][name]["repeats"][:1]))
    damaged(lambda b: b["orderings"].append({"better": "nope", "worse": name, "score": "log_is",
                                             "robust": True, "margin": 1.0}))


# --- the tolerance logic ---------------------------------------------------------------------

def test_spread_matches_a_direct_computation():
    values = [0.5, 0.7, 0.6, 0.9]
    mean = sum(values) / 4
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / 3)
    s = sr.spread(values)
    assert s["n"] == 4 and math.isclose(s["mean"], mean) and math.isclose(s["std"], std)
    assert math.isclose(s["range"], 0.4) and s["min"] == 0.5 and s["max"] == 0.9
    assert sr.spread([3.0, 3.0])["std"] == 0.0 and sr.spread([2.0])["std"] == 0.0


def test_tolerance_is_k_std_or_the_observed_range_whichever_is_larger():
    values = [1.0, 1.1, 1.2]  # std 0.1, range 0.2
    assert math.isclose(sr.tolerance_from_spread(values, k_std=4), 0.4)
    assert math.isclose(sr.tolerance_from_spread(values, k_std=1), 0.2)
    with pytest.raises(ValueError):
        sr.tolerance_from_spread([1.0, 1.1])


def _entry(log_is=1.0, i_prime=2.0, fd=50.0, tol=0.1):
    return {"spec": {"name": "x"}, "baseline": {"log_is": log_is, "i_prime": i_prime,
                                                "frechet_distance": fd},
            "tolerance": {"log_is": tol, "i_prime": tol, "frechet_distance": 100 * tol}}


def test_check_scores_passes_inside_and_fails_outside_the_tolerance():
    entry = _entry()
    assert sr.check_scores({"log_is": 1.09, "i_prime": 1.91, "frechet_distance": 59.0}, entry) == []
    low = sr.check_scores({"log_is": 0.85, "i_prime": 2.0, "frechet_distance": 50.0}, entry)
    assert len(low) == 1 and "log_is" in low[0] and "worse" in low[0]
    high_fd = sr.check_scores({"log_is": 1.0, "i_prime": 2.0, "frechet_distance": 61.0}, entry)
    assert len(high_fd) == 1 and "frechet_distance" in high_fd[0] and "worse" in high_fd[0]
    # Two-sided: a jump up is a change that needs a new baseline, reported as "better".
    better = sr.check_scores({"log_is": 1.2, "i_prime": 2.0, "frechet_distance": 30.0}, entry)
    assert len(better) == 2 and all("better" in f for f in better)
    nan = sr.check_scores({"log_is": float("nan"), "i_prime": 2.0, "frechet_distance": 50.0}, entry)
    assert len(nan) == 1


def test_ordering_follows_each_scores_direction():
    scores = {"a": {"log_is": 1.0, "frechet_distance": 40.0},
              "b": {"log_is": 0.2, "frechet_distance": 90.0}}
    assert sr.ordering_holds(scores, "a", "b", "log_is")
    assert not sr.ordering_holds(scores, "b", "a", "log_is")
    assert sr.ordering_holds(scores, "a", "b", "frechet_distance")  # Lower is better.


def test_build_baseline_derives_spread_tolerance_and_orderings():
    def scores(x):
        return {"log_is": x, "i_prime": 2 * x, "frechet_distance": 100 - 10 * x, "wall_time_s": 1.0}

    ci = {"fig4_gan": 0.1, "fig4_ebgan": 1.0, "fig4_ebgan_pt": 1.1}
    repeats = [{name: {"0": scores(x)} for name, x in ci.items()} for _ in range(2)]
    other = {name: {"1": scores(x + 0.05), "2": scores(x - 0.05)} for name, x in ci.items()}
    b = sr.build_baseline(repeats, other, "cmd", 12.0)
    sr.validate_baseline(b)
    entry = b["configs"]["fig4_ebgan"]
    assert entry["baseline"]["log_is"] == 1.0
    assert entry["repeat_spread"]["log_is"]["range"] == 0.0
    assert math.isclose(entry["seed_spread"]["log_is"]["std"], 0.05)
    assert math.isclose(entry["tolerance"]["log_is"], 4 * 0.05)
    assert math.isclose(entry["tolerance"]["frechet_distance"], 4 * 0.5)
    by_pair = {(o["better"], o["worse"]): o for o in b["orderings"]}
    assert by_pair[("fig4_ebgan", "fig4_gan")]["robust"]
    assert math.isclose(by_pair[("fig4_ebgan", "fig4_gan")]["margin"], 0.95 - 0.15)
    assert b["ci_seconds_estimate"] == 3.0


def test_specs_are_the_paper_presets_with_their_seed():
    for spec in sr.SPECS:
        trial = spec.trial()
        preset = config_lib.preset(spec.preset)
        assert trial.config == preset.replace(train_steps=spec.train_steps, seed=spec.seed)
        assert trial.num_eval_samples == spec.num_eval_samples and trial.eval_seed == spec.seed
    assert spec.trial(seed=3).config.seed == 3 and spec.trial(seed=3).eval_seed == 3


def test_regeneration_command_stops_on_missing_data_with_one_line(tmp_path, capsys):
    assert sr.main([f"--data_dir={tmp_path}", "--data_source=local",
                    f"--output={tmp_path / 'baseline.json'}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    assert not (tmp_path / "baseline.json").exists()


def test_regeneration_command_rejects_bad_flags(capsys):
    with pytest.raises(SystemExit):
        sr.main(["--seeds=0,1,2"])  # The CI seed cannot be one of the extra seeds.
    with pytest.raises(SystemExit):
        sr.main(["--repeats=1"])
    with pytest.raises(SystemExit):
        sr.main(["--seeds=a,b"])


if __name__ == "__main__":
    # The fresh interpreter of `ci_scores`: every spec at its CI seed, scores as one RESULT line.
    with tempfile.TemporaryDirectory() as folder:
        measured = sr.measure([sr.CI_SEED], folder, os.environ.get("EBGAN_TF_DATA_DIR"))
    print(sr.RESULT_PREFIX + json.dumps({name: runs[str(sr.CI_SEED)]
                                         for name, runs in measured.items()}), flush=True)
    sys.exit(0)
