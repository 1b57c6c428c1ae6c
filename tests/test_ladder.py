"""The ladder's loss terms against NumPy, the network's batch-norm bookkeeping and corruption
noise, and the LN / EBGAN-LN steps: what each update changes, EBGAN-LN at m = 0 equals the LN,
and learning."""

import numpy as np
import pytest
import keras
import tensorflow as tf

from ebgan_tf import ladder
from ebgan_tf.configs.ladder import STANDARD_LAYER_SIZES

TINY = (784, 32, 16, 10)


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _np_softmax_ce(labels, logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(labels)), labels]


def _batch(rng, n_lab=20, n_unlab=24, noise_dim=None):
    batch = {"labelled": rng.uniform(0, 1, (n_lab, 784)).astype(np.float32),
             "labels": rng.integers(0, 10, n_lab).astype(np.int32),
             "unlabelled": rng.uniform(0, 1, (n_unlab, 784)).astype(np.float32)}
    if noise_dim:
        batch["noise"] = rng.normal(size=(n_unlab, noise_dim)).astype(np.float32)
    return batch


# --- pure loss terms vs NumPy ------------------------------------------------------------------

def test_denoising_cost_matches_numpy():
    rng = np.random.default_rng(0)
    clean = rng.uniform(0, 1, (5, 28, 28, 1)).astype(np.float32)
    recon = rng.normal(size=(5, 784)).astype(np.float32)
    expected = 0.7 * ((recon - clean.reshape(5, -1)) ** 2).sum(axis=1)
    got = ladder.denoising_cost(clean.reshape(5, 784), recon, 0.7).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert got.shape == (5,)
    # Any shape per sample is flattened; a perfect reconstruction costs 0.
    np.testing.assert_allclose(ladder.denoising_cost(clean, recon.reshape(5, 28, 28, 1), 0.7), expected,
                               rtol=1e-5)
    assert np.all(ladder.denoising_cost(clean, clean, 3.0).numpy() == 0.0)


def test_classification_cost_matches_numpy():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(7, 10)).astype(np.float32) * 3
    labels = rng.integers(0, 10, 7)
    np.testing.assert_allclose(ladder.classification_cost(labels, logits).numpy(),
                               _np_softmax_ce(labels, logits.astype(np.float64)), rtol=1e-5)


def test_vanilla_combinator_matches_numpy():
    rng = np.random.default_rng(2)
    z, u = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    a = rng.normal(size=(10, 6))
    mu = a[0] * _np_sigmoid(a[1] * u + a[2]) + a[3] * u + a[4]
    v = a[5] * _np_sigmoid(a[6] * u + a[7]) + a[8] * u + a[9]
    expected = (z - mu) * v + mu
    got = ladder.vanilla_combinator(*(tf.constant(t, tf.float32) for t in (z, u, a))).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_margin_schedule_matches_numpy():
    steps = np.array([0, 1, 50, 99, 100, 101, 1000])
    expected = 12.0 * np.maximum(0.0, 1.0 - steps / 100.0)
    got = [float(ladder.margin_at(tf.constant(s, tf.int64), 12.0, 100)) for s in steps]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert float(ladder.margin_at(5, 12.0, 0)) == 0.0
    # Delayed: 0 before `begin`, m_0 at `begin`, 0 again at `decay_steps`.
    got = [float(ladder.margin_at(s, tf.constant(8.0), 300, begin=100)) for s in (0, 99, 100, 200, 300)]
    np.testing.assert_allclose(got, [0.0, 0.0, 8.0, 4.0, 0.0], rtol=1e-6)
    assert float(ladder.margin_at(150, 8.0, 100, begin=100)) == 0.0


def test_learning_rate_is_constant_then_decays_linearly_to_zero():
    schedule = ladder.LinearDecayTail(0.002, total_steps=300, decay_fraction=1 / 3)
    got = [float(schedule(tf.constant(s))) for s in (0, 199, 200, 250, 300, 400)]
    np.testing.assert_allclose(got, [0.002, 0.002, 0.002, 0.001, 0.0, 0.0], atol=1e-9)


