"""Networks and the EBGAN/GAN models: shapes, update isolation, learning, saving."""

import numpy as np
import pytest
import keras
import tensorflow as tf

from ebgan_tf import losses, models
from ebgan_tf.configs import mlp as config
from ebgan_tf.data import streams
from ebgan_tf.data.mnist import synthetic_images
from ebgan_tf.networks import mlp as networks

SMALL = dict(n_layer_g=3, size_g=64, n_layer_d=3, size_d=32, noise_dim=16, seed=1)


def _trainable(net):
    return [v.numpy().copy() for v in net.trainable_variables]


def _changed(before, net):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, net.trainable_variables)]


# --- networks --------------------------------------------------------------------------------

def test_generator_shape_range_and_layer_count():
    g = networks.build_mlp_generator(noise_dim=16, n_layers=4, width=32)
    out = g(np.random.default_rng(0).normal(size=(5, 16)).astype(np.float32) * 50)
    assert out.shape == (5, 32, 32, 1)
    assert float(tf.reduce_max(tf.abs(out))) <= 1.0
    dense = [l for l in g.layers if isinstance(l, keras.layers.Dense)]
    bn = [l for l in g.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert len(dense) == 4 and len(bn) == 3  # No batch norm on the output layer.


def test_autoencoder_layout_follows_the_paper():
    d = networks.build_mlp_autoencoder(n_layers=4, width=32, dropout_rate=0.5)
    rec, code = d(np.zeros((3, 32, 32, 1), np.float32))
    assert rec.shape == (3, 32, 32, 1) and code.shape == (3, 32)
    dense = [l for l in d.layers if isinstance(l, keras.layers.Dense)]
    # nLayerD counts encoder + one decoder layer; no batch norm on D's input layer.
    assert len(dense) == 4 and dense[-1].units == 32 * 32
    bn = [l for l in d.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert len(bn) == 2
    assert sum(isinstance(l, keras.layers.Dropout) for l in d.layers) == 3
    std = float(np.std(dense[0].kernel.numpy()))
    assert 0.0015 < std < 0.0025  # N(0, 0.002) initialisation.


def test_gan_discriminator_outputs_one_logit():
    d = networks.build_mlp_discriminator(n_layers=3, width=16)
    assert d(np.zeros((2, 32, 32, 1), np.float32)).shape == (2, 1)


# --- models ----------------------------------------------------------------------------------

def _batch(n=32, seed=0):
    return synthetic_images(n, seed=seed)


@pytest.mark.parametrize("kind", ["ebgan", "ebgan_pt", "gan"])
def test_d_update_touches_only_d_and_g_update_only_g(kind):
    images = _batch()
    for frozen in ("g", "d"):
        cfg = config.MLPConfig(kind=kind, **SMALL)
        keras.utils.set_random_seed(0)
        model = models.build_model(cfg)
        # A zero learning rate switches one update off; the other must not touch its network.
        lr = {"d": (0.0, 1e-2), "g": (1e-2, 0.0)}[frozen]
        model.compile(d_optimizer=keras.optimizers.SGD(lr[0]), g_optimizer=keras.optimizers.SGD(lr[1]))
        g_before, d_before = _trainable(model.generator), _trainable(model.discriminator)
        model.train_on_batch(images)
        g_changed, d_changed = _changed(g_before, model.generator), _changed(d_before, model.discriminator)
        if frozen == "g":
            assert not any(g_changed) and all(d_changed)
        else:
            assert not any(d_changed) and all(g_changed)


def test_train_step_logs_every_tracker():
    model = models.build_model(config.MLPConfig(kind="ebgan_pt", **SMALL))
    logs = model.train_on_batch(_batch(), return_dict=True)
    assert set(logs) == {"d_loss", "g_loss", "real_energy", "fake_energy", "pt", "hinge_active"}
    assert all(np.isfinite(v) for v in logs.values())
    assert 0.0 <= logs["pt"] <= 1.0
    # G's loss includes the weighted PT on top of the fake energy.
    np.testing.assert_allclose(logs["g_loss"], logs["fake_energy"] + 0.1 * logs["pt"], rtol=1e-5)
    gan = models.build_model(config.MLPConfig(kind="gan", **SMALL))
    assert set(gan.train_on_batch(_batch(), return_dict=True)) == {
        "d_loss", "g_loss", "real_prob", "fake_prob"}


def test_noise_from_the_data_is_used():
    cfg = config.MLPConfig(kind="ebgan", **SMALL)
    images = _batch(8)
    noise = np.random.default_rng(5).normal(size=(8, 16)).astype(np.float32)
    results = []
    for _ in range(2):
        keras.utils.set_random_seed(0)
        model = models.build_model(cfg)
        model.train_on_batch(images, noise)
        results.append(_trainable(model.generator))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_ebgan_lowers_real_energy_on_synthetic_data():
    cfg = config.MLPConfig(kind="ebgan", n_layer_g=3, size_g=128, n_layer_d=2, size_d=64,
                           noise_dim=16, margin=10.0, seed=0)
    keras.utils.set_random_seed(0)
    model = models.build_model(cfg)
    images = synthetic_images(2048, seed=0)
    probe = tf.constant(synthetic_images(256, seed=99))

    def real_energy():
        rec, _ = model.discriminator(probe, training=False)
        return float(tf.reduce_mean(losses.autoencoder_energy(probe, rec)))

    before = real_energy()
    history = model.fit(streams.array_stream(images, 64, seed=0, noise_dim=16), steps_per_epoch=100,
                        epochs=3, verbose=0, shuffle=False)
    after = real_energy()
    assert after < 0.5 * before, (before, after)
    # The hinge keeps fakes at high energy: D separates them from real data.
    assert history.history["fake_energy"][-1] > history.history["real_energy"][-1]


def test_generator_saves_and_loads_as_keras_file(tmp_path):
    model = models.build_model(config.MLPConfig(kind="ebgan", **SMALL))
    model.train_on_batch(_batch())
    path = tmp_path / "generator.keras"
    model.generator.save(path)
    loaded = keras.models.load_model(path)
    z = np.random.default_rng(0).normal(size=(4, 16)).astype(np.float32)
    np.testing.assert_allclose(loaded(z, training=False).numpy(),
                               model.generator(z, training=False).numpy(), atol=1e-6)


def test_mixed_precision_keeps_energies_float32():
    from ebgan_tf import distribute

    try:
        assert distribute.set_mixed_precision(True) == "mixed_bfloat16"
        model = models.build_model(config.MLPConfig(kind="ebgan_pt", **SMALL))
        logs = model.train_on_batch(_batch(), return_dict=True)
        rec, _ = model.discriminator(_batch(4), training=False)
        assert rec.dtype == tf.float32
        assert model.generator(tf.zeros((2, 16)), training=False).dtype == tf.float32
        assert all(np.isfinite(v) for v in logs.values())
    finally:
        distribute.set_mixed_precision(False)


def test_unknown_strategy_is_an_error():
    from ebgan_tf import distribute
    with pytest.raises(ValueError, match="--strategy"):
        distribute.make_strategy("horovod")


# --- optimizers ------------------------------------------------------------------------------

def _torch7_sgd(x, gradients, lr, m):
    """Torch7 optim.sgd (sgd.lua, dampening = momentum, no Nesterov/decay), written from its
    source: the first step copies the gradient into the buffer, later ones average into it."""
    buf = None
    for g in gradients:
        buf = g.copy() if buf is None else m * buf + (1 - m) * g
        x = x - lr * buf
    return x


def _undamped_sgd(x, gradients, lr, m):
    buf = np.zeros_like(x)
    for g in gradients:
        buf = m * buf - lr * g
        x = x + buf
    return x


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_sgd_dampening_follows_torch7_and_keras(momentum):
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(3, 4)).astype(np.float32)
    gradients = [rng.normal(size=(3, 4)).astype(np.float32) for _ in range(6)]
    for dampening, reference in (("torch", _torch7_sgd), ("keras", _undamped_sgd)):
        variable = tf.Variable(x0)
        optimizer = models.make_optimizer("sgd", 0.1, sgd_momentum=momentum,
                                          sgd_dampening=dampening)
        for g in gradients:
            optimizer.apply_gradients([(tf.constant(g), variable)])
        expected = reference(x0.astype(np.float64), gradients, 0.1, momentum)
        np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-5, atol=1e-6)
    if momentum:  # The two differ whenever there is momentum: undamped steps are larger.
        assert not np.allclose(_torch7_sgd(x0, gradients, 0.1, momentum),
                               _undamped_sgd(x0, gradients, 0.1, momentum), atol=1e-3)

