"""A conv EBGAN-PT step under MirroredStrategy on 2 logical CPUs equals a single-device step.

As in tests/test_distribute.py, the logical devices must exist before TensorFlow starts, so the
comparison runs in a fresh interpreter (this file's `__main__`).
"""

import json

import pytest

import fresh_interpreter

# EBGAN-PT holds everything distribution can get wrong in a conv model: synchronised batch norm
# over conv maps, and the PT's all-gather of codes. The GAN losses under a strategy are
# tests/test_distribute.py's; a DCGAN here would add ~30 s on CI's two cores and nothing else.
KINDS = ("ebgan_pt",)
# One step (a D update, then a G update through the updated D). From the second step on, float32
# round-off (synchronised batch norm computes E[x²] − E[x]² over replicas) is amplified by the
# large L2 energies to ~1e-4, which would hide nothing but would need a loose tolerance.
STEPS = 1


def _variables_after_training(kind, strategy, images, noise):
    import keras
    import numpy as np
    import tensorflow as tf
    from ebgan_tf import models
    from ebgan_tf.experiments.conv_figures import ConvFigures

    smoke = ConvFigures("fig6_fig14_celeba", "smoke", kinds=(kind,)).specs()[0].config
    cfg = smoke.replace(width_divisor=32, batch_size=8)
    keras.utils.set_random_seed(7)
    with strategy.scope():
        model = models.build_model(cfg)
        # SGD: Adam's first step is lr * sign(g), which turns round-off into whole steps.
        model.compile(d_optimizer=keras.optimizers.SGD(0.01), g_optimizer=keras.optimizers.SGD(0.01))
    initial = [np.array(v) for v in model.generator.variables + model.discriminator.variables]
    ds = tf.data.Dataset.from_tensors((images, noise)).repeat(STEPS)
    model.fit(ds, steps_per_epoch=STEPS, epochs=1, verbose=0)
    final = [np.array(v) for v in model.generator.variables + model.discriminator.variables]
    return initial, final


def _main():
    from ebgan_tf import distribute
    distribute.configure_logical_cpus(2)
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (8, 64, 64, 3)).astype(np.float32)
    noise = rng.standard_normal((8, 100)).astype(np.float32)
    mirrored = distribute.make_strategy("mirrored")
    assert mirrored.num_replicas_in_sync == 2

    def max_diff(xs, ys):
        return max(float(np.max(np.abs(a - b))) for a, b in zip(xs, ys))

    out = {}
    for kind in KINDS:
        initial, single = _variables_after_training(
            kind, tf.distribute.OneDeviceStrategy("/cpu:0"), images, noise)
        _, split = _variables_after_training(kind, mirrored, images, noise)
        scale = max(float(np.max(np.abs(a))) for a in single)
        out[kind] = {"max_abs_diff": max_diff(single, split), "max_update": max_diff(single, initial),
                     "scale": scale}
    print("RESULT " + json.dumps(out))


@pytest.fixture(scope="module")
def report():
    return fresh_interpreter.run_main(__file__)


@pytest.mark.parametrize("kind", KINDS)
def test_mirrored_conv_step_equals_single_device(report, kind):
    result = report[kind]
    assert result["max_update"] > 1e-4, result  # The weights moved, so equality means something.
    assert result["max_abs_diff"] < 1e-5 * max(1.0, result["scale"]), result


if __name__ == "__main__":
    _main()