def test_config_validates_and_run_ids_differ_per_setting():
    cfg = ladder.LadderConfig()
    assert cfg.run_id == ladder.LadderConfig().run_id
    assert len({cfg.run_id, cfg.replace(seed=1).run_id, cfg.replace(kind="ebgan_ln").run_id,
                cfg.replace(margin_factor=5.0).run_id,
                cfg.replace(fake_batch_stats="real").run_id}) == 5
    assert cfg.replace(train_steps=1000, margin_decay_fraction=0.25).margin_decay_steps == 250
    for bad in (dict(kind="gan"), dict(num_labels=105), dict(layer_sizes=(784, 5)),
                dict(margin_factor=-1.0), dict(margin_decay_fraction=2.0), dict(train_steps=0),
                dict(fake_batch_stats="mixed"), dict(lambda0_by_labels="100-5000"),
                dict(lambda0_by_labels="0:10"), dict(validation_images=60_000),
                # The margin would be 0 throughout: the reference window outlasts the decay.
                dict(kind="ebgan_ln", train_steps=300, margin_reference_steps=200)):
        with pytest.raises(ValueError):
            ladder.LadderConfig(**bad)
    # The control shares the settings, but its margin is 0 whatever margin_factor says.
    assert cfg.replace(kind="control", train_steps=300).effective_margin_factor == 0.0
    assert cfg.replace(kind="ebgan_ln").effective_margin_factor == cfg.margin_factor


def test_lambda0_follows_the_label_count():
    cfg = ladder.LadderConfig(lambda0_by_labels="1000:2000,100:5000")
    # The entry of the largest listed count <= the run's; below every entry, the smallest's.
    assert [cfg.replace(num_labels=n).lambda0 for n in (10, 100, 200, 990, 1000, 60000)] == [
        5000.0, 5000.0, 5000.0, 5000.0, 2000.0, 2000.0]
    assert cfg.replace(num_labels=1000).reconstruction_weight == pytest.approx(2000.0 / 784)
    assert ladder.LadderConfig().replace(num_labels=200).lambda0 == 5000.0


# --- the network --------------------------------------------------------------------------------

def test_network_shapes_and_decoder_starts_at_zero():
    net = ladder.LadderNetwork(STANDARD_LAYER_SIZES, noise_std=0.3, seed=0)
    x = np.random.default_rng(3).uniform(0, 1, (8, 784)).astype(np.float32)
    logits, zs, top = net.encode(x, 0.3)
    assert logits.shape == (8, 10) and [z.shape[1] for z in zs] == list(STANDARD_LAYER_SIZES)
    np.testing.assert_allclose(top.numpy().sum(axis=1), 1.0, rtol=1e-5)
    # The reference initialisation (a2 = a7 = 1, the rest 0) makes x_hat = 0, so D(x) = w * ||x||^2.
    np.testing.assert_allclose(net.energy(x, 2.0).numpy(), 2.0 * (x ** 2).sum(axis=1), rtol=1e-5)
    # 784*1000 + 1000*500 + 500*250 + 2*250*250 + 250*10, twice (W and V), plus per-unit parameters.
    weights = sum(a * b for a, b in zip(STANDARD_LAYER_SIZES, STANDARD_LAYER_SIZES[1:]))
    assert weights == 1_536_500
    n_units = sum(STANDARD_LAYER_SIZES)
    assert sum(int(np.prod(v.shape)) for v in net.trainable_variables) == (
        2 * weights + 10 * n_units + (n_units - 784) + 10)


