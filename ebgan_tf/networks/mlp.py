"""Fully connected networks of the MNIST study (paper §4.1, Table 1; Appendix C as recalled).

- Generator: `n_layers` weight layers; `n_layers - 1` hidden layers of `width` units with batch
  norm and ReLU, then a tanh output layer of H*W*C units (no batch norm on the output).
- EBGAN discriminator: an auto-encoder with `n_layers` weight layers in total. The decoder is one
  layer (restriction (ii) of §4.1) and the encoder has `n_layers - 1` layers of `width` units; the
  last encoder output is the code the pulling-away term uses. Outputs `[reconstruction, code]`.
- GAN discriminator: `n_layers - 1` hidden layers of `width` units and one logit.

Batch norm follows every weight layer except the generator's output and the discriminator's
input layer (DCGAN style). Weights ~ N(0, 0.002) in D and N(0, 0.02) in G, biases zero. Output
layers compute in float32 so that energies and logits stay exact under mixed precision.
"""

from __future__ import annotations

import math

import keras

from ebgan_tf.configs.mlp import MLPConfig

# Torch7's batch-norm constants (the authors' framework): running-average rate 0.1, eps 1e-5.
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5


def _dense(units, stddev, name, dtype=None):
    return keras.layers.Dense(
        units, name=name, dtype=dtype,
        kernel_initializer=keras.initializers.RandomNormal(stddev=stddev),
        bias_initializer="zeros")


def _batch_norm(name, synchronized):
    return keras.layers.BatchNormalization(
        momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, synchronized=synchronized, name=name)


def _hidden_stack(x, n_layers, width, stddev, prefix, batch_norm, first_layer_bn, activation,
                  last_activation, dropout_rate, sync_batch_norm):
    """`n_layers` of Dense -> [BN] -> activation -> [Dropout]."""
    for i in range(n_layers):
        x = _dense(width, stddev, f"{prefix}_dense_{i}")(x)
        if batch_norm and (i > 0 or first_layer_bn):
            x = _batch_norm(f"{prefix}_bn_{i}", sync_batch_norm)(x)
        act = last_activation if i == n_layers - 1 else activation
        x = keras.layers.Activation(act, name=f"{prefix}_{act}_{i}")(x)
        if dropout_rate:
            x = keras.layers.Dropout(dropout_rate, name=f"{prefix}_dropout_{i}")(x)
    return x


def build_mlp_generator(noise_dim: int = 100, n_layers: int = 5, width: int = 1600,
                        image_shape=(32, 32, 1), batch_norm: bool = True, activation: str = "relu",
                        init_stddev: float = 0.02, sync_batch_norm: bool = True,
                        name: str = "generator") -> keras.Model:
    """z [B, noise_dim] -> images [B, *image_shape] in [-1, 1]."""
    noise = keras.Input((noise_dim,), name="noise")
    x = _hidden_stack(noise, n_layers - 1, width, init_stddev, "g", batch_norm,
                      first_layer_bn=True, activation=activation, last_activation=activation,
                      dropout_rate=0.0, sync_batch_norm=sync_batch_norm)
    x = _dense(math.prod(image_shape), init_stddev, "g_output", dtype="float32")(x)
    x = keras.layers.Activation("tanh", dtype="float32", name="g_tanh")(x)
    images = keras.layers.Reshape(image_shape, dtype="float32", name="g_image")(x)
    return keras.Model(noise, images, name=name)


def build_mlp_autoencoder(n_layers: int = 2, width: int = 1024, image_shape=(32, 32, 1),
                          batch_norm: bool = True, activation: str = "relu",
                          code_activation: str = "relu", decoder_activation: str = "linear",
                          init_stddev: float = 0.002, dropout_rate: float = 0.0,
                          sync_batch_norm: bool = True,
                          name: str = "discriminator") -> keras.Model:
    """EBGAN discriminator: images [B, *image_shape] -> [reconstruction (same shape), code [B, width]]."""
    if n_layers < 2:
        raise ValueError(f"an auto-encoder needs at least 2 layers (encoder + decoder), got {n_layers}")
    images = keras.Input(image_shape, name="images")
    x = keras.layers.Flatten(name="d_flatten")(images)
    code = _hidden_stack(x, n_layers - 1, width, init_stddev, "enc", batch_norm,
                         first_layer_bn=False, activation=activation,
                         last_activation=code_activation, dropout_rate=dropout_rate,
                         sync_batch_norm=sync_batch_norm)
    x = _dense(math.prod(image_shape), init_stddev, "dec_output", dtype="float32")(code)
    x = keras.layers.Activation(decoder_activation, dtype="float32", name="dec_activation")(x)
    reconstruction = keras.layers.Reshape(image_shape, dtype="float32", name="reconstruction")(x)
    return keras.Model(images, [reconstruction, code], name=name)


def build_mlp_discriminator(n_layers: int = 2, width: int = 1024, image_shape=(32, 32, 1),
                            batch_norm: bool = True, activation: str = "relu",
                            init_stddev: float = 0.002, dropout_rate: float = 0.0,
                            sync_batch_norm: bool = True,
                            name: str = "discriminator") -> keras.Model:
    """GAN discriminator: images [B, *image_shape] -> logits [B, 1] (float32)."""
    images = keras.Input(image_shape, name="images")
    x = keras.layers.Flatten(name="d_flatten")(images)
    x = _hidden_stack(x, n_layers - 1, width, init_stddev, "d", batch_norm, first_layer_bn=False,
                      activation=activation, last_activation=activation,
                      dropout_rate=dropout_rate, sync_batch_norm=sync_batch_norm)
    logits = _dense(1, init_stddev, "d_logit", dtype="float32")(x)
    return keras.Model(images, logits, name=name)


def build_networks(config: MLPConfig) -> tuple[keras.Model, keras.Model]:
    """(generator, discriminator) for one MNIST-study configuration."""
    image_shape = (config.image_size, config.image_size, 1)
    generator = build_mlp_generator(
        config.noise_dim, config.n_layer_g, config.size_g, image_shape, config.batch_norm,
        config.activation, config.g_init_stddev, config.sync_batch_norm)
    dropout_rate = config.dropout_rate if config.dropout_d else 0.0
    if config.is_ebgan:
        discriminator = build_mlp_autoencoder(
            config.n_layer_d, config.size_d, image_shape, config.batch_norm, config.activation,
            config.code_activation, config.decoder_activation, config.d_init_stddev,
            dropout_rate, config.sync_batch_norm)
    else:
        discriminator = build_mlp_discriminator(
            config.n_layer_d, config.size_d, image_shape, config.batch_norm, config.activation,
            config.d_init_stddev, dropout_rate, config.sync_batch_norm)
    return generator, discriminator
