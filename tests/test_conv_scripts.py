"""The five convolutional reproduction scripts end to end at smoke scale, on local Ray and inline;
a run SIGKILLed after its first checkpoint and rerun, against an uninterrupted one; the report's
settings against the runs' config.json; and bad input.

Each script runs as a user would run it (a fresh interpreter). To fit CI's budget every script
runs once, two at a time: fig5 on Ray Tune with its three models (two trials at a time), the
others inline with one model each (a different one per script).
"""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import report_checks
from script_checks import assert_one_line_error

REPO = Path(__file__).resolve().parents[1]
# script -> (image size, grid rows, grid cols)
SCRIPTS = {
    "fig5_fig12_lsun": (64, 7, 7),
    "fig11_fig13_lsun_patches": (64, 7, 7),
    "fig6_fig14_celeba": (64, 6, 6),
    "fig7_imagenet128": (128, 6, 10),
    "fig8_imagenet256": (256, 2, 6),
}
KINDS = ("dcgan", "ebgan", "ebgan_pt")
# The fig6 run is also the uninterrupted reference of the SIGKILL test: 12 steps (six
# checkpoints, one every 2 steps) leave time to kill it between the first and the last.
RESUME_SCRIPT = "fig6_fig14_celeba"
RESUME_FLAGS = ("--executor=inline", "--models=ebgan_pt", "--train_steps=12")
SMOKE_FLAGS = {
    "fig5_fig12_lsun": ("--executor=ray",),
    "fig11_fig13_lsun_patches": ("--executor=inline", "--models=ebgan"),
    RESUME_SCRIPT: RESUME_FLAGS,
    "fig7_imagenet128": ("--executor=inline", "--models=ebgan_pt"),
    "fig8_imagenet256": ("--executor=inline", "--models=dcgan"),
}
# results.csv columns that say how and how fast a run ran, not what it computed.
TIMING_COLUMNS = ["wall_time_s", "train_seconds", "resumed_from"]
_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def _command(script, *args):
    return [sys.executable, str(REPO / "reproductions" / f"{script}.py"), *args]


def _run(script, *args, timeout=400):
    return subprocess.run(_command(script, *args), capture_output=True, text=True, env=_ENV,
                          timeout=timeout, cwd=REPO)


def _latest_checkpoint(out):
    """The step of the newest complete checkpoint: the one tf.train's state file names (it is
    renamed into place after the checkpoint's files are written)."""
    steps = [0]
    for state in out.glob("trials/*/checkpoints/checkpoint"):
        found = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', state.read_text(), re.M)
        steps.append(int(found.group(1)) if found else 0)
    return max(steps)


def _kill_after_the_first_checkpoint_and_rerun(out):
    """Runs the resume script, SIGKILLs it (and its process group) as soon as its first
    checkpoint exists, then reruns it; returns what the test checks."""
    command = _command(RESUME_SCRIPT, "--scale=smoke", f"--output_dir={out}", *RESUME_FLAGS)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, env=_ENV, cwd=REPO, start_new_session=True)
    deadline = time.monotonic() + 300
    while _latest_checkpoint(out) < 2:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            return {"error": "no checkpoint: " + process.stderr.read()[-3000:]}
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    process.stderr.close()
    killed = {"killed_at": _latest_checkpoint(out),
              "results_at_kill": len(list(out.glob("trials/*/result.json"))),
              "report_at_kill": (out / "index.html").exists()}
    return {**killed, "rerun": _run(RESUME_SCRIPT, "--scale=smoke", f"--output_dir={out}",
                                    *RESUME_FLAGS)}


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    """{script: (completed process, output folder)}, and under "killed" the SIGKILL test's run,
    two at a time: most of a smoke run is single-threaded Python (imports, graph tracing), so
    two processes fill CI's two cores."""
    root = tmp_path_factory.mktemp("conv_scripts")

    def smoke(script):
        if script == "killed":
            out = root / "killed"
            return script, (_kill_after_the_first_checkpoint_and_rerun(out), out)
        out = root / script
        return script, (_run(script, "--scale=smoke", f"--output_dir={out}",
                             *SMOKE_FLAGS[script]), out)

    # The slowest (Ray, three models) first, so the other worker takes the rest meanwhile.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(smoke, [*SCRIPTS, "killed"]))


def _runs(out):
    """{kind: (run folder, config.json, result.json)} of an output folder."""
    found = {}
    for folder in (out / "trials").iterdir():
        config = json.loads((folder / "config.json").read_text())
        result = json.loads((folder / "result.json").read_text())
        found[config["config"]["kind"]] = (folder, config, result)
    return found