def test_calibration_gives_population_statistics_of_the_clean_encoder():
    net = ladder.LadderNetwork(TINY, noise_std=0.3, seed=1)
    for beta in net.betas:
        beta.assign(np.random.default_rng(4).normal(size=beta.shape).astype(np.float32))
    x = np.random.default_rng(5).uniform(0, 1, (500, 784)).astype(np.float32)
    net.calibrate(x)
    # Independent NumPy forward pass for layer 1 statistics.
    pre1 = x.astype(np.float64) @ net.encoder_weights[0].numpy()
    np.testing.assert_allclose(net.population_mean[0].numpy(), pre1.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(net.population_variance[0].numpy(), pre1.var(0), rtol=1e-3)
    # On the calibration set itself, population statistics give the clean batch-statistics logits.
    np.testing.assert_allclose(net.classify(x).numpy(), net.encode(x, 0.0)[0].numpy(),
                               rtol=1e-3, atol=1e-3)
    # Population statistics make a test example's prediction independent of its batch.
    np.testing.assert_allclose(net.classify(x[:1]).numpy(), net.classify(x[:50]).numpy()[:1],
                               rtol=1e-5, atol=1e-5)


def test_corruption_is_applied_only_when_asked():
    net = ladder.LadderNetwork(TINY, noise_std=0.3, seed=1)
    x = np.random.default_rng(6).uniform(0, 1, (16, 784)).astype(np.float32)
    clean_a, clean_b = net.encode(x, 0.0)[0].numpy(), net.encode(x, 0.0)[0].numpy()
    np.testing.assert_array_equal(clean_a, clean_b)
    assert np.abs(net.corrupted_logits(x).numpy() - clean_a).max() > 1e-2


def test_corruption_noise_is_seeded_fresh_per_draw_and_restored_with_a_checkpoint(tmp_path):
    x = np.random.default_rng(6).uniform(0, 1, (16, 784)).astype(np.float32)
    net, twin, other = (ladder.LadderNetwork(TINY, noise_std=0.3, seed=s) for s in (1, 1, 2))
    first = net.corrupted_logits(x).numpy()
    np.testing.assert_array_equal(first, twin.corrupted_logits(x).numpy())
    assert not np.array_equal(first, other.encode(x, 0.3)[0].numpy())
    saved = tf.train.Checkpoint(ladder=net).save(str(tmp_path / "ckpt"))
    after_save = [net.corrupted_logits(x).numpy() for _ in range(2)]
    assert not np.array_equal(after_save[0], after_save[1])  # Each draw is new noise...
    restored = ladder.LadderNetwork(TINY, noise_std=0.3, seed=1)
    tf.train.Checkpoint(ladder=restored).restore(saved).assert_existing_objects_matched()
    for expected in after_save:  # ...and a restored network draws what the saved one drew next.
        np.testing.assert_array_equal(restored.corrupted_logits(x).numpy(), expected)


# --- the models ---------------------------------------------------------------------------------

def _models(margin, noise_std=0.0, lr=0.05, decay_steps=100, reference_steps=0,
            fake_batch_stats="own"):
    """An LN and an EBGAN-LN with identical initial ladders, plain SGD, no corruption noise;
    `margin` is m_0 itself (no reference window) unless `reference_steps` > 0.

    Eager steps: a few steps of these tiny models cost less than tracing the step (the traced
    step runs in tests/test_ladder_distribute.py and in the smoke run)."""
    out = []
    for kind in ("ln", "ebgan_ln"):
        keras.utils.set_random_seed(11)
        net = ladder.LadderNetwork(TINY, noise_std=noise_std, seed=3)
        if kind == "ln":
            model = ladder.LadderClassifier(net, reconstruction_weight=1.0)
            model.compile(d_optimizer=keras.optimizers.SGD(lr), run_eagerly=True)
        else:
            gen = ladder.build_generator(noise_dim=8, width=16, output_dim=784, seed=5)
            model = ladder.EBGANLadder(net, gen, 1.0, margin_factor=margin,
                                       margin_decay_steps=decay_steps,
                                       margin_reference_steps=reference_steps,
                                       fake_batch_stats=fake_batch_stats)
            model.compile(d_optimizer=keras.optimizers.SGD(lr), g_optimizer=keras.optimizers.SGD(lr),
                          run_eagerly=True)
        out.append(model)
    return out


def _fit(model, batch, steps=2):
    ds = tf.data.Dataset.from_tensors(batch).repeat(steps)
    return model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False).history


