"""The MNIST grid: trial table per scale, the idempotent trial, failures, the figures' numbers.
The end-to-end runs (Ray, SIGKILL and resume, browser) are in test_grid_e2e.py; the engine's own
logic (store, keeper, progress) with a fake experiment in test_engine.py."""

import dataclasses
import json
import math

import numpy as np
import pytest

from ebgan_tf.configs import mlp as config
from ebgan_tf.errors import DataError, UsageError
from ebgan_tf.experiments import grid_figures
from ebgan_tf.experiments import grid_statistics as grid_report
from ebgan_tf.experiments import mnist_grid as grid
from ebgan_tf.experiments import mnist_trials
from ebgan_tf.runs import engine
from ebgan_tf.runs.execute import Runtime, run_one
from ebgan_tf.runs.store import RunStore


def _runtime(data_dir, **settings):
    # Op determinism is a process-wide switch; the subprocess tests of test_grid_e2e.py cover it.
    return Runtime(data_dir=str(data_dir), deterministic=False, **settings)


def _tiny_trial(**overrides):
    cfg = config.MLPConfig(kind="ebgan", n_layer_g=2, n_layer_d=2, size_g=64, size_d=32,
                           train_steps=20, **overrides)
    return mnist_trials.Trial(cfg, num_eval_samples=64, log_every=10)


def _run_trial(trial, output_dir, runtime):
    return run_one(mnist_trials.TrialSet((trial,)), trial, RunStore(output_dir), runtime)


# --- trial table -----------------------------------------------------------------------------

def test_paper_scale_is_the_whole_of_table1():
    trials = grid.grid_trials("paper")
    kinds = [t.config.kind for t in trials]
    assert (kinds.count("ebgan"), kinds.count("ebgan_pt"), kinds.count("gan")) == (512, 512, 6144)
    assert len({t.trial_id for t in trials}) == len(trials)
    assert {t.config.train_steps for t in trials} == {18_740}
    assert {t.num_eval_samples for t in trials} == {10_000}


def test_cpu_scale_covers_every_panel_and_every_optimizer_setting():
    trials = grid.grid_trials("cpu")
    gan = [t.config for t in trials if t.config.kind == "gan"]
    ebgan = [t.config for t in trials if t.config.kind == "ebgan"]
    assert len(ebgan) == 32 and len(gan) == 384 and len(trials) == 448
    layer_pairs = {(c.n_layer_g, c.n_layer_d) for c in ebgan}
    assert layer_pairs == {(g, d) for g in (2, 3, 4, 5) for d in (2, 3, 4, 5)}
    assert {(c.optim_d, c.optim_g, c.lr) for c in gan} == {
        (d, g, lr) for d in ("adam", "sgd") for g in ("adam", "sgd") for lr in (1e-2, 1e-3, 1e-4)}
    # Every Fig. 3 subplot gets the same 32 architectures.
    for lr in grid_figures.FIG3_LRS:
        for d, g in grid_figures.FIG3_OPTIMIZERS:
            assert sum(c.lr == lr and c.optim_d == d and c.optim_g == g for c in gan) == 32


def test_smoke_scale_has_both_kinds_and_is_tiny():
    trials = grid.grid_trials("smoke")
    assert {t.config.kind for t in trials} == {"gan", "ebgan", "ebgan_pt"}
    assert len(trials) <= 10 and all(t.config.train_steps <= 50 for t in trials)


def test_a_grid_over_seeds_runs_every_configuration_once_per_seed():
    one = grid.GridExperiment(grid.SCALES["cpu"], seed=4).specs()
    three = grid.GridExperiment(grid.SCALES["cpu"], seed=4, num_seeds=3).specs()
    assert len(three) == 3 * len(one) == 3 * 448 and len({t.trial_id for t in three}) == len(three)
    assert [t.trial_id for t in three[:len(one)]] == [t.trial_id for t in one]  # Seed 4's ids kept.
    for seed in (4, 5, 6):
        trials = [t for t in three if t.config.seed == seed]
        assert ([dataclasses.replace(t.config, seed=0) for t in trials]
                == [dataclasses.replace(t.config, seed=0) for t in one])
        assert {t.eval_seed for t in trials} == {seed}
    with pytest.raises(ValueError, match="num_seeds"):
        grid.GridExperiment(num_seeds=0)


