"""Convolutional networks of the LSUN, CelebA and ImageNet experiments (paper §4.3, §4.4; Appendix C
as recalled, paper.md §4.2 and §5.3), built from the paper's layer notation.

"(64)4c2s" means a convolution with 64 output maps, a 4×4 kernel and stride 2; "(1024)4c" has
stride 1. Every architecture is written below in that notation, as data, and the builders turn
the strings into layers, so what the code builds can be checked against the paper line by line.

- Generators (DCGAN-style, Radford et al. 2016). The first layer "(n)4c" maps a 1×1 latent to 4×4
  (a valid transposed convolution), each "2s" layer doubles the resolution (a transposed
  convolution), a final stride-1 "3c" layer is an ordinary same-padded convolution. Batch norm and
  ReLU follow every layer but the last, which is tanh.
- Noise planes (ImageNet generators): noise is concatenated with the input of every layer, as in
  Salimans et al. 2016. `noise_planes[0]` is the latent z at 1×1; `noise_planes[i]` is the number
  of N(0, I) planes, at that layer's input resolution, concatenated before layer i. The generator
  takes all of them as one flat vector [B, total_noise_dim] and splits it: the noise then comes
  with the data, so a distributed step equals a single-device one and a resumed run sees the
  noise an uninterrupted run sees (see `ebgan_tf.models`).
- EBGAN discriminator: a convolutional auto-encoder, strided convolutions down and fractionally
  strided (transposed) convolutions up, no pooling or upsampling (paper.md §4.2). Outputs
  `[reconstruction, code]`; the code is the encoder output (256×8×8 at 64×64), flattened by the
  pulling-away term.
- DCGAN discriminator (the baseline): strided convolutions with widths doubling from 64 until the
  resolution is 4×4, then a 4×4 valid convolution to one logit (DCGAN's discriminator).

Choices where the paper is silent (DCGAN guidance, which the paper says it follows): weights
~ N(0, 0.02), biases 0; batch norm on every layer except the generator's output and the
discriminator's input layer and outputs; LeakyReLU(0.2) in the encoder and the DCGAN
discriminator, ReLU in the generator and the decoder; a linear (unbounded) decoder output so
energies can exceed the margin. Output layers compute in float32 so that images, energies and
logits stay exact under mixed precision.
"""

from __future__ import annotations

import keras

from ebgan_tf.configs.conv import (DECODER_64, ENCODER_64, GENERATOR_64, NOISE_PLANES_64,
                                   generator_input_sizes, hidden_width, noise_dim, parse_spec)

_BN_MOMENTUM = 0.9  # Torch7's running-average rate 0.1, as in ebgan_tf.networks.
_BN_EPSILON = 1e-5


def _init(stddev):
    return keras.initializers.RandomNormal(stddev=stddev)


def _batch_norm(name, sync_batch_norm):
    return keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON,
                                           synchronized=sync_batch_norm, name=name)


def build_conv_generator(specs=GENERATOR_64, noise_planes=NOISE_PLANES_64, width_divisor: int = 1,
                         init_stddev: float = 0.02, sync_batch_norm: bool = True,
                         name: str = "generator") -> keras.Model:
    """noise [B, total_noise_dim] -> images [B, S, S, 3] in [-1, 1] (float32).

    `total_noise_dim` is 100 for the 64×64 generator; for the ImageNet ones it counts every noise
    plane (see the module docstring and `noise_dim`)."""
    sizes = generator_input_sizes(specs)
    if not 1 <= len(noise_planes) <= len(specs):
        raise ValueError(f"{len(noise_planes)} noise inputs for {len(specs)} generator layers")
    flat_dim = noise_dim(noise_planes, sizes)
    noise = keras.Input((flat_dim,), name="noise")
    offsets = [0]
    for planes, size in zip(noise_planes, sizes):
        offsets.append(offsets[-1] + planes * size * size)
    x = None
    for i, spec_text in enumerate(specs):
        spec = parse_spec(spec_text)
        is_output = i == len(specs) - 1
        if i < len(noise_planes):
            size, planes = sizes[i], noise_planes[i]
            start, stop = offsets[i], offsets[i + 1]
            part = keras.layers.Reshape((size, size, planes), name=f"g_noise_{i}")(noise[:, start:stop])
            x = part if x is None else keras.layers.Concatenate(name=f"g_concat_noise_{i}")([x, part])
        filters = hidden_width(spec.filters, is_output, width_divisor)
        dtype = "float32" if is_output else None
        if i == 0:
            layer = keras.layers.Conv2DTranspose(filters, spec.kernel, strides=1, padding="valid",
                                                 kernel_initializer=_init(init_stddev),
                                                 dtype=dtype, name=f"g_conv_{i}")
        elif spec.stride > 1:
            layer = keras.layers.Conv2DTranspose(filters, spec.kernel, strides=spec.stride,
                                                 padding="same",
                                                 kernel_initializer=_init(init_stddev),
                                                 dtype=dtype, name=f"g_conv_{i}")
        else:
            layer = keras.layers.Conv2D(filters, spec.kernel, strides=1, padding="same",
                                        kernel_initializer=_init(init_stddev), dtype=dtype,
                                        name=f"g_conv_{i}")
        x = layer(x)
        if is_output:
            x = keras.layers.Activation("tanh", dtype="float32", name="g_tanh")(x)
        else:
            x = _batch_norm(f"g_bn_{i}", sync_batch_norm)(x)
            x = keras.layers.Activation("relu", name=f"g_relu_{i}")(x)
    return keras.Model(noise, x, name=name)