def _weights(variables):
    return [v.numpy().copy() for v in variables]


def _max_diff(xs, ys):
    return max(float(np.max(np.abs(a - b))) for a, b in zip(xs, ys))


def test_ebgan_ln_at_zero_margin_updates_the_ladder_exactly_as_the_ln():
    batch = _batch(np.random.default_rng(7), noise_dim=8)
    ln, ebgan_ln = _models(margin=0.0)
    before = _weights(ln.ladder.trainable_variables)
    g_before = _weights(ebgan_ln.generator.trainable_variables)
    _fit(ln, batch)
    history = _fit(ebgan_ln, batch)
    assert _max_diff(before, _weights(ln.ladder.trainable_variables)) > 1e-3
    assert _max_diff(_weights(ln.ladder.trainable_variables),
                     _weights(ebgan_ln.ladder.trainable_variables)) < 1e-6
    # G still trains on D(G(z)) while the margin is 0, but cannot move D.
    assert _max_diff(g_before, _weights(ebgan_ln.generator.trainable_variables)) > 1e-6
    assert history["margin"][-1] == 0.0


def test_positive_margin_changes_the_ladder_update_and_stop_adversarial_freezes_g():
    batch = _batch(np.random.default_rng(8), noise_dim=8)
    ln, ebgan_ln = _models(margin=1e4)
    _fit(ln, batch)
    history = _fit(ebgan_ln, batch)
    # With m far above D(G(z)), the hinge pushes fake energies up: a different D update.
    assert _max_diff(_weights(ln.ladder.trainable_variables),
                     _weights(ebgan_ln.ladder.trainable_variables)) > 1e-4
    assert 0.0 < history["margin"][-1] < 1e4 and history["fake_energy"][-1] > 0
    ebgan_ln.stop_adversarial()
    g_before = _weights(ebgan_ln.generator.trainable_variables)
    d_before = _weights(ebgan_ln.ladder.trainable_variables)
    _fit(ebgan_ln, batch)
    assert _max_diff(g_before, _weights(ebgan_ln.generator.trainable_variables)) == 0.0
    assert _max_diff(d_before, _weights(ebgan_ln.ladder.trainable_variables)) > 1e-5


def test_margin_is_tied_to_the_real_energy_of_the_reference_window():
    """K = 4: the margin is 0 for steps 0-3, E_0 is the mean D(x) of steps 2-3, then
    m = factor x E_0, decaying; the hinge logs agree with the energies."""
    rng = np.random.default_rng(12)
    batches = [_batch(rng, noise_dim=8) for _ in range(6)]
    _, model = _models(margin=1.5, reference_steps=4, decay_steps=10)
    logs = [{k: v[-1] for k, v in _fit(model, b, steps=1).items()} for b in batches]
    energy_0 = np.mean([logs[2]["denoising_cost"], logs[3]["denoising_cost"]])
    assert float(model.energy_scale) == pytest.approx(energy_0, rel=1e-5)
    assert [round(r["margin"], 6) for r in logs[:4]] == [0.0] * 4
    assert logs[4]["margin"] == pytest.approx(1.5 * energy_0, rel=1e-5)
    assert logs[5]["margin"] == pytest.approx(1.5 * energy_0 * (1 - 1 / 6), rel=1e-5)
    for r in logs:
        assert 0.0 <= r["hinge_active"] <= 1.0 and r["hinge"] >= 0.0
        if r["margin"] == 0.0:
            assert r["hinge_active"] == 0.0 and r["hinge"] == 0.0
    # A margin far above D(G(z)): every fake is under it, and the mean hinge is m - D(G(z)).
    _, high = _models(margin=1e6)
    history = _fit(high, batches[0], steps=1)
    assert history["hinge_active"][-1] == 1.0
    assert history["hinge"][-1] == pytest.approx(1e6 - history["fake_energy"][-1], rel=1e-6)


