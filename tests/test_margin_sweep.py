"""Fig. 9's margin sweep: the trial table, the class count, the pattern check, and the script end
to end at smoke scale under all three energy reductions (real MNIST), including a rerun and bad
input."""

import os
import subprocess
import sys
from pathlib import Path

import json

import numpy as np
import pandas as pd
import pytest

import report_checks

from ebgan_tf.experiments import margin_sweep
from ebgan_tf.experiments import mnist_trials as grid
from script_checks import assert_missing_data_error, assert_one_line_error

SCRIPT = Path(__file__).resolve().parents[1] / "reproductions" / "fig9_margin_sweep.py"


def test_cpu_and_paper_scales_train_the_papers_model_at_every_margin():
    for scale in ("cpu", "paper"):
        trials = margin_sweep.sweep_trials(scale, ("l2", "mse", "sse"))
        assert len(trials) == 24 and len({t.trial_id for t in trials}) == 24
        for trial in trials:
            cfg = trial.config
            assert (cfg.kind, cfg.n_layer_g, cfg.n_layer_d, cfg.size_g, cfg.size_d) == \
                ("ebgan", 5, 2, 1600, 1024)
            assert (cfg.dropout_d, cfg.optim_d, cfg.optim_g, cfg.lr) == (False, "adam", "adam", 1e-3)
            assert cfg.effective_pt_weight == 0.0
        assert [t.config.margin for t in trials[:8]] == [1, 2, 4, 6, 8, 12, 16, 32]
        assert [t.config.energy_reduction for t in trials[::8]] == ["l2", "mse", "sse"]


def test_sweep_trials_validate_their_input():
    assert [t.config.margin for t in margin_sweep.sweep_trials("smoke", margins=[8, 2])] == [2, 8]
    with pytest.raises(ValueError, match="energy reduction"):
        margin_sweep.sweep_trials("cpu", ("l1",))
    with pytest.raises(ValueError, match="scale"):
        margin_sweep.sweep_trials("laptop")
    with pytest.raises(ValueError, match="non-negative"):
        margin_sweep.sweep_trials("cpu", margins=[-1])


def test_produced_classes_counts_classes_above_the_share():
    counts = [500, 300, 190, 9, 1, 0, 0, 0, 0, 0]  # 1,000 samples; 2 % = 20
    shares = np.asarray(counts) / np.sum(counts)
    assert margin_sweep.produced_classes(counts) == int((shares >= 0.02).sum()) == 3
    assert margin_sweep.produced_classes(counts, threshold=0.005) == 4
    assert margin_sweep.produced_classes([0] * 10) == 0
    assert margin_sweep.produced_classes([100] * 10) == 10


def _row(margin, classes, log_is, status="ok"):
    return {"margin": float(margin), "num_classes": classes, "log_is": log_is, "status": status}


def test_pattern_check_recognises_the_papers_pattern_and_its_absence():
    paper_like = [_row(1, 2, 0.3), _row(2, 4, 0.8), *[_row(m, 10, 1.6) for m in (4, 6, 8, 12)],
                  _row(16, 9, 1.2), _row(32, 1, 0.0)]
    check = margin_sweep.pattern_check(paper_like)
    assert check["appears"] and check["criteria_met"] == 3
    # Every margin fine: no mode dropping at m = 1, no degradation at m = 32.
    flat = [_row(m, 10, 1.6) for m in margin_sweep.MARGINS]
    check = margin_sweep.pattern_check(flat)
    assert not check["appears"]
    assert check["small_m_collapses"] is False and check["large_m_degrades"] is False
    assert check["middle_m_diverse"] is True
    # m = 32 keeps ten classes but its score drops below 3/4 of the middle's median: degraded.
    assert margin_sweep.pattern_check(flat[:-1] + [_row(32, 10, 1.1)])["large_m_degrades"]
    # A diverged m = 32 is instability, as in the paper; one collapsed middle margin breaks it.
    assert margin_sweep.pattern_check(paper_like[:-1] + [_row(32, 0, float("nan"), "diverged")])[
        "appears"]
    broken = paper_like[:3] + [_row(6, 3, 0.5)] + paper_like[4:]
    assert margin_sweep.pattern_check(broken)["middle_m_diverse"] is False
    # Margins that were not run are not judged.
    partial = margin_sweep.pattern_check([_row(1, 1, 0.1), _row(8, 10, 1.5)])
    assert partial["criteria_checked"] == 1 and not partial["appears"]


# --- the script end to end -------------------------------------------------------------------

