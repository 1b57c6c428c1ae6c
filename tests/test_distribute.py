"""A MirroredStrategy step over 2 logical CPUs equals a single-device step on the same global batch.

Logical devices must be configured before TensorFlow starts, so the comparison runs in a fresh
interpreter (this file's `__main__`), which prints the largest variable difference per model.
"""

import json

import pytest

import fresh_interpreter

KINDS = ("ebgan", "ebgan_pt", "gan")


def _one_step_variables(kind, strategy, images, noise):
    import numpy as np
    import keras
    from ebgan_tf import models

    cfg = _config(kind)
    keras.utils.set_random_seed(7)  # Identical initial weights for both runs.
    with strategy.scope():
        model = models.build_model(cfg)
    import tensorflow as tf
    ds = tf.data.Dataset.from_tensors((images, noise)).repeat(2)
    model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)
    return [np.array(v) for v in model.generator.variables + model.discriminator.variables]


def _config(kind):
    from ebgan_tf.configs import mlp as config
    # SGD, because Adam's first step is lr * sign(g): float round-off in near-zero gradients
    # flips whole steps, which would hide the aggregation this test is about.
    return config.MLPConfig(kind=kind, n_layer_g=3, size_g=64, n_layer_d=3, size_d=32,
                            optim_d="sgd", optim_g="sgd", lr=0.1, seed=3)


def _main():
    from ebgan_tf import distribute
    distribute.configure_logical_cpus(2)
    import numpy as np
    import tensorflow as tf
    from ebgan_tf.data import mnist as data

    images = data.synthetic_images(16, seed=1)
    noise = np.random.default_rng(2).normal(size=(16, 100)).astype(np.float32)
    mirrored = distribute.make_strategy("mirrored")
    assert mirrored.num_replicas_in_sync == 2, mirrored.num_replicas_in_sync
    def max_diff(xs, ys):
        return max(float(np.max(np.abs(a - b))) for a, b in zip(xs, ys))

    report, single = {}, {}
    for kind in KINDS:
        single[kind] = _one_step_variables(kind, tf.distribute.OneDeviceStrategy("/cpu:0"),
                                           images, noise)
        split = _one_step_variables(kind, mirrored, images, noise)
        report[kind] = {"max_abs_diff": max_diff(single[kind], split),
                        "max_update": max_diff(single[kind], _initial(kind))}
    # The PT must change the result, else its cross-replica handling goes untested.
    report["ebgan_pt"]["pt_effect"] = max_diff(single["ebgan"], single["ebgan_pt"])
    print("RESULT " + json.dumps(report))


def _initial(kind):
    import keras
    import numpy as np
    from ebgan_tf import models
    cfg = _config(kind)
    keras.utils.set_random_seed(7)
    model = models.build_model(cfg)
    return [np.array(v) for v in model.generator.variables + model.discriminator.variables]


@pytest.fixture(scope="module")
def equivalence_report():
    return fresh_interpreter.run_main(__file__)


@pytest.mark.parametrize("kind", KINDS)
def test_mirrored_two_replicas_equal_single_device(equivalence_report, kind):
    result = equivalence_report[kind]
    # Two steps of training must have moved the weights, else equality proves nothing.
    assert result["max_update"] > 1e-3
    assert result["max_abs_diff"] < 1e-5, result
    if kind == "ebgan_pt":
        assert result["pt_effect"] > 1e-4, result


if __name__ == "__main__":
    _main()
