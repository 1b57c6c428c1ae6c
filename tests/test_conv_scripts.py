"""The five convolutional reproduction scripts, end to end at smoke scale, and their failure modes.

Each script runs once, as a user would run it (a fresh interpreter), in a module fixture; the
tests then check what it wrote.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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


def _command(script, *args):
    return [sys.executable, str(REPO / "reproductions" / f"{script}.py"), *args]


_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


def _run(script, *args, timeout=300):
    return subprocess.run(_command(script, *args), capture_output=True, text=True, env=_ENV,
                          timeout=timeout, cwd=REPO)


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    """Runs the five scripts, two at a time: most of a smoke run is single-threaded Python
    (imports, graph tracing), so two processes fill CI's two cores."""
    from concurrent.futures import ThreadPoolExecutor

    root = tmp_path_factory.mktemp("conv_scripts")

    def smoke(script):
        out = root / script
        return script, (_run(script, "--scale=smoke", f"--output_dir={out}"), out)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(smoke, SCRIPTS))


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_script_at_smoke_scale_writes_everything(smoke_runs, script):
    import keras
    import matplotlib.image

    proc, out = smoke_runs[script]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "report: " in proc.stdout
    size, rows, cols = SCRIPTS[script]
    page = (out / "index.html").read_text(encoding="utf-8")
    for title in ("DCGAN", "EBGAN", "EBGAN-PT"):
        assert f"{title} — paper:" in page  # the three grids, side by side
    assert "RECALLED" in page and "accelerator-hours" in page
    for kind in KINDS + ("data",):
        grid = matplotlib.image.imread(out / f"samples_{kind}.png")
        assert grid.shape[:2] == (rows * (size + 2) + 2, cols * (size + 2) + 2)
    for kind in KINDS:
        trial = out / "trials" / kind
        assert list((trial / "tensorboard" / "train").glob("events.out.tfevents.*"))
        assert list((trial / "checkpoints").glob("ckpt-4.index"))
        assert (trial / "history.csv").read_text().count("\n") == 3  # header + 2 intervals
    generator = keras.models.load_model(out / "trials" / "ebgan_pt" / "generator.keras")
    z = np.random.default_rng(0).standard_normal((2, generator.input.shape[-1])).astype(np.float32)
    images = generator(z, training=False).numpy()
    assert images.shape == (2, size, size, 3) and np.abs(images).max() <= 1.0


def _last_line_is_the_error(proc, pattern):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.strip().splitlines() if l.startswith("error: ")]
    assert len(lines) == 1 and pattern in lines[0], proc.stderr[-2000:]


def test_bad_flag_is_one_line(tmp_path):
    proc = _run("fig5_fig12_lsun", "--scale=huge", f"--output_dir={tmp_path}")
    _last_line_is_the_error(proc, "--scale")
    assert proc.returncode == 2
    assert not (tmp_path / "index.html").exists()


def test_missing_data_is_one_line_and_writes_no_report(tmp_path):
    proc = _run("fig6_fig14_celeba", "--scale=cpu", "--data_source=local", f"--data_dir={tmp_path}",
                f"--output_dir={tmp_path / 'out'}", "--models=ebgan_pt")
    _last_line_is_the_error(proc, "no CelebA (aligned) folder at")
    assert proc.returncode == 1
    assert not (tmp_path / "out" / "index.html").exists()