def _encoder(x, specs, width_divisor, init_stddev, leaky_slope, sync_batch_norm, prefix,
             output_logit=False):
    for i, spec_text in enumerate(specs):
        spec = parse_spec(spec_text)
        is_logit = output_logit and i == len(specs) - 1
        x = keras.layers.Conv2D(
            spec.filters if is_logit else hidden_width(spec.filters, False, width_divisor),
            spec.kernel, strides=spec.stride, padding="valid" if is_logit else "same",
            kernel_initializer=_init(init_stddev), dtype="float32" if is_logit else None,
            name=f"{prefix}_conv_{i}")(x)
        if is_logit:
            break
        if i > 0:
            x = _batch_norm(f"{prefix}_bn_{i}", sync_batch_norm)(x)
        x = keras.layers.LeakyReLU(leaky_slope, name=f"{prefix}_lrelu_{i}")(x)
    return x


def build_conv_autoencoder(encoder=ENCODER_64, decoder=DECODER_64, image_size: int = 64,
                           channels: int = 3, width_divisor: int = 1, init_stddev: float = 0.02,
                           leaky_slope: float = 0.2, decoder_activation: str = "linear",
                           sync_batch_norm: bool = True,
                           name: str = "discriminator") -> keras.Model:
    """EBGAN discriminator: images [B, S, S, C] -> [reconstruction [B, S, S, C] (float32),
    code [B, S/2^k, S/2^k, width]] (the encoder output, which the PT uses)."""
    images = keras.Input((image_size, image_size, channels), name="images")
    code = _encoder(images, encoder, width_divisor, init_stddev, leaky_slope, sync_batch_norm, "enc")
    x = code
    for i, spec_text in enumerate(decoder):
        spec = parse_spec(spec_text)
        is_output = i == len(decoder) - 1
        x = keras.layers.Conv2DTranspose(
            hidden_width(spec.filters, is_output, width_divisor), spec.kernel, strides=spec.stride,
            padding="same", kernel_initializer=_init(init_stddev),
            dtype="float32" if is_output else None, name=f"dec_conv_{i}")(x)
        if is_output:
            x = keras.layers.Activation(decoder_activation, dtype="float32",
                                        name="reconstruction")(x)
        else:
            x = _batch_norm(f"dec_bn_{i}", sync_batch_norm)(x)
            x = keras.layers.Activation("relu", name=f"dec_relu_{i}")(x)
    if x.shape[1:] != images.shape[1:]:
        raise ValueError(f"decoder output {x.shape[1:]} does not match the input {images.shape[1:]}")
    return keras.Model(images, [x, code], name=name)


def build_dcgan_discriminator(specs, image_size: int = 64, channels: int = 3,
                              width_divisor: int = 1, init_stddev: float = 0.02,
                              leaky_slope: float = 0.2, sync_batch_norm: bool = True,
                              name: str = "discriminator") -> keras.Model:
    """GAN discriminator: images [B, S, S, C] -> logits [B, 1] (float32)."""
    images = keras.Input((image_size, image_size, channels), name="images")
    x = _encoder(images, specs, width_divisor, init_stddev, leaky_slope, sync_batch_norm, "d",
                 output_logit=True)
    logits = keras.layers.Reshape((1,), dtype="float32", name="d_logit")(x)
    return keras.Model(images, logits, name=name)


def conv_flops(model: keras.Model) -> int:
    """Multiply-adds ×2 of one forward pass on one image, over the conv layers (the bulk), read
    off a built model: the check of `ebgan_tf.step_cost.conv_forward_flops`, which counts from the
    layer specs alone."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2DTranspose):
            _, h, w, c_in = layer.input.shape
            total += 2 * h * w * c_in * layer.kernel_size[0] * layer.kernel_size[1] * layer.filters
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            c_in = layer.input.shape[-1]
            total += 2 * h * w * c_out * layer.kernel_size[0] * layer.kernel_size[1] * c_in
    return int(total)


def build_networks(cfg) -> tuple[keras.Model, keras.Model]:
    """(generator, discriminator) of a `ConvConfig`: the auto-encoder for EBGANs, DCGAN's
    discriminator for the baseline."""
    arch = cfg.arch
    common = dict(width_divisor=cfg.width_divisor, init_stddev=cfg.init_stddev,
                  sync_batch_norm=cfg.sync_batch_norm)
    generator = build_conv_generator(arch.generator, arch.noise_planes, **common)
    if cfg.is_ebgan:
        discriminator = build_conv_autoencoder(
            arch.encoder, arch.decoder, arch.image_size, leaky_slope=cfg.leaky_slope,
            decoder_activation=cfg.decoder_activation, **common)
    else:
        discriminator = build_dcgan_discriminator(
            arch.dcgan_discriminator, arch.image_size, leaky_slope=cfg.leaky_slope, **common)
    return generator, discriminator
