"""Convolutional networks vs the paper's layer specs (paper.md §4.2, §5.3): layers, shapes, noise,
and the FLOP counts made from the specs alone."""

import numpy as np
import pytest
import keras
import tensorflow as tf

from ebgan_tf import step_cost
from ebgan_tf.configs import conv as specs
from ebgan_tf.networks import conv as cn

# The specs as paper.md writes them (Appendix C as recalled), joined with "-".
PAPER = {
    "encoder_64": "(64)4c2s-(128)4c2s-(256)4c2s",
    "decoder_64": "(128)4c2s-(64)4c2s-(3)4c2s",
    "generator_128": "(1024)4c-(512)4c2s-(256)4c2s-(128)4c2s-(64)4c2s-(64)4c2s-(3)3c",
    "noise_128": "100-64-32-16-8-4",
    "generator_256": "(2048)4c-(1024)4c2s-(512)4c2s-(256)4c2s-(128)4c2s-(64)4c2s-(64)4c2s-(3)3c",
    "noise_256": "100-64-32-16-8-4-2",
    "encoder_imagenet": "(64)4c2s-(128)4c2s-(256)4c2s-(512)4c2s",
    "decoder_imagenet": "(256)4c2s-(128)4c2s-(64)4c2s-(3)4c2s",
}


def _convs(model):
    return [l for l in model.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]


def _as_specs(model):
    """The built conv layers written back in the paper's notation."""
    out = []
    for layer in _convs(model):
        stride = layer.strides[0]
        out.append(f"({layer.filters}){layer.kernel_size[0]}c" + (f"{stride}s" if stride > 1 else ""))
    return "-".join(out)


def test_parse_spec():
    assert specs.parse_spec("(64)4c2s") == specs.ConvSpec(64, 4, 2)
    assert specs.parse_spec("(3)3c") == specs.ConvSpec(3, 3, 1)
    with pytest.raises(ValueError, match="notation"):
        specs.parse_spec("64c2s")


def test_architecture_specs_are_the_papers():
    a64, a128, a256 = (specs.ARCHITECTURES[k] for k in ("dcgan64", "imagenet128", "imagenet256"))
    assert "-".join(a64.encoder) == PAPER["encoder_64"]
    assert "-".join(a64.decoder) == PAPER["decoder_64"]
    assert "-".join(a128.generator) == PAPER["generator_128"]
    assert "-".join(map(str, a128.noise_planes)) == PAPER["noise_128"]
    assert "-".join(a256.generator) == PAPER["generator_256"]
    assert "-".join(map(str, a256.noise_planes)) == PAPER["noise_256"]
    for a in (a128, a256):
        assert "-".join(a.encoder) == PAPER["encoder_imagenet"]
        assert "-".join(a.decoder) == PAPER["decoder_imagenet"]
    assert "-".join(a64.dcgan_discriminator) == "(64)4c2s-(128)4c2s-(256)4c2s-(512)4c2s-(1)4c"