def test_trial_ids_are_stable_and_change_with_anything_that_changes_numbers():
    a = grid.grid_trials("cpu", seed=0)[0]
    assert a.trial_id == grid.grid_trials("cpu", seed=0)[0].trial_id
    assert a.trial_id == mnist_trials.Trial.from_dict(json.loads(json.dumps(a.to_dict()))).trial_id
    assert a.trial_id.startswith("ebgan-g2x400-d2x128-drop-adam-adam-lr0.001-s0-")
    others = [grid.grid_trials("cpu", seed=1)[0], grid.grid_trials("cpu", margin=4.0)[0],
              grid.grid_trials("cpu", precision="mixed")[0],
              grid.grid_trials("cpu", energy_reduction="mse")[0],
              mnist_trials.Trial(a.config, num_eval_samples=999, log_every=a.log_every)]
    assert len({a.trial_id, *(t.trial_id for t in others)}) == 1 + len(others)


def test_bad_trial_settings_are_errors():
    with pytest.raises(ValueError, match="multiple of log_every"):
        mnist_trials.Trial(_tiny_trial().config, log_every=7)
    with pytest.raises(ValueError, match="scale"):
        grid.grid_trials("huge")
    with pytest.raises(UsageError, match="save_generators"):
        Runtime(save_generators="some")
    with pytest.raises(UsageError, match="nodeterministic"):
        Runtime(jit_compile=True)  # XLA would silently be off under determinism.
    assert Runtime(jit_compile=True, deterministic=False).jit_compile


# --- one trial -------------------------------------------------------------------------------

def test_trial_writes_its_folder_result_last_and_never_reruns(mnist_data_dir, tmp_path):
    runtime = _runtime(mnist_data_dir, save_generators="all")
    trial = _tiny_trial()
    result = _run_trial(trial, tmp_path, runtime)
    folder = RunStore(tmp_path).run_dir(trial.trial_id)
    assert result["status"] == "ok", result["reason"]
    assert {p.name for p in folder.iterdir()} == {
        "config.json", "metrics.csv", "samples.png", "samples.npy", "generator.keras",
        "tensorboard", "result.json"}
    assert json.loads((folder / "config.json").read_text()) == trial.to_dict()
    samples = np.load(folder / mnist_trials.SAMPLES_ARRAY_FILE)
    assert samples.shape == (mnist_trials.SAMPLE_ROWS * mnist_trials.SAMPLE_COLS, 32, 32, 1)
    assert sum(result["class_counts"]) == trial.num_eval_samples
    assert json.loads((folder / "result.json").read_text()) == json.loads(json.dumps(result))
    assert 0.0 <= result["log_is"] <= math.log(10) and result["i_prime"] >= 0
    assert result["frechet_distance"] > 0 and result["steps_run"] == 20
    assert result["nLayerG"] == 2 and result["optimD"] == "adam"  # The paper's names.
    log = (folder / "metrics.csv").read_text().splitlines()
    assert log[0].startswith("step,elapsed_s") and len(log) == 3  # Header + one row per 10 steps.
    # The hinge columns come from metrics.csv's hinge_active rows: the early window (25 % of 20
    # steps) is the first row, the overall fraction the mean of both rows of 10 steps.
    active = [float(line.split(",")[log[0].split(",").index("hinge_active")]) for line in log[1:]]
    assert result["hinge_active_early"] == pytest.approx(active[0])
    assert result["hinge_active_overall"] == pytest.approx(sum(active) / 2)
    assert result["hinge_verdict"] in ("engaged", "saturated", "inert")
    # Finished: a second call returns the record without touching the folder.
    stamp = (folder / "metrics.csv").stat().st_mtime_ns
    assert _run_trial(trial, tmp_path, runtime) == result
    assert (folder / "metrics.csv").stat().st_mtime_ns == stamp


def test_steps_per_execution_changes_no_number(mnist_data_dir, tmp_path):
    # The grid runs a whole metrics row per call into TF (0 = log_every); one step per call
    # must give the very same training log and scores.
    trial = _tiny_trial()
    rows = {}
    for steps_per_execution in (0, 1):
        out = tmp_path / str(steps_per_execution)
        result = _run_trial(trial, out, _runtime(mnist_data_dir,
                                                     steps_per_execution=steps_per_execution))
        assert result["status"] == "ok", result["reason"]
        log = (RunStore(out).run_dir(trial.trial_id) / "metrics.csv").read_text().splitlines()
        rows[steps_per_execution] = ([line.split(",")[2:] for line in log[1:]],  # not elapsed_s
                                     [result[k] for k in ("log_is", "i_prime", "frechet_distance")])
    assert rows[0] == rows[1]


