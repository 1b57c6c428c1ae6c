"""The train step's FLOP count against hand counts, the matmul peak, and the train-step benchmark
script end to end at a tiny size (its --json fields and its one-line usage error)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ebgan_tf import step_cost
from ebgan_tf.configs import mlp as config

REPO = Path(__file__).resolve().parents[1]


def _dense(batch, fan_in, fan_out):
    """FLOPs of one [batch, fan_in] x [fan_in, fan_out] product (= one fwd, wgrad or igrad pass)."""
    return 2 * batch * fan_in * fan_out


def test_fig9_ebgan_step_flops_match_a_hand_count():
    b = 64
    g = [(100, 1600), (1600, 1600), (1600, 1600), (1600, 1600), (1600, 1024)]
    d = [(1024, 1024), (1024, 1024)]  # encoder 1024 -> 1024, decoder 1024 -> 32*32
    g_forward = sum(_dense(b, i, o) for i, o in g)
    g_backward = sum(_dense(b, i, o) for i, o in g) + sum(_dense(b, i, o) for i, o in g[1:])
    d_update_one_batch = (sum(_dense(b, i, o) for i, o in d) * 2  # fwd + wgrad
                          + sum(_dense(b, i, o) for i, o in d[1:]))  # igrad above layer 1
    d_for_g = sum(_dense(b, i, o) for i, o in d) * 2  # fwd + igrad, no wgrad
    hand = g_forward + g_backward + 2 * d_update_one_batch + d_for_g
    assert hand == 5_498_273_792  # worked out on paper, layer by layer
    assert step_cost.train_step_flops(config.preset("fig9")) == hand


def test_pt_adds_its_gram_matrix_and_gan_ends_in_one_logit():
    fig9 = config.preset("fig9")
    pt = config.preset("fig9", kind="ebgan_pt")
    # B x B Gram of [B, 1024] codes: forward, and the gradient into each operand.
    assert step_cost.train_step_flops(pt) - step_cost.train_step_flops(fig9) == 3 * 2 * 64 * 64 * 1024
    gan = config.MLPConfig(kind="gan", n_layer_g=2, n_layer_d=2, size_g=400, size_d=128)
    b = 64
    g = [(100, 400), (400, 1024)]
    d = [(1024, 128), (128, 1)]
    hand = (3 * sum(_dense(b, i, o) for i, o in g) - _dense(b, *g[0])
            + 2 * (3 * sum(_dense(b, i, o) for i, o in d) - _dense(b, *d[0]))
            + 2 * sum(_dense(b, i, o) for i, o in d))
    assert step_cost.train_step_flops(gan) == hand
    assert step_cost.train_step_flops(gan, batch_size=32) * 2 == hand


def test_largest_grid_config_is_the_costliest_of_table1():
    largest = step_cost.largest_grid_config("ebgan")
    costliest = max(config.table1_grid("ebgan"), key=step_cost.train_step_flops)
    assert step_cost.train_step_flops(largest) == step_cost.train_step_flops(costliest)
    assert (largest.n_layer_g, largest.size_g, largest.n_layer_d, largest.size_d) == (5, 3200, 5, 1024)


def test_matmul_peak_is_a_plausible_positive_rate():
    gflops = step_cost.measure_matmul_gflops("float32", size=256, min_seconds=0.05)
    # Far above anything a scalar loop reaches (~1 GFLOP/s), far below any CPU's peak.
    assert 5 < gflops < 1e5
    assert math.isnan(step_cost.fraction_of_peak(1e9, 0.0, gflops))
    assert step_cost.fraction_of_peak(2e9, 0.01, 400.0) == pytest.approx(0.5)


def _run_benchmark(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / "train_step.py"), *args],
                          capture_output=True, text=True, timeout=300, env=env, cwd=REPO)


def test_benchmark_script_prints_one_json_line_with_its_numbers():
    run = _run_benchmark("--model=ebgan_pt", "--preset=nLayerG=2,nLayerD=2,sizeG=64,sizeD=32",
                         "--batch_size=16", "--steps=4", "--warmup_steps=2", "--repeats=2",
                         "--num_images=256", "--peak_seconds=0.05", "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["model"] == "ebgan_pt" and result["batch_size"] == 16
    assert result["config"] == {"nLayerG": 2, "nLayerD": 2, "sizeG": 64, "sizeD": 32,
                                "dropoutD": False}
    assert result["precision"] == "float32" and result["jit_compile"] is False
    assert len(result["ms_per_step_blocks"]) == 2
    assert result["images_per_sec"] == pytest.approx(16e3 / result["ms_per_step"])
    cfg = config.MLPConfig(kind="ebgan_pt", n_layer_g=2, n_layer_d=2, size_g=64, size_d=32,
                           batch_size=16)
    assert result["gflop_per_step"] == pytest.approx(step_cost.train_step_flops(cfg) / 1e9)
    assert set(result["matmul_peak_gflops"]) == {"float32", "bfloat16"}
    assert 0 < result["fraction_of_peak"] == pytest.approx(
        result["gflop_per_sec"] / result["matmul_peak_gflops"]["float32"])
    assert all(math.isfinite(v) for v in result["final_metrics"].values())
    assert {"d_loss", "g_loss", "pt"} <= set(result["final_metrics"])


def test_benchmark_script_rejects_a_bad_preset_in_one_line():
    run = _run_benchmark("--preset=nLayerG=two", "--json")
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1].startswith("error: --preset")
    assert "Traceback" not in run.stderr
