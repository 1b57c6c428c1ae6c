"""A MirroredStrategy step of the LN and of EBGAN-LN over 2 logical CPUs equals a single-device step.

The ladder's batch statistics are all-reduced over replicas and its costs are reduced with the
global batch, so splitting a batch over replicas must not change the update. Corruption noise is
off in that comparison (each replica draws its own), so it is exact up to float round-off; the
noise z rides with the data. With corruption on, the replicas must draw different noise. Logical
devices must be set before TensorFlow starts: the comparison runs in a fresh interpreter (this
file's `__main__`).
"""

import json

import pytest

import fresh_interpreter

# ebgan_ln_real: fakes normalised with the real batch's statistics, and the margin measured from
# the real energy of step 0 (all-reduced over replicas) and acting from step 1.
KINDS = ("ln", "ebgan_ln", "ebgan_ln_real")
TINY = (784, 32, 16, 10)


def _build(kind, margin, noise_std=0.0):
    import keras
    from ebgan_tf import ladder

    keras.utils.set_random_seed(7)
    net = ladder.LadderNetwork(TINY, noise_std=noise_std, seed=3)
    # SGD, because Adam's first step is lr * sign(g): round-off in tiny gradients flips whole steps.
    if kind == "ln":
        model = ladder.LadderClassifier(net, reconstruction_weight=1.0)
        model.compile(d_optimizer=keras.optimizers.SGD(0.05))
        return model
    gen = ladder.build_generator(noise_dim=8, width=16, output_dim=784, seed=5)
    if kind == "ebgan_ln":
        model = ladder.EBGANLadder(net, gen, 1.0, margin_factor=margin, margin_decay_steps=100)
    else:
        model = ladder.EBGANLadder(net, gen, 1.0, margin_factor=1.0, margin_decay_steps=100,
                                   margin_reference_steps=1, fake_batch_stats="real")
    model.compile(d_optimizer=keras.optimizers.SGD(0.05), g_optimizer=keras.optimizers.SGD(0.05))
    return model


def _variables(model):
    variables = list(model.ladder.variables)
    if hasattr(model, "generator"):
        # E_0 (~260 here) in thousands: float32 round-off of its all-reduced sum is relative.
        variables += list(model.generator.variables) + [model.energy_scale.value / 1e3]
    return variables


def _main():
    fresh_interpreter.start_two_logical_cpus()
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    batch = {"labelled": rng.uniform(0, 1, (20, 784)).astype(np.float32),
             "labels": rng.integers(0, 10, 20).astype(np.int32),
             "unlabelled": rng.uniform(0, 1, (24, 784)).astype(np.float32),
             "noise": rng.normal(size=(24, 8)).astype(np.float32)}
    mirrored = fresh_interpreter.mirrored_strategy()

    # The margin is the median initial fake energy, so the hinge is active for half of the batch:
    # its per-sample handling across replicas is exercised.
    probe = _build("ebgan_ln", 0.0)
    fake_energy = probe.ladder.energy(probe.generator(batch["noise"], training=True), 1.0).numpy()
    margin = float(np.median(fake_energy))
    # The single-device reference runs eagerly: two eager steps cost less than a trace.
    result = {kind: fresh_interpreter.mirrored_equivalence(
        lambda kind=kind: _build(kind, margin), batch, steps=2, variables=_variables,
        eager_reference=True) for kind in KINDS}
    with mirrored.scope():
        net = _build("ln", margin, noise_std=0.3).ladder
    # The draw `_corrupt` makes, in each replica of one traced step.
    draws = tf.function(lambda: mirrored.run(lambda: net.noise.normal([4])))()
    first, second = (t.numpy() for t in mirrored.experimental_local_results(draws))
    result["replicas_draw_the_same_noise"] = bool(np.array_equal(first, second))
    print("RESULT " + json.dumps(result))


@pytest.fixture(scope="module")
def equivalence_report():
    return fresh_interpreter.run_main(__file__)


@pytest.mark.parametrize("kind", KINDS)
def test_mirrored_two_replicas_equal_single_device(equivalence_report, kind):
    result = equivalence_report[kind]
    assert result["max_update"] > 1e-3, result  # Training moved the weights.
    assert result["max_abs_diff"] < 1e-5, result


def test_mirrored_replicas_draw_their_own_corruption_noise(equivalence_report):
    assert equivalence_report["replicas_draw_the_same_noise"] is False


if __name__ == "__main__":
    _main()
