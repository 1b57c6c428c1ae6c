"""Each loss against an independent NumPy computation (loops, not the vectorised TF formulas)."""

import numpy as np
import pytest
import tensorflow as tf

from ebgan_tf import losses

RNG = np.random.default_rng(0)


def _np_energy(x, rec, reduction):
    out = []
    for xi, ri in zip(x, rec):
        d = (ri - xi).ravel().astype(np.float64)
        sse = float(np.dot(d, d))
        out.append({"l2": np.sqrt(sse), "sse": sse, "mse": sse / d.size}[reduction])
    return np.array(out)


@pytest.mark.parametrize("reduction", ["l2", "mse", "sse"])
def test_autoencoder_energy_matches_numpy(reduction):
    x = RNG.uniform(-1, 1, (5, 8, 8, 1)).astype(np.float32)
    rec = RNG.normal(size=(5, 8, 8, 1)).astype(np.float32)
    got = losses.autoencoder_energy(x, rec, reduction).numpy()
    assert got.shape == (5,)
    np.testing.assert_allclose(got, _np_energy(x, rec, reduction), rtol=1e-5)


def test_l2_energy_gradient_is_finite_at_perfect_reconstruction():
    x = tf.constant(RNG.normal(size=(3, 4)).astype(np.float32))
    rec = tf.Variable(x)
    with tf.GradientTape() as tape:
        energy = tf.reduce_sum(losses.autoencoder_energy(x, rec, "l2"))
    assert np.all(np.isfinite(tape.gradient(energy, rec).numpy()))


def test_stop_gradient_target_removes_only_the_target_path():
    x = tf.Variable(RNG.normal(size=(2, 6)).astype(np.float32))
    w = 2.0
    for stop in (False, True):
        with tf.GradientTape() as tape:
            e = tf.reduce_sum(losses.autoencoder_energy(x, w * x, "sse", stop))
        # e = sum((w x - x)^2): d/dx = 2 (w-1)^2 x; with x detached as target, 2 (w-1) w x.
        expected = 2 * (w - 1) * (w if stop else w - 1) * x.numpy()
        np.testing.assert_allclose(tape.gradient(e, x).numpy(), expected, rtol=1e-5)


def test_energy_rejects_unknown_reduction():
    with pytest.raises(ValueError, match="reduction"):
        losses.autoencoder_energy(tf.zeros((1, 2)), tf.zeros((1, 2)), "l1")


def test_discriminator_loss_hinges_each_sample():
    real = np.array([1.0, 2.0, 0.5, 3.0], np.float32)
    fake = np.array([4.0, 12.0, 9.5, 30.0], np.float32)
    m = 10.0
    expected = np.array([r + max(0.0, m - f) for r, f in zip(real, fake)])
    got = losses.ebgan_discriminator_loss(real, fake, m).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # The batch-mean variant differs here: mean fake energy 13.875 > m hides the 4.0 and 9.5 fakes.
    batch_mean = losses.ebgan_discriminator_loss(real, fake, m, hinge="batch_mean").numpy()
    np.testing.assert_allclose(batch_mean, real + max(0.0, m - fake.mean()), rtol=1e-6)
    assert not np.allclose(batch_mean, got)


def test_discriminator_loss_rejects_unknown_hinge():
    with pytest.raises(ValueError, match="hinge"):
        losses.ebgan_discriminator_loss(tf.zeros(2), tf.zeros(2), 1.0, hinge="mean")


def test_generator_loss_is_fake_energy():
    fake = RNG.uniform(0, 20, 7).astype(np.float32)
    np.testing.assert_allclose(losses.ebgan_generator_loss(fake).numpy(), fake)


def _np_pt(codes, squared=True):
    n = len(codes)
    total = 0.0
    for i in range(n):
        for j in range(n):
            if i != j:
                c = np.dot(codes[i], codes[j]) / (np.linalg.norm(codes[i]) * np.linalg.norm(codes[j]))
                total += c ** 2 if squared else c
    return total / (n * (n - 1))


@pytest.mark.parametrize("squared", [True, False])
def test_pulling_away_term_matches_numpy(squared):
    codes = RNG.normal(size=(6, 10)).astype(np.float32)
    got = float(losses.pulling_away_term(codes, squared=squared))
    np.testing.assert_allclose(got, _np_pt(codes.astype(np.float64), squared), rtol=1e-5)


def test_pulling_away_term_bounds_and_scale_invariance():
    v = RNG.normal(size=(1, 16)).astype(np.float32)
    identical = np.repeat(v, 5, axis=0)
    np.testing.assert_allclose(float(losses.pulling_away_term(identical)), 1.0, rtol=1e-5)
    orthogonal = np.eye(8, 16, dtype=np.float32) * 3.0
    np.testing.assert_allclose(float(losses.pulling_away_term(orthogonal)), 0.0, atol=1e-7)
    codes = RNG.normal(size=(6, 10)).astype(np.float32)
    scales = RNG.uniform(0.01, 100, (6, 1)).astype(np.float32)
    np.testing.assert_allclose(float(losses.pulling_away_term(codes * scales)),
                               float(losses.pulling_away_term(codes)), rtol=1e-5)


def test_pulling_away_term_flattens_conv_codes():
    codes = RNG.normal(size=(4, 2, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(float(losses.pulling_away_term(codes)),
                               _np_pt(codes.reshape(4, -1).astype(np.float64)), rtol=1e-5)


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_gan_losses_match_numpy():
    real = RNG.normal(size=(6, 1)).astype(np.float32)
    fake = RNG.normal(size=(6, 1)).astype(np.float32)
    r, f = real.ravel().astype(np.float64), fake.ravel().astype(np.float64)
    np.testing.assert_allclose(losses.gan_discriminator_loss(real, fake).numpy(),
                               -np.log(_np_sigmoid(r)) - np.log(1 - _np_sigmoid(f)), rtol=1e-5)
    np.testing.assert_allclose(losses.gan_generator_loss(fake).numpy(),
                               -np.log(_np_sigmoid(f)), rtol=1e-5)
    np.testing.assert_allclose(losses.gan_generator_loss(fake, "minimax").numpy(),
                               np.log(1 - _np_sigmoid(f)), rtol=1e-5)
    with pytest.raises(ValueError, match="GAN loss"):
        losses.gan_generator_loss(fake, "wasserstein")