def _kinds(script):
    flags = dict(f[2:].split("=", 1) for f in SMOKE_FLAGS[script])
    return tuple(flags["models"].split(",")) if "models" in flags else KINDS


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_script_at_smoke_scale_writes_everything(smoke_runs, script):
    import keras
    import matplotlib.image

    proc, out = smoke_runs[script]
    assert proc.returncode == 0, proc.stderr[-3000:]
    kinds = _kinds(script)
    assert f"{len(kinds)} runs: 0 finished, {len(kinds)} to run." in proc.stdout
    assert "Sharding callback" not in proc.stderr  # TF's per-save INFO lines stay quiet.
    size, rows, cols = SCRIPTS[script]
    page = (out / "index.html").read_text(encoding="utf-8")
    titles = {"dcgan": "DCGAN", "ebgan": "EBGAN", "ebgan_pt": "EBGAN-PT"}
    for kind in kinds:
        assert f"{titles[kind]} — paper:" in page  # The grids, side by side.
    assert page.count("data:image/png;base64,") == len(kinds) + 2  # + the data, the curves
    assert "Budget per scale" in page and "accelerator-hours" in page
    for name in [f"samples_{k}.png" for k in kinds] + ["samples_data.png"]:
        grid = matplotlib.image.imread(out / name)
        assert grid.shape[:2] == (rows * (size + 2) + 2, cols * (size + 2) + 2), name
    frame = pd.read_csv(out / "results.csv")
    assert list(frame["kind"]) == list(kinds) and (frame["status"] == "ok").all()
    runs = _runs(out)
    assert set(runs) == set(kinds)
    steps = 12 if script == RESUME_SCRIPT else 4
    for folder, config, result in runs.values():
        assert result["steps_run"] == steps and result["resumed_from"] == 0
        assert config["preprocessing"]["image_size"] == size
        assert config["source"] == "synthetic" and config["grid"] == [rows, cols]
        assert sorted(p.name for p in (folder / "checkpoints").glob("*.index")) == \
            [f"ckpt-{steps - 2}.index", f"ckpt-{steps}.index"]  # The last two are kept.
        assert len(pd.read_csv(folder / "metrics.csv")) == steps // 2
        assert list((folder / "tensorboard").glob("events.out.tfevents.*"))
    folder = next(iter(runs.values()))[0]
    generator = keras.models.load_model(folder / "generator.keras")
    z = np.random.default_rng(0).standard_normal((2, generator.input.shape[-1])).astype(np.float32)
    images = generator(z, training=False).numpy()
    assert images.shape == (2, size, size, 3) and np.abs(images).max() <= 1.0


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_report_settings_are_the_runs_config(smoke_runs, script):
    """The settings table is generated from ConvConfig's metadata and the values the runs used:
    every modelling setting, each equal to every run's config.json."""
    from ebgan_tf.configs.conv import ConvConfig

    _, out = smoke_runs[script]
    page = (out / "index.html").read_text(encoding="utf-8")
    modelling = {f.name for f in dataclasses.fields(ConvConfig) if f.metadata["source"] != "run"}
    assert set(report_checks.settings_table(page)) == modelling
    for _, config, _ in _runs(out).values():
        report_checks.assert_settings_match(page, config["config"])


def test_sigkilled_run_resumes_to_the_uninterrupted_weights(smoke_runs):
    import keras

    reference_proc, reference = smoke_runs[RESUME_SCRIPT]
    assert reference_proc.returncode == 0, reference_proc.stderr[-3000:]
    killed, out = smoke_runs["killed"]
    assert "error" not in killed, killed.get("error")
    assert 2 <= killed["killed_at"] < 12, f"killed too late to test a resume: {killed}"
    assert killed["results_at_kill"] == 0 and not killed["report_at_kill"]

    rerun = killed["rerun"]
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "1 runs: 0 finished, 1 to run." in rerun.stdout
    (folder, _, result), = _runs(out).values()
    (ref_folder, _, ref_result), = _runs(reference).values()
    assert folder.name == ref_folder.name and result["status"] == "ok"
    assert result["resumed_from"] == killed["killed_at"]  # The last complete checkpoint.
    # The same training rows (the killed process's and the rerun's), the same scores, the same
    # weights as the run that was never interrupted.
    metrics = pd.read_csv(folder / "metrics.csv").drop(columns="elapsed_s")
    pd.testing.assert_frame_equal(metrics,
                                  pd.read_csv(ref_folder / "metrics.csv").drop(columns="elapsed_s"))
    results, ref_results = (pd.read_csv(o / "results.csv").drop(columns=TIMING_COLUMNS)
                            for o in (out, reference))
    pd.testing.assert_frame_equal(results, ref_results)
    weights = keras.models.load_model(folder / "generator.keras").get_weights()
    ref_weights = keras.models.load_model(ref_folder / "generator.keras").get_weights()
    for a, b in zip(weights, ref_weights, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("flags, message", [
    (["--scale=huge"], "--scale"),
    (["--models=dcgan,wgan"], "--models must be a non-empty subset of dcgan,ebgan,ebgan_pt"),
    (["--margin=-1"], "--margin"),
    (["--train_steps=0"], "--train_steps"),
    (["--executor=slurm"], "--executor"),
    (["--jit_compile"], "--jit_compile needs --nodeterministic"),
])
def test_bad_flags_are_one_line_and_write_nothing(tmp_path, flags, message):
    proc = _run("fig5_fig12_lsun", *flags, f"--output_dir={tmp_path / 'out'}")
    assert_one_line_error(proc, message, tmp_path / "out")


def test_missing_data_is_one_line_and_writes_nothing(tmp_path):
    proc = _run("fig6_fig14_celeba", "--scale=cpu", "--data_source=local", f"--data_dir={tmp_path}",
                f"--output_dir={tmp_path / 'out'}", "--executor=inline")
    assert_one_line_error(proc, "no CelebA (aligned) folder at", tmp_path / "out", returncode=1)
