"""A MirroredStrategy step over 2 logical CPUs equals a single-device step on the same global batch.

Logical devices must be configured before TensorFlow starts, so the comparison runs in a fresh
interpreter (this file's `__main__`), which prints the largest variable difference per model.
"""

import json

import pytest

import fresh_interpreter

KINDS = ("ebgan", "ebgan_pt", "gan")


def _config(kind):
    from ebgan_tf.configs import mlp as config
    # SGD, because Adam's first step is lr * sign(g): float round-off in near-zero gradients
    # flips whole steps, which would hide the aggregation this test is about.
    return config.MLPConfig(kind=kind, n_layer_g=3, size_g=64, n_layer_d=3, size_d=32,
                            optim_d="sgd", optim_g="sgd", lr=0.1, seed=3)


def _build(kind):
    import keras

    from ebgan_tf import models
    keras.utils.set_random_seed(7)  # Identical initial weights for both runs.
    return models.build_model(_config(kind))


def _weights(model):
    return model.generator.variables + model.discriminator.variables


def _main():
    fresh_interpreter.start_two_logical_cpus()
    import numpy as np
    import tensorflow as tf
    from ebgan_tf.data import mnist as data

    batch = (data.synthetic_images(16, seed=1),
             np.random.default_rng(2).normal(size=(16, 100)).astype(np.float32))
    report = {kind: fresh_interpreter.mirrored_equivalence(
        lambda kind=kind: _build(kind), batch, steps=2, variables=_weights) for kind in KINDS}
    # The PT must change the result, else its cross-replica handling goes untested.
    pt, plain = (_build(kind) for kind in ("ebgan_pt", "ebgan"))
    for model in (pt, plain):
        model.fit(tf.data.Dataset.from_tensors(batch).repeat(2), steps_per_epoch=2, epochs=1,
                  verbose=0)
    report["ebgan_pt"]["pt_effect"] = max(float(np.max(np.abs(np.array(a) - np.array(b))))
                                          for a, b in zip(_weights(pt), _weights(plain)))
    print("RESULT " + json.dumps(report))


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
