"""Convolutional experiments: presets, models, and checkpoint/resume of a crashed run."""

import json

import numpy as np
import pytest
import keras

from ebgan_tf import conv_training as ct
from ebgan_tf import models
from ebgan_tf.cli import UsageError

# (experiment, margin as recalled, grid of the paper's figure, data set)
PAPER_SETTINGS = [
    ("fig5_fig12_lsun", 80.0, (7, 7), "lsun_bedroom"),
    ("fig11_fig13_lsun_patches", 80.0, (7, 7), "lsun_bedroom"),
    ("fig6_fig14_celeba", 20.0, (6, 6), "celeb_a"),
    ("fig7_imagenet128", 40.0, (6, 10), "imagenet2012"),
    ("fig8_imagenet256", 80.0, (2, 6), "imagenet_dogs"),
]


@pytest.mark.parametrize("name, margin, grid, source", PAPER_SETTINGS)
def test_presets_follow_the_paper(name, margin, grid, source):
    exp = ct.experiment(name, "paper")
    assert exp.base.margin == margin and exp.grid == grid and exp.source == source
    assert exp.kinds == ("dcgan", "ebgan", "ebgan_pt")
    assert exp.config("ebgan_pt").effective_pt_weight == 0.1
    assert exp.config("ebgan").effective_pt_weight == 0.0
    assert exp.base.width_divisor == 1 and exp.base.train_steps >= 50_000
    smoke = ct.experiment(name, "smoke")
    assert smoke.source == "synthetic" and smoke.grid == grid and smoke.base.train_steps <= 10
    assert ct.expected_accelerator_hours(exp.config("ebgan_pt")) > 10 * ct.expected_accelerator_hours(
        smoke.config("ebgan_pt"))


def test_patch_and_celeba_preprocessing():
    assert ct.experiment("fig11_fig13_lsun_patches").preprocessing.load_size == 96
    assert ct.experiment("fig5_fig12_lsun").preprocessing.load_size is None
    assert ct.experiment("fig6_fig14_celeba").preprocessing.crop_size == 108
    assert ct.experiment("fig8_imagenet256").preprocessing.image_size == 256


def test_bad_presets_and_configs():
    with pytest.raises(ValueError, match="unknown experiment"):
        ct.experiment("fig99")
    with pytest.raises(ValueError, match="scale"):
        ct.experiment("fig5_fig12_lsun", "huge")
    for bad in (dict(kind="wgan"), dict(architecture="resnet"), dict(margin=-1.0),
                dict(train_steps=0), dict(train_steps=5, steps_per_checkpoint=2)):
        with pytest.raises(ValueError):
            ct.ConvConfig(**bad)
    with pytest.raises(Exception):
        ct.ConvConfig().margin = 1.0


def test_bigger_models_cost_more():
    hours = [ct.expected_accelerator_hours(ct.experiment(n, "paper").config("ebgan_pt"))
             / ct.experiment(n, "paper").base.train_steps
             for n in ("fig5_fig12_lsun", "fig7_imagenet128", "fig8_imagenet256")]
    assert hours[0] < hours[1] < hours[2]


@pytest.mark.parametrize("kind, cls, pt", [("dcgan", models.GAN, None), ("ebgan", models.EBGAN, 0.0),
                                           ("ebgan_pt", models.EBGAN, 0.1)])
def test_build_conv_model_reuses_the_suite_models(kind, cls, pt):
    cfg = ct.experiment("fig6_fig14_celeba", "smoke").config(kind).replace(width_divisor=32)
    model = ct.build_conv_model(cfg)
    assert type(model) is cls
    if pt is not None:
        assert model.pt_weight == pt and model.margin == 20.0
    z = np.random.default_rng(0).standard_normal((4, 100)).astype(np.float32)
    images = np.random.default_rng(1).uniform(-1, 1, (4, 64, 64, 3)).astype(np.float32)
    logs = model.train_on_batch(images, z, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())
    assert ("fake_energy" in logs) == (kind != "dcgan")


