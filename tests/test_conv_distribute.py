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


def _build(kind):
    import keras
    from ebgan_tf import models
    from ebgan_tf.experiments.conv_figures import ConvFigures

    smoke = ConvFigures("fig6_fig14_celeba", "smoke", kinds=(kind,)).specs()[0].config
    keras.utils.set_random_seed(7)
    model = models.build_model(smoke.replace(width_divisor=32, batch_size=8))
    # SGD: Adam's first step is lr * sign(g), which turns round-off into whole steps.
    model.compile(d_optimizer=keras.optimizers.SGD(0.01), g_optimizer=keras.optimizers.SGD(0.01))
    return model


def _main():
    fresh_interpreter.start_two_logical_cpus()
    import numpy as np

    rng = np.random.default_rng(0)
    batch = (rng.uniform(-1, 1, (8, 64, 64, 3)).astype(np.float32),
             rng.standard_normal((8, 100)).astype(np.float32))
    out = {kind: fresh_interpreter.mirrored_equivalence(
        lambda kind=kind: _build(kind), batch, STEPS,
        variables=lambda m: m.generator.variables + m.discriminator.variables) for kind in KINDS}
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