def _run(*flags, timeout=600):
    return subprocess.run([sys.executable, str(SCRIPT), *flags], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


@pytest.fixture(scope="module")
def smoke_sweep(tmp_path_factory, mnist_data_dir):
    output_dir = tmp_path_factory.mktemp("fig9") / "sweep"
    out = _run("--scale=smoke", "--energy_reduction=all", "--executor=inline",
               f"--data_dir={mnist_data_dir}", f"--output_dir={output_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    return output_dir, out


def test_smoke_sweep_writes_one_row_per_reduction_and_margin(smoke_sweep):
    output_dir, _ = smoke_sweep
    frame = pd.read_csv(output_dir / "results.csv", keep_default_na=False)
    assert list(frame.columns) == margin_sweep.SWEEP_COLUMNS
    assert list(zip(frame["energy_reduction"], frame["margin"])) == [
        (r, m) for r in ("l2", "mse", "sse") for m in (1.0, 8.0, 32.0)]
    assert (frame["status"] == "ok").all()
    for _, row in frame.iterrows():
        counts = np.array([int(c) for c in row["class_histogram"].split()])
        assert counts.shape == (10,) and counts.sum() == row["num_eval_samples"] == 256
        assert row["num_classes"] == margin_sweep.produced_classes(counts)
        assert 1 <= row["classes_in_row"] <= margin_sweep.SAMPLES_PER_ROW
        samples = np.load(output_dir / "trials" / row["trial_id"] / grid.SAMPLES_ARRAY_FILE)
        assert samples.shape == (grid.SAMPLE_ROWS * grid.SAMPLE_COLS, 32, 32, 1)
        assert np.abs(samples).max() <= 1.0
    # The reduction reaches the model: a barely trained auto-encoder's error per image is large,
    # so sse = l2 ** 2 > l2 > mse = sse / 1024.
    by = frame.set_index(["energy_reduction", "margin"])["real_energy"]
    for m in (1.0, 8.0, 32.0):
        assert by[("sse", m)] > by[("l2", m)] > by[("mse", m)]


def test_smoke_sweep_report_shows_the_three_reductions(smoke_sweep):
    output_dir, out = smoke_sweep
    page = (output_dir / "index.html").read_text()
    assert "EBGAN Fig. 9: the margin sweep (smoke scale)" in page
    for reduction in ("l2", "mse", "sse"):
        assert f"Per margin, energy = {reduction}" in page
        assert f"energy={reduction}: Fig. 9 pattern" in out.stdout
    assert page.count("data:image/png;base64,") == 4
    assert "The three energy scales on one axis" in page
    assert "Choice (paper silent)" in page and "Provenance" in page
    for png in ("fig9.png", "fig9_classes.png", "fig9_energies.png", "fig9_equivalent.png"):
        assert (output_dir / png).stat().st_size > 1000


def test_report_settings_table_states_what_the_trials_used(smoke_sweep):
    output_dir, _ = smoke_sweep
    config = json.loads(next(output_dir.glob("trials/*/config.json")).read_text())["config"]
    report_checks.assert_settings_match(output_dir / "index.html", config)


def test_rerun_trains_nothing_and_keeps_the_results(smoke_sweep, mnist_data_dir):
    output_dir, _ = smoke_sweep
    before = (output_dir / "results.csv").read_text()
    out = _run("--scale=smoke", "--energy_reduction=mse", "--executor=inline",
               f"--data_dir={mnist_data_dir}", f"--output_dir={output_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "3 runs: 3 finished, 0 to run." in out.stdout
    # Rows of the other reductions stay in results.csv and the report.
    assert (output_dir / "results.csv").read_text() == before


@pytest.mark.parametrize("flags, message", [
    (["--energy_reduction=l1"], "--energy_reduction"),
    (["--margins=1,x"], "--margins"),
    (["--margins=-2"], "--margins"),
    (["--scale=huge"], "--scale"),
])
def test_bad_flags_are_one_line_errors(tmp_path, flags, message):
    out = _run(*flags, f"--output_dir={tmp_path / 'out'}", timeout=120)
    assert_one_line_error(out, message, tmp_path / "out")


def test_missing_data_is_a_one_line_error_and_writes_nothing(tmp_path):
    out = _run("--scale=smoke", f"--data_dir={tmp_path}", "--data_source=local",
               f"--output_dir={tmp_path / 'out'}", timeout=120)
    assert_missing_data_error(out, tmp_path / "out")


def test_l2_equivalent_margin_puts_the_hinge_on_the_same_samples():
    rng = np.random.default_rng(0)
    squared_error = rng.gamma(2.0, 20.0, size=1000)  # per-image sum of squares, N = 1024 pixels
    energies = {"l2": np.sqrt(squared_error), "sse": squared_error, "mse": squared_error / 1024}
    for reduction, margin in (("l2", 6.0), ("sse", 30.0), ("mse", 0.05)):
        active = energies[reduction] < margin
        equivalent = margin_sweep.l2_equivalent_margin(margin, reduction, num_pixels=1024)
        assert np.array_equal(active, energies["l2"] < equivalent)
    assert margin_sweep.l2_equivalent_margin(16, "sse") == 4.0
    assert margin_sweep.l2_equivalent_margin(1, "mse") == 32.0
    with pytest.raises(ValueError):
        margin_sweep.l2_equivalent_margin(1, "l1")