def test_a_killed_trial_is_redone_from_scratch(mnist_data_dir, tmp_path):
    trial = _tiny_trial()
    folder = RunStore(tmp_path).run_dir(trial.trial_id)
    folder.mkdir(parents=True)
    (folder / "metrics.csv").write_text("half-written\n")
    (folder / "leftover.tmp").write_text("x")
    result = _run_trial(trial, tmp_path, _runtime(mnist_data_dir))
    assert result["status"] == "ok"
    assert not (folder / "leftover.tmp").exists()
    assert (folder / "metrics.csv").read_text().startswith("step,")


def test_divergence_and_failure_are_recorded_and_do_not_stop_the_grid(mnist_data_dir, tmp_path):
    good = _tiny_trial()
    # Plain SGD at lr 1e6 on the auto-encoder energy overflows within a few steps.
    diverging = _tiny_trial(optim_d="sgd", optim_g="sgd", lr=1e6, batch_norm=False)
    failing = _tiny_trial(image_size=30)  # No 30x30 MNIST: an error inside the trial.
    experiment = mnist_trials.TrialSet((good, diverging, failing))
    engine.run_all(experiment, tmp_path, _runtime(mnist_data_dir, save_generators="none"),
                   engine.Execution(executor="inline"), print_fn=lambda line: None)
    frame = engine.write_results(experiment, tmp_path)
    assert frame["status"].tolist() == ["ok", "diverged", "failed"]
    assert "non-finite" in frame["reason"][1] or "NaN" in frame["reason"][1]
    assert frame["reason"][2].startswith("ValueError") and "30" in frame["reason"][2]
    assert np.isnan(frame["log_is"][1]) and np.isnan(frame["log_is"][2])
    header = (tmp_path / "results.csv").read_text().splitlines()[0].split(",")
    for column in ("trial_id", "kind", "status", "log_is", "i_prime", "nLayerG", "nLayerD",
                   "sizeG", "sizeD", "dropoutD", "optimD", "optimG", "lr", "seed", "steps",
                   "wall_time_s"):
        assert column in header


def test_missing_data_stops_before_any_trial(tmp_path):
    with pytest.raises(DataError, match="no MNIST folder"):
        grid.GridExperiment().check_data(Runtime(data_dir=str(tmp_path), data_source="local"))


# --- the figures' numbers --------------------------------------------------------------------

def test_bin_percentages_match_numpy():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 2.5, 1000)  # Some above ln 10: they count in the last bin.
    ours = grid_report.bin_percentages(scores)
    edges = np.linspace(0, np.log(10), 31)
    expected = np.histogram(np.minimum(scores, np.log(10)), edges)[0] / 10.0
    np.testing.assert_allclose(ours, expected)
    assert ours.sum() == pytest.approx(100.0)
    assert grid_report.BIN_EDGES[1] == pytest.approx(0.0768, abs=1e-4)  # The paper's bin width.


def test_probability_of_superiority_matches_brute_force():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 5, 40).astype(float), rng.integers(0, 5, 30).astype(float)
    brute = np.mean([1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b])
    assert grid_report.probability_of_superiority(a, b) == pytest.approx(brute)
    assert grid_report.claim_check(a + 10, b)["holds"]
    assert not grid_report.claim_check(b, a + 10)["holds"]


def test_histogram_scores_count_diverged_as_zero_and_drop_failed():
    import pandas as pd

    frame = pd.DataFrame({
        "kind": ["gan"] * 4, "status": ["ok", "diverged", "failed", "ok"],
        mnist_trials.RANK_SCORE: [1.0, np.nan, np.nan, 0.5], "nLayerG": [2, 2, 2, 5], "nLayerD": [2] * 4,
        "lr": [1e-3] * 4, "optimD": ["adam"] * 4, "optimG": ["adam"] * 4})
    np.testing.assert_array_equal(grid_report.histogram_scores(frame, "gan"), [1.0, 0.0, 0.5])
    np.testing.assert_array_equal(grid_report.histogram_scores(frame, "gan", max_layers=4), [1.0, 0.0])
    np.testing.assert_array_equal(
        grid_report.histogram_scores(frame, "gan", lr=1e-3, optim_d="adam", optim_g="adam"),
        [1.0, 0.0, 0.5])


