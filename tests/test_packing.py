"""Trial packing: a packed trial reproduces its unpacked run, a diverged trial does not stop its
packmates, packs are a fixed function of the trial table, one scoring pass scores every trial as
alone, and a packed step is bitwise reproducible from run to run."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import fresh_interpreter
from ebgan_tf import metrics, models
from ebgan_tf.configs.mlp import MLPConfig
from ebgan_tf.data import streams
from ebgan_tf.data.mnist import synthetic_images
from ebgan_tf.experiments import mnist_grid, mnist_packs
from ebgan_tf.experiments.mnist_trials import Trial, TrialSet
from ebgan_tf.packed import PackedAdversarialModel, pack_key
from ebgan_tf.runs import engine
from ebgan_tf.runs.packs import Pack, form_packs

BASE = dict(n_layer_g=3, n_layer_d=3, size_g=64, size_d=32, seed=3, train_steps=20)


def _images():
    return tf.constant(synthetic_images(512, 32, 32, 1, seed=0))


def _unpacked(cfg, images, steps):
    keras.backend.clear_session()
    keras.utils.set_random_seed(cfg.seed)
    model = models.build_model(cfg)
    stream = streams.array_stream(images, cfg.batch_size, seed=cfg.seed, noise_dim=cfg.noise_dim)
    history = model.fit(stream, steps_per_epoch=steps, epochs=1, verbose=0)
    return model, {name: values[-1] for name, values in history.history.items()}


def _packed(configs, images, steps):
    networks = mnist_packs._initial_networks([Trial(c, log_every=steps) for c in configs])
    model = PackedAdversarialModel(configs)
    for k, (generator, discriminator) in enumerate(networks):
        model.load_trial(k, generator, discriminator)
    model.compile()
    keras.utils.set_random_seed(configs[0].seed)
    stream = streams.array_stream(images, configs[0].batch_size, seed=configs[0].seed,
                                  noise_dim=configs[0].noise_dim)
    history = model.fit(stream, steps_per_epoch=steps, epochs=1, verbose=0)
    return model, {name: np.asarray(values[-1]) for name, values in history.history.items()}


def _max_weight_difference(packed, k, unpacked, skip_pre_bn_biases=False):
    diffs = []
    for stack, network in ((packed.generator.stack, unpacked.generator),
                           (packed.discriminator.hidden, unpacked.discriminator),
                           (packed.discriminator.output_layer, unpacked.discriminator)):
        for spec, kernel, bias in zip(stack.specs, stack.kernels, stack.biases):
            layer = network.get_layer(spec.dense)
            diffs.append(np.max(np.abs(layer.kernel.numpy() - kernel[k].numpy())))
            if not (skip_pre_bn_biases and spec.batch_norm):
                diffs.append(np.max(np.abs(layer.bias.numpy() - bias[k].numpy())))
    return float(max(diffs))


@pytest.mark.parametrize("kind", ["ebgan", "gan"])
def test_sgd_trials_of_a_pack_follow_their_unpacked_runs(kind):
    # SGD is a continuous function of the gradients, so after many steps a packed trial is still
    # its unpacked run up to round-off: different learning rates, momentum undamped and
    # Torch-damped, dropout and (for EBGANs) the PT in one pack.
    base = MLPConfig(kind=kind, optim_d="sgd", optim_g="sgd", lr=1e-2, **BASE)
    configs = [base, base.replace(lr=3e-2), base.replace(sgd_momentum=0.9, lr=1e-3),
               base.replace(sgd_momentum=0.9, sgd_dampening="torch"), base.replace(dropout_d=True)]
    if kind == "ebgan":
        configs.append(base.replace(kind="ebgan_pt"))
    images = _images()
    packed, packed_logs = _packed(configs, images, steps=20)
    for k, cfg in enumerate(configs):
        unpacked, logs = _unpacked(cfg, images, steps=20)
        assert _max_weight_difference(packed, k, unpacked) < 1e-6, cfg
        for name, value in logs.items():
            assert packed_logs[name][k] == pytest.approx(float(value), rel=1e-5, abs=1e-6), name


def test_adam_trials_match_their_unpacked_step():
    # Adam's step lr * g / (|g| + eps) turns a round-off delta in a gradient near 0 into a step
    # difference of up to lr * delta / eps (eps = 1e-7): gradients at round-off level (a bias
    # just before batch norm, which the norm cancels) move by up to lr and are left out; every
    # other weight matches within 2 % of a step. After 20 steps the chaos of GAN training has
    # grown the round-off, as on another CPU type (the SGD test above shows the maths agree).
    base = MLPConfig(kind="ebgan", **BASE)
    configs = [base, base.replace(lr=1e-2), base.replace(dropout_d=True),
               base.replace(optim_g="sgd", lr=1e-2), base.replace(kind="ebgan_pt")]
    images = _images()
    packed, _ = _packed(configs, images, steps=1)
    for k, cfg in enumerate(configs):
        unpacked, _ = _unpacked(cfg, images, steps=1)
        assert _max_weight_difference(packed, k, unpacked, skip_pre_bn_biases=True) < 0.02 * cfg.lr


def test_a_diverged_trial_is_retired_and_its_packmates_train_on(mnist_data_dir, tmp_path):
    good = Trial(MLPConfig(kind="ebgan", n_layer_g=2, n_layer_d=2, size_g=64, size_d=32,
                           train_steps=20), num_eval_samples=64, log_every=10)
    # Plain SGD at lr 1e6 on the auto-encoder energy overflows within a few steps.
    bad = Trial(good.config.replace(optim_d="sgd", optim_g="sgd", lr=1e6), num_eval_samples=64,
                log_every=10)
    experiment = TrialSet((good, bad))
    execution = engine.Execution(executor="inline", pack=True)
    runtime = engine.Runtime(data_dir=str(mnist_data_dir), deterministic=False,
                             save_generators="none")
    engine.run_all(experiment, tmp_path, runtime, execution, print_fn=lambda _: None)
    frame = engine.write_results(experiment, tmp_path)
    assert frame["status"].tolist() == ["ok", "diverged"]
    assert frame["log_is"][0] >= 0 and np.isnan(frame["log_is"][1])
    rows = (tmp_path / "trials" / good.trial_id / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("step,")


def test_packs_are_a_fixed_function_of_the_trial_table():
    experiment = mnist_grid.GridExperiment(mnist_grid.SCALES["cpu"])
    trials = experiment.specs()
    packs = form_packs(experiment, trials, 24)
    again = form_packs(experiment, list(trials), 24)
    assert [p.run_id for p in packs] == [p.run_id for p in again]
    assert sorted(t.trial_id for p in packs for t in p.specs) == sorted(t.trial_id for t in trials)
    # GANs of one architecture share a pack across the 12 optimizer settings and dropout;
    # EBGAN and EBGAN-PT share theirs.
    assert all(isinstance(p, Pack) and len({pack_key(t.config) for t in p.specs}) == 1
               for p in packs)
    assert len(packs) == 16 + 16  # Per architecture: 4 EBGAN(-PT) trials, 24 GAN trials.
    assert {len(p.specs) for p in packs} == {4, 24}


def test_scoring_in_one_pass_scores_each_generator_as_alone():
    cfg = MLPConfig(kind="ebgan", **BASE)
    keras.utils.set_random_seed(0)
    generators = [models.build_model(cfg.replace(seed=s)).generator for s in (1, 2)]
    together = metrics.evaluate_generators(
        lambda z: np.stack([g(z, training=False).numpy() for g in generators]), 2, 100,
        num_samples=600, seed=5)
    for generator, result in zip(generators, together):
        assert result == metrics.evaluate_generator(generator, num_samples=600, seed=5)


def _packed_xla_run():
    """A pack's XLA-compiled steps under op determinism, in this (fresh) process."""
    tf.config.experimental.enable_op_determinism()
    base = MLPConfig(kind="ebgan_pt", **BASE)
    configs = [base, base.replace(lr=1e-2, dropout_d=True), base.replace(optim_d="sgd")]
    networks = mnist_packs._initial_networks([Trial(c, log_every=5) for c in configs])
    model = PackedAdversarialModel(configs)
    for k, (generator, discriminator) in enumerate(networks):
        model.load_trial(k, generator, discriminator)
    model.compile(jit_compile=True, steps_per_execution=5)
    keras.utils.set_random_seed(3)
    model.fit(streams.array_stream(_images(), 64, seed=3, noise_dim=100), steps_per_epoch=5,
              epochs=2, verbose=0)
    weights = [v.numpy() for v in model.generator.trainable_variables
               + model.discriminator.trainable_variables]
    return {"compiled_with_xla": bool(model.jit_compile),
            "checksum": [float(np.sum(w.astype(np.float64) ** 2)) for w in weights],
            "bytes": [w.tobytes().hex()[:64] for w in weights]}


def test_an_xla_compiled_pack_is_bitwise_reproducible_from_run_to_run():
    first, second = fresh_interpreter.run_main(__file__), fresh_interpreter.run_main(__file__)
    assert first["compiled_with_xla"]
    assert first == second


if __name__ == "__main__":
    print("RESULT " + json.dumps(_packed_xla_run()))