@pytest.mark.parametrize("name", ["dcgan64", "imagenet128", "imagenet256"])
def test_built_layers_match_the_specs_and_shapes(name):
    arch = specs.ARCHITECTURES[name]
    s = arch.image_size
    g = cn.build_conv_generator(arch.generator, arch.noise_planes)
    ae = cn.build_conv_autoencoder(arch.encoder, arch.decoder, s)
    d = cn.build_dcgan_discriminator(arch.dcgan_discriminator, s)
    assert _as_specs(g) == "-".join(arch.generator)
    assert _as_specs(ae) == "-".join(arch.encoder + arch.decoder)
    assert _as_specs(d) == "-".join(arch.dcgan_discriminator)
    assert g.output.shape == (None, s, s, 3)
    reconstruction, code = ae.outputs
    assert reconstruction.shape == (None, s, s, 3)
    n_down = len(arch.encoder)
    assert code.shape == (None, s // 2 ** n_down, s // 2 ** n_down, int(arch.encoder[-1][1:4]))
    assert d.output.shape == (None, 1)
    # The spatial path of the encoder/decoder: 64 -> 32 -> 16 -> 8 -> 16 -> 32 -> 64 at 64×64.
    sizes = [l.output.shape[1] for l in _convs(ae)]
    assert sizes == [s // 2 ** (i + 1) for i in range(n_down)] + \
        [s // 2 ** (n_down - i - 1) for i in range(len(arch.decoder))]
    # FLOPs from the specs alone agree with the built layers.
    assert step_cost.conv_forward_flops(arch, "generator") == cn.conv_flops(g)
    assert step_cost.conv_forward_flops(arch, "autoencoder") == cn.conv_flops(ae)
    assert step_cost.conv_forward_flops(arch, "dcgan_discriminator") == cn.conv_flops(d)


def test_64_code_is_256x8x8_and_dcgan_batch_norm_placement():
    arch = specs.ARCHITECTURES["dcgan64"]
    ae = cn.build_conv_autoencoder(arch.encoder, arch.decoder, 64)
    assert ae.outputs[1].shape == (None, 8, 8, 256)
    bn = [l.name for l in ae.layers if isinstance(l, keras.layers.BatchNormalization)]
    # No batch norm on the input layer or the reconstruction: enc 1, 2 and dec 0, 1.
    assert bn == ["enc_bn_1", "enc_bn_2", "dec_bn_0", "dec_bn_1"]
    g = cn.build_conv_generator(arch.generator, arch.noise_planes)
    assert sum(isinstance(l, keras.layers.BatchNormalization) for l in g.layers) == len(arch.generator) - 1
    std = float(np.std(_convs(g)[1].kernel.numpy()))
    assert 0.018 < std < 0.022  # N(0, 0.02).


def test_imagenet_noise_enters_every_layer_but_the_last():
    arch = specs.ARCHITECTURES["imagenet128"]
    g = cn.build_conv_generator(arch.generator, arch.noise_planes, width_divisor=16)
    # 100 + 64·4² + 32·8² + 16·16² + 8·32² + 4·64²
    assert g.input.shape == (None, 31844)
    sizes = specs.generator_input_sizes(arch.generator)
    assert sizes == [1, 4, 8, 16, 32, 64, 128]
    convs = _convs(g)
    for i, conv in enumerate(convs):
        planes = arch.noise_planes[i] if i < len(arch.noise_planes) else 0
        previous = convs[i - 1].filters if i else 0
        assert conv.input.shape[-1] == previous + planes, i
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2, 31844)).astype(np.float32)
    base = g(z, training=False).numpy()
    assert base.shape == (2, 128, 128, 3) and np.abs(base).max() <= 1.0
    offsets = np.cumsum([0] + [p * s * s for p, s in zip(arch.noise_planes, sizes)])
    for i in range(len(arch.noise_planes)):
        changed = z.copy()
        changed[:, offsets[i]:offsets[i + 1]] += 3.0
        assert np.abs(g(changed, training=False).numpy() - base).max() > 1e-6, f"noise plane {i} unused"


def test_width_divisor_shrinks_hidden_layers_only():
    arch = specs.ARCHITECTURES["dcgan64"]
    g = cn.build_conv_generator(arch.generator, arch.noise_planes, width_divisor=8)
    assert [c.filters for c in _convs(g)] == [128, 64, 32, 16, 3]
    ae = cn.build_conv_autoencoder(arch.encoder, arch.decoder, 64, width_divisor=8)
    assert [c.filters for c in _convs(ae)] == [8, 16, 32, 16, 8, 3]


def test_outputs_stay_float32_under_mixed_precision():
    from ebgan_tf import distribute

    arch = specs.ARCHITECTURES["dcgan64"]
    try:
        distribute.set_mixed_precision(True)
        g = cn.build_conv_generator(arch.generator, arch.noise_planes, width_divisor=16)
        ae = cn.build_conv_autoencoder(arch.encoder, arch.decoder, 64, width_divisor=16)
        d = cn.build_dcgan_discriminator(arch.dcgan_discriminator, 64, width_divisor=16)
        images = g(tf.zeros((2, 100)), training=False)
        assert images.dtype == tf.float32
        assert ae(images, training=False)[0].dtype == tf.float32
        assert d(images, training=False).dtype == tf.float32
        assert _convs(g)[1].compute_dtype == "bfloat16"
    finally:
        distribute.set_mixed_precision(False)


def test_mismatched_decoder_is_an_error():
    with pytest.raises(ValueError, match="does not match"):
        cn.build_conv_autoencoder(("(8)4c2s", "(8)4c2s"), ("(3)4c2s",), 64)


def test_64_generator_flops_match_a_hand_count():
    """2 × (input pixels × input maps × k² × output maps) per transposed conv, layer by layer."""
    hand = (2 * 1 * 100 * 16 * 1024  # 1×1 z -> 4×4×1024
            + 2 * 4 * 4 * 1024 * 16 * 512 + 2 * 8 * 8 * 512 * 16 * 256
            + 2 * 16 * 16 * 256 * 16 * 128 + 2 * 32 * 32 * 128 * 16 * 3)
    assert hand == 821_166_080
    arch = specs.ARCHITECTURES["dcgan64"]
    assert step_cost.conv_forward_flops(arch, "generator") == hand
    # Hidden widths divided by 8 (the output's 3 maps kept): every hidden-to-hidden layer costs
    # 64× less, z -> first layer and the last layer 8× less.
    shrunk = (2 * 100 * 16 * 128 + (hand - 2 * 100 * 16 * 1024 - 2 * 32 * 32 * 128 * 16 * 3) // 64
              + 2 * 32 * 32 * 16 * 16 * 3)
    assert step_cost.conv_forward_flops(arch, "generator", width_divisor=8) == shrunk


def test_train_step_flops_count_three_generator_and_eight_discriminator_passes():
    from ebgan_tf.configs.conv import ConvConfig

    cfg = ConvConfig(kind="ebgan", batch_size=4)
    g = step_cost.conv_forward_flops(cfg.arch, "generator")
    d = step_cost.conv_forward_flops(cfg.arch, "autoencoder")
    assert step_cost.conv_train_step_flops(cfg) == 4 * (3 * g + 8 * d)
    dcgan = cfg.replace(kind="dcgan")
    d_logit = step_cost.conv_forward_flops(cfg.arch, "dcgan_discriminator")
    assert d_logit != d
    assert step_cost.conv_train_step_flops(dcgan) == 4 * (3 * g + 8 * d_logit)
    assert step_cost.conv_accelerator_hours(cfg.replace(train_steps=3600), tflops=1e-12) == \
        pytest.approx(step_cost.conv_train_step_flops(cfg))
