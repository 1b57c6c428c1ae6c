"""Table 2's runner: labelled subsets, the data stream, settings, the table arithmetic, and the
script end to end at smoke scale on real MNIST (report, results.csv, resume, bad input)."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ebgan_tf import ladder, semi_supervised as ss

SCRIPT = Path(__file__).resolve().parents[1] / "reproductions" / "table2_semi_supervised.py"
# TensorFlow's start-up chatter on stderr, which no flag silences; everything else must be ours.
_TF_NOISE = ("WARNING: All log messages before absl", "I0000", "W0000", "E0000")


def test_balanced_labelled_subset_is_balanced_seeded_and_checked():
    labels = np.random.default_rng(0).integers(0, 10, 5000)
    a = ss.balanced_labelled_subset(labels, 100, seed=3)
    assert len(a) == len(set(a)) == 100
    assert np.bincount(labels[a], minlength=10).tolist() == [10] * 10
    np.testing.assert_array_equal(a, ss.balanced_labelled_subset(labels, 100, seed=3))
    assert set(a) != set(ss.balanced_labelled_subset(labels, 100, seed=4))
    with pytest.raises(ValueError, match="evenly"):
        ss.balanced_labelled_subset(labels, 105, seed=0)
    with pytest.raises(ValueError, match="only"):
        ss.balanced_labelled_subset(labels[:20], 100, seed=0)


def test_to_ladder_input_maps_the_loader_range_to_unit_pixels():
    images = np.array([-1.0, 0.0, 1.0] * 261 + [1.0], np.float32).reshape(1, 28, 28, 1)
    x = ss.to_ladder_input(images)
    assert x.shape == (1, 784) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :3], [0.0, 0.5, 1.0])


def test_stream_batches_are_seeded_resumable_and_carry_the_right_labels():
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, (300, 784)).astype(np.float32)
    labels = rng.integers(0, 10, 300)
    labelled = ss.balanced_labelled_subset(labels, 30, seed=0)
    stream = ss.SemiSupervisedStream(images, labels, labelled, 10, 25, seed=5, noise_dim=4)
    batches = list(stream.dataset(0, 6).as_numpy_iterator())
    assert [b["unlabelled"].shape for b in batches] == [(25, 784)] * 6
    assert batches[0]["labelled"].shape == (10, 784) and batches[0]["noise"].shape == (25, 4)
    # Labels belong to their images, and only labelled images appear in the labelled part.
    lookup = {images[i].tobytes(): labels[i] for i in labelled}
    for b in batches:
        assert [lookup[x.tobytes()] for x in b["labelled"]] == b["labels"].tolist()
    # One pass over the 30 labelled examples every 3 batches, each example once.
    seen = np.concatenate([b["labelled"] for b in batches[:3]])
    assert len({x.tobytes() for x in seen}) == 30
    # Resuming at batch 4 gives batches 4, 5 exactly, noise included; another seed differs.
    resumed = list(stream.dataset(4, 2).as_numpy_iterator())
    for a, b in zip(batches[4:], resumed):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    other = next(ss.SemiSupervisedStream(images, labels, labelled, 10, 25, seed=6,
                                         noise_dim=4).dataset(0, 1).as_numpy_iterator())
    assert not np.array_equal(other["noise"], batches[0]["noise"])


def test_settings_presets_and_run_order():
    cpu = ss.preset("cpu")
    assert cpu.label_counts == (100, 200, 1000) and cpu.run.layer_sizes == ladder.STANDARD_LAYER_SIZES
    assert ss.preset("paper").num_seeds == 15
    runs = cpu.replace(num_seeds=2).runs()
    assert len(runs) == 2 * 3 * 2 and len({r.run_id for r in runs}) == 12
    assert [(r.kind, r.num_labels, r.seed) for r in runs[:3]] == [
        ("ln", 100, 0), ("ebgan_ln", 100, 0), ("ln", 200, 0)]
    assert ss.preset("cpu", margin=7.0).run.margin == 7.0
    for bad in (dict(num_seeds=0), dict(label_counts=(105,)), dict(label_counts=()),
                dict(models=("gan",))):
        with pytest.raises(ValueError):
            cpu.replace(**bad)
    with pytest.raises(ValueError, match="unknown scale"):
        ss.preset("huge")


def test_ebgan_ln_phases_switch_when_the_margin_reaches_zero():
    cfg = ladder.LadderConfig(kind="ebgan_ln", train_steps=100, margin_decay_fraction=0.3)
    assert ss._phases(cfg) == [(0, 30, True), (30, 70, False)]
    assert ss._phases(cfg.replace(kind="ln")) == [(0, 100, False)]
    assert ss._phases(cfg.replace(margin_decay_fraction=1.0)) == [(0, 100, True)]
    assert list(ss._chunks(30, 70, 25)) == [(30, 25), (55, 25), (80, 20)]


def test_relative_improvement_reproduces_the_papers_row():
    reproduced, ebgan_ln = ss.PAPER_TABLE2[2][1], ss.PAPER_TABLE2[3][1]
    for n in ss.LABEL_COUNTS:
        got = ss.relative_improvement(reproduced[n][0], ebgan_ln[n][0])
        assert abs(got - ss.PAPER_IMPROVEMENT[n]) < 0.06, (n, got)


def test_summary_table_and_verdict():
    rows = [{"model": m, "labels": n, "error_rate": e} for m, n, e in [
        ("ln", 100, 2.0), ("ln", 100, 3.0), ("ebgan_ln", 100, 1.0), ("ebgan_ln", 100, 2.0),
        ("ln", 1000, 1.0), ("ebgan_ln", 1000, 1.5)]]
    summary = ss.summarise(rows)
    assert summary["ln"][100] == (2.5, pytest.approx(np.std([2.0, 3.0], ddof=1)), 2)
    assert np.isnan(summary["ln"][1000][1])
    assert ss.ebgan_ln_beats_ln(summary) is False  # Better at 100, worse at 1000.
    table = {r["model"]: r for r in ss.table2_rows(summary, (100, 200, 1000))}
    ours = table["Relative percentage improvement (ours)"]
    assert ours["100"] == "40.0 %" and ours["1000"] == "-50.0 %" and ours["200"] == "–"
    assert table["LN bottom-layer-cost within EBGAN framework"]["200"] == "0.99 ± 0.12"
    assert ss.ebgan_ln_beats_ln({}) is None


def _run_script(*args, env_extra=None, timeout=300):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env_extra or {})}
    out = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                         env=env, timeout=timeout)
    messages = [l for l in out.stderr.splitlines() if l.strip() and not l.startswith(_TF_NOISE)]
    return out, messages


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, mnist_data_dir):
    output_dir = tmp_path_factory.mktemp("table2")
    out, messages = _run_script("--scale=smoke", f"--output_dir={output_dir}",
                                f"--data_dir={mnist_data_dir}", "--data_source=local")
    assert out.returncode == 0, "\n".join(messages[-30:])
    return output_dir, out


def test_smoke_run_writes_report_and_valid_results(smoke_run):
    output_dir, out = smoke_run
    with open(output_dir / "results.csv") as f:
        rows = list(csv.DictReader(f))
    settings = ss.preset("smoke")
    assert len(rows) == len(settings.runs())
    assert {(r["model"], int(r["labels"])) for r in rows} == {
        (m, n) for m in settings.models for n in settings.label_counts}
    for r in rows:
        error = float(r["error_rate"])
        # A valid percentage, and (with 2,000 test images) a multiple of 0.05 %.
        assert 0.0 <= error <= 100.0 and abs(error * 20 - round(error * 20)) < 1e-6, r
        assert int(r["train_steps"]) == settings.run.train_steps
    html = (output_dir / "index.html").read_text()
    for needle in ("Table 2", "Figure 10", "Relative percentage improvement (ours)",
                   "1.36 ± 0.21", "Choice (paper silent)", "data:image/png;base64,"):
        assert needle in html, needle
    assert (output_dir / "fig10_a.png").stat().st_size > 1000
    assert (output_dir / "fig10_b.png").stat().st_size > 1000
    assert "report:" in out.stdout


def test_rerun_skips_finished_runs_and_redoes_only_a_missing_one(smoke_run, mnist_data_dir):
    output_dir, first = smoke_run
    trials = sorted((output_dir / "trials").glob("*.json"))
    before = {p.name: json.loads(p.read_text())["error_rate"] for p in trials}
    removed = next(p for p in trials if p.name.startswith("ln-"))
    removed.unlink()
    out, messages = _run_script("--scale=smoke", f"--output_dir={output_dir}",
                                f"--data_dir={mnist_data_dir}", "--data_source=local")
    assert out.returncode == 0, "\n".join(messages[-30:])
    assert out.stdout.count("test error") == 1 and "[1/1]" in out.stdout, out.stdout
    after = {p.name: json.loads(p.read_text())["error_rate"]
             for p in (output_dir / "trials").glob("*.json")}
    assert after.keys() == before.keys()
    for name, error in before.items():
        if name != removed.name:
            assert after[name] == error


def test_bad_flags_give_one_line_errors_and_nonzero_exits(tmp_path, mnist_data_dir):
    output_dir = tmp_path / "out"
    out, messages = _run_script("--labels=105", f"--output_dir={output_dir}")
    assert out.returncode != 0 and len(messages) == 1, messages
    assert messages[0].startswith("error:") and "multiples of 10" in messages[0]
    out, messages = _run_script("--scale=smoke", "--data_source=local", "--data_dir=/nonexistent",
                                f"--output_dir={output_dir}")
    assert out.returncode != 0 and len(messages) == 1, messages
    assert messages[0].startswith("error:") and "MNIST" in messages[0]
    assert not output_dir.exists() or not any(output_dir.rglob("*.json"))
    out, messages = _run_script("--scale=huge")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert messages == ["error: flag --scale=huge: value should be one of <smoke|cpu|paper>"]