# --- resume ------------------------------------------------------------------------------------

class _Crash(keras.callbacks.Callback):
    """Kills training after a given global step, like a pre-empted job."""

    def __init__(self, at_step):
        super().__init__()
        self.at_step = at_step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.g_optimizer.iterations.numpy()) == self.at_step:
            raise RuntimeError("simulated crash")


def _tiny_experiment():
    exp = ct.experiment("fig6_fig14_celeba", "smoke")
    return exp.replace(kinds=("ebgan_pt",),
                       base=exp.base.replace(train_steps=6, steps_per_checkpoint=2, width_divisor=32,
                                             batch_size=4))


def _generator_weights(run_dir):
    g = keras.models.load_model(run_dir / "generator.keras")
    return [w.numpy() for w in g.weights]


def test_crashed_run_resumes_from_its_checkpoint(tmp_path, capsys):
    exp = _tiny_experiment()
    ct.run_experiment(exp, tmp_path / "straight")
    straight = _generator_weights(tmp_path / "straight" / "trials" / "ebgan_pt")

    out = tmp_path / "crashed"
    with pytest.raises(RuntimeError, match="simulated crash"):
        ct.train_model(exp, "ebgan_pt", out, callbacks=[_Crash(at_step=5)])
    checkpoints = sorted(p.name for p in (out / "trials" / "ebgan_pt" / "checkpoints").glob("*.index"))
    assert checkpoints == ["ckpt-2.index", "ckpt-4.index"]
    assert not (out / "trials" / "ebgan_pt" / "generator.keras").exists()

    result = ct.train_model(exp, "ebgan_pt", out)
    assert "resuming from step 4" in capsys.readouterr().out
    assert (result.start_step, result.final_step) == (4, 6)
    # One history row per interval over both runs, and the same weights as the straight run.
    assert [int(r["epoch"]) for r in result.history] == [0, 1, 2]
    for a, b in zip(straight, _generator_weights(out / "trials" / "ebgan_pt")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    # Finished: a rerun trains nothing and keeps the result.
    again = ct.train_model(exp, "ebgan_pt", out)
    assert (again.start_step, again.final_step) == (6, 6)
    # Another configuration may not reuse the folder.
    other = exp.replace(base=exp.base.replace(margin=5.0))
    with pytest.raises(UsageError, match="other settings \\(margin\\)"):
        ct.train_model(other, "ebgan_pt", out)
    assert json.loads((out / "trials" / "ebgan_pt" / "config.json").read_text())["margin"] == 20.0


def test_real_data_path_from_a_local_folder_and_a_corrupt_file(tmp_path):
    import tensorflow as tf
    from ebgan_tf.data import DataError

    rng = np.random.default_rng(0)
    folder = tmp_path / "data" / "celeb_a"
    folder.mkdir(parents=True)
    for i in range(8):
        image = tf.constant(rng.integers(0, 256, (218, 178, 3)), tf.uint8)
        (folder / f"{i:06d}.jpg").write_bytes(tf.io.encode_jpeg(image).numpy())
    exp = _tiny_experiment()
    exp = exp.replace(source="celeb_a", kinds=("ebgan",),
                      base=exp.base.replace(train_steps=2, steps_per_checkpoint=2))
    page = ct.run_experiment(exp, tmp_path / "out", data_dir=tmp_path / "data", data_source="local")
    assert "CelebA (aligned)" in page.read_text(encoding="utf-8")
    assert "central 108×108 crop" in page.read_text(encoding="utf-8")

    # A corrupt file met in mid-training (the up-front check reads only the first) is one line.
    (folder / "000003.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    bad = exp.replace(base=exp.base.replace(train_steps=8, steps_per_checkpoint=2))
    with pytest.raises(DataError, match="stopped at a bad input") as info:
        ct.run_experiment(bad, tmp_path / "bad", data_dir=tmp_path / "data", data_source="local")
    assert "\n" not in str(info.value)