def test_l1_to_paper_sums_the_point_differences_of_the_read_bins():
    ours = np.array([50.0, 30.0, 10.0, 10.0])
    assert grid_report.l1_to_paper(ours, (56, 29, 7)) == pytest.approx(6 + 1 + 3)
    assert grid_report.l1_to_paper(ours, (50, 30, 10)) == 0.0


def _two_seed_frame():
    """Two seeds of 4 GAN and 4 EBGAN trials with known scores (nLayer 2, one optimizer)."""
    import pandas as pd

    scores = {(0, "gan"): [0.0, 0.0, 0.01, 0.2], (0, "ebgan"): [0.3, 0.9, 1.2, 0.02],
              (1, "gan"): [0.0, 0.2, 0.2, 0.2], (1, "ebgan"): [0.0, 0.0, 0.05, 0.1]}
    rows = [{"seed": seed, "kind": kind, "status": "ok", mnist_trials.RANK_SCORE: v,
             "nLayerG": 2, "nLayerD": 2, "lr": 1e-3, "optimD": "adam", "optimG": "adam"}
            for (seed, kind), values in scores.items() for v in values]
    return pd.DataFrame(rows), scores


def test_bins_over_seeds_are_each_seeds_histogram_and_their_mean_and_range():
    frame, scores = _two_seed_frame()
    per_seed = grid_report.scores_per_seed(frame, "gan")
    assert list(per_seed) == [0, 1]
    np.testing.assert_array_equal(per_seed[1], scores[(1, "gan")])
    edges = np.linspace(0, np.log(10), 31)
    expected = np.stack([np.histogram(scores[(s, "gan")], edges)[0] * 25.0 for s in (0, 1)])
    bins = grid_report.bins_over_seeds(per_seed)
    np.testing.assert_allclose(bins["per_seed"], expected)
    np.testing.assert_allclose(bins["mean"], expected.mean(0))
    np.testing.assert_allclose(bins["low"], expected.min(0))
    np.testing.assert_allclose(bins["high"], expected.max(0))
    assert bins["mean"][0] == pytest.approx((75 + 25) / 2)  # [0, 0.077): 3 of 4, then 1 of 4.
    empty = grid_report.bins_over_seeds({0: np.zeros(0)})
    assert empty["per_seed"].shape == (0, 30) and not empty["mean"].any()


def test_the_claim_is_checked_seed_by_seed():
    frame, scores = _two_seed_frame()
    checks = grid_report.claim_per_seed(grid_report.scores_per_seed(frame, "ebgan"),
                                        grid_report.scores_per_seed(frame, "gan"))
    brute = {s: np.mean([1.0 if e > g else 0.5 if e == g else 0.0
                         for e in scores[(s, "ebgan")] for g in scores[(s, "gan")]])
             for s in (0, 1)}
    assert checks[0]["p_ebgan_gt_gan"] == pytest.approx(brute[0]) and checks[0]["holds"]
    assert checks[1]["p_ebgan_gt_gan"] == pytest.approx(brute[1]) and not checks[1]["holds"]
    assert grid_report.claim_verdict(checks) == "no: in 1 of 2 seeds"
    assert not grid_report.holds_in_every_seed(checks)
    assert grid_report.claim_verdict({0: checks[0]}) == "yes"
    cells = grid_report.claim_cells(checks)
    assert cells["P(EBGAN > GAN) per seed"] == f"{brute[0]:.2f}/{brute[1]:.2f}"


def test_fig2_table_gives_the_mean_the_range_and_each_seeds_distance_to_the_paper():
    frame, _ = _two_seed_frame()
    rows = grid_figures.fig2_table(frame)
    gan = rows[0]  # Panel (a), GAN: bins 1-3 are 75/0/25 (seed 0) and 25/0/75 (seed 1).
    assert gan["model"] == "GAN" and gan["runs"] == 8
    assert gan["bins 1-3 (ours, mean over seeds), %"] == "50/0/50"
    assert gan["range over seeds, %"] == "25-75/0-0/25-75"
    assert gan["L1 to the paper, points"] == pytest.approx(abs(50 - 56) + 29 + abs(50 - 7))
    assert gan["L1 per seed, points"] == f"{19 + 29 + 18:.0f}/{31 + 29 + 68:.0f}"
    assert gan["claim holds"] == "no: in 1 of 2 seeds"