def test_fakes_normalised_with_real_statistics():
    net = ladder.LadderNetwork(TINY, noise_std=0.0, seed=4)
    rng = np.random.default_rng(13)
    for a in net.combinator:  # Away from the initialisation, whose x_hat is 0 for any input.
        a.assign(rng.normal(size=a.shape).astype(np.float32))
    real = rng.uniform(0, 1, (32, 784)).astype(np.float32)
    fake = rng.uniform(0, 0.2, (32, 784)).astype(np.float32)  # Another distribution.
    energy, moments = net.energy_and_moments(real, 1.0)
    # 3 encoder layers, then the decoder's 4 (top to input); given its own statistics, a batch's
    # energy is unchanged.
    assert len(moments) == 2 * len(TINY) - 1
    np.testing.assert_allclose(net.energy(real, 1.0, moments).numpy(), energy.numpy(), rtol=1e-6)
    own, with_real = net.energy(fake, 1.0).numpy(), net.energy(fake, 1.0, moments).numpy()
    assert np.abs(own - with_real).max() > 1e-3 * np.abs(own).max()
    # In training, "real" statistics change D's update.
    batch = _batch(np.random.default_rng(14), noise_dim=8)
    updated = []
    for stats in ("own", "real"):
        _, model = _models(margin=1e3, fake_batch_stats=stats)
        _fit(model, batch)
        updated.append(_weights(model.ladder.trainable_variables))
    assert _max_diff(*updated) > 1e-5


def test_the_hinge_raises_fake_energy_under_the_margin():
    """Against a fixed generator, D trained with a large margin assigns fakes more energy."""
    rng = np.random.default_rng(9)
    batch = _batch(rng, noise_dim=8)
    _, low = _models(margin=0.0, lr=0.02)
    _, high = _models(margin=500.0, lr=0.02, decay_steps=10_000)
    for model in (low, high):
        model.g_optimizer.learning_rate.assign(0.0)
        _fit(model, batch, steps=10)
    fake = low.generate(batch["noise"])
    np.testing.assert_allclose(fake.numpy(), high.generate(batch["noise"]).numpy(), atol=1e-6)
    low_energy = float(tf.reduce_mean(low.ladder.energy(fake, 1.0)))
    high_energy = float(tf.reduce_mean(high.ladder.energy(fake, 1.0)))
    assert high_energy > low_energy * 1.5, (low_energy, high_energy)


def test_ln_learns_a_separable_ten_class_problem():
    rng = np.random.default_rng(10)
    centres = rng.uniform(0, 1, (10, 784)).astype(np.float32)

    def sample(n):
        y = rng.integers(0, 10, n)
        return np.clip(centres[y] + 0.2 * rng.normal(size=(n, 784)), 0, 1).astype(np.float32), y

    x_lab, y_lab = sample(50)
    x_test, y_test = sample(500)
    cfg = ladder.LadderConfig(layer_sizes=TINY, train_steps=60, lr=0.01, labelled_batch_size=50,
                              unlabelled_batch_size=50)
    keras.utils.set_random_seed(0)
    model = ladder.build_model(cfg)
    ds = tf.data.Dataset.from_tensors({"labelled": x_lab, "labels": y_lab.astype(np.int32),
                                       "unlabelled": sample(50)[0]}).repeat()
    history = model.fit(ds, steps_per_epoch=30, epochs=2, verbose=0, shuffle=False).history
    assert history["loss"][-1] < history["loss"][0]
    model.ladder.calibrate(x_test)
    error = np.mean(np.argmax(model.ladder.classify(x_test).numpy(), 1) != y_test)
    assert error < 0.1, error
