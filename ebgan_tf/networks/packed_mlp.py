"""The MNIST study's networks for K trials at once (horizontal fusion, as HFTA): every weight has a
leading trial axis, `[K, in, out]`, and a layer is one batched matrix product over the trials.

A packed network computes, for trial k, what `ebgan_tf.networks.mlp` computes for that trial
alone: the same layers in the same order, per-trial batch-norm statistics (the synchronised
E[x²] − E[x]² that Keras uses), per-trial dropout rates with the *same* random masks (each trial's
dropout layers keep the seed-generator state its unpacked network would have, and draw from it
in the same order), and initial weights copied from the trial's unpacked network
(`load_trial`), so a packed trial starts exactly where its unpacked run starts. Only round-off
differs (a batched product sums in another order than a single one).

Inputs and outputs carry the trial axis first: images [K, B, H, W, C], noise [K, B, noise_dim].
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

_BN_MOMENTUM = 0.9  # As ebgan_tf.networks.mlp (Torch7's 0.1 running-average rate).
_BN_EPSILON = 1e-5


@dataclasses.dataclass(frozen=True)
class DenseSpec:
    """One weight layer as `ebgan_tf.networks.mlp` builds it (names are the unpacked layers')."""

    dense: str  # The unpacked Dense layer's name.
    units_in: int
    units: int
    batch_norm: str | None  # The unpacked BatchNormalization layer's name, if any.
    activation: str
    dropout: str | None  # The unpacked Dropout layer's name, if the trial's D has dropout.


def _hidden(prefix, n_layers, units_in, width, batch_norm, first_bn, activation, last_activation,
            dropout):
    specs = []
    for i in range(n_layers):
        bn = f"{prefix}_bn_{i}" if batch_norm and (i > 0 or first_bn) else None
        act = last_activation if i == n_layers - 1 else activation
        specs.append(DenseSpec(f"{prefix}_dense_{i}", units_in if i == 0 else width, width, bn,
                               act, f"{prefix}_dropout_{i}" if dropout else None))
    return specs


def generator_specs(cfg) -> list[DenseSpec]:
    pixels = cfg.image_size * cfg.image_size
    hidden = _hidden("g", cfg.n_layer_g - 1, cfg.noise_dim, cfg.size_g, cfg.batch_norm, True,
                     cfg.activation, cfg.activation, False)
    width_in = hidden[-1].units if hidden else cfg.noise_dim
    return hidden + [DenseSpec("g_output", width_in, pixels, None, "tanh", None)]


def discriminator_specs(cfg, dropout: bool) -> list[DenseSpec]:
    """The auto-encoder (EBGAN) or the logit network (GAN); `dropout` marks layers with a
    Dropout (per-trial rates decide whether it drops anything)."""
    pixels = cfg.image_size * cfg.image_size
    if cfg.is_ebgan:
        hidden = _hidden("enc", cfg.n_layer_d - 1, pixels, cfg.size_d, cfg.batch_norm, False,
                         cfg.activation, cfg.code_activation, dropout)
        return hidden + [DenseSpec("dec_output", cfg.size_d, pixels, None,
                                   cfg.decoder_activation, None)]
    hidden = _hidden("d", cfg.n_layer_d - 1, pixels, cfg.size_d, cfg.batch_norm, False,
                     cfg.activation, cfg.activation, dropout)
    width_in = hidden[-1].units if hidden else pixels
    return hidden + [DenseSpec("d_logit", width_in, 1, None, "linear", None)]


def batch_moments(x):
    """Per-trial mean and variance over the batch axis of x [K, B, W] (-> [K, 1, W] each), as
    Keras's synchronised batch norm computes them: sums all-reduced over replicas, E[x²] − E[x]²."""
    local = [tf.reduce_sum(x, axis=1, keepdims=True),
             tf.reduce_sum(tf.square(x), axis=1, keepdims=True),
             tf.reduce_sum(tf.ones_like(x), axis=1, keepdims=True)]
    context = tf.distribute.get_replica_context()
    if context is not None:
        local = [context.all_reduce(tf.distribute.ReduceOp.SUM, t) for t in local]
    total, squared, count = local
    mean = tf.math.divide_no_nan(total, count)
    variance = tf.maximum(tf.math.divide_no_nan(squared, count) - tf.square(mean), 0.0)
    return mean, variance


class PackedDenseStack(keras.layers.Layer):
    """K trials' copies of one network: Dense -> [BN] -> activation -> [dropout] per layer."""

    def __init__(self, specs: list[DenseSpec], dropout_rates, **kwargs):
        super().__init__(**kwargs)
        self.specs = specs
        self.num_trials = len(dropout_rates)
        self.dropout_rates = [float(r) for r in dropout_rates]
        k = self.num_trials
        self.kernels, self.biases, self.norms, self.seed_generators = [], [], [], []
        for spec in specs:
            self.kernels.append(self.add_weight(shape=(k, spec.units_in, spec.units),
                                                initializer="zeros", name=f"{spec.dense}_kernel"))
            self.biases.append(self.add_weight(shape=(k, spec.units), initializer="zeros",
                                               name=f"{spec.dense}_bias"))
            norm = None
            if spec.batch_norm:
                norm = {name: self.add_weight(shape=(k, spec.units), initializer=init,
                                              trainable=trainable, name=f"{spec.batch_norm}_{name}")
                        for name, init, trainable in (("gamma", "ones", True),
                                                      ("beta", "zeros", True),
                                                      ("moving_mean", "zeros", False),
                                                      ("moving_variance", "ones", False))}
            self.norms.append(norm)
            # One generator per trial whose unpacked network has this Dropout layer.
            self.seed_generators.append(
                [keras.random.SeedGenerator(0, name=f"{spec.dropout}_{i}") if spec.dropout and
                 self.dropout_rates[i] > 0 else None for i in range(k)])
        self.built = True

    def _normalize(self, x, norm, training):
        if training:
            mean, variance = batch_moments(x)
            norm["moving_mean"].assign(norm["moving_mean"] * _BN_MOMENTUM
                                       + tf.squeeze(mean, 1) * (1.0 - _BN_MOMENTUM))
            norm["moving_variance"].assign(norm["moving_variance"] * _BN_MOMENTUM
                                           + tf.squeeze(variance, 1) * (1.0 - _BN_MOMENTUM))
        else:
            mean = norm["moving_mean"][:, None, :]
            variance = norm["moving_variance"][:, None, :]
        return tf.nn.batch_normalization(x, mean, variance, norm["beta"][:, None, :],
                                          norm["gamma"][:, None, :], _BN_EPSILON)

    def _dropout(self, x, generators):
        """Each trial's mask from its own generator, exactly as a Keras Dropout layer draws it."""
        if not any(generators):
            return x
        noise_shape = tf.shape(x)[1:]
        draws = [keras.random.uniform(noise_shape, seed=g) if g is not None
                 else tf.zeros(noise_shape) for g in generators]
        rates = tf.constant(self.dropout_rates, tf.float32)[:, None, None]
        scales = tf.constant([1 / (1 - r) for r in self.dropout_rates], tf.float32)[:, None, None]
        return tf.where(tf.stack(draws) >= rates, x * scales, 0.0)

    def call(self, x, training=False):
        for spec, kernel, bias, norm, generators in zip(
                self.specs, self.kernels, self.biases, self.norms, self.seed_generators):
            x = tf.matmul(x, kernel) + bias[:, None, :]  # [K, B, in] x [K, in, out], per trial
            if norm is not None:
                x = self._normalize(x, norm, training)
            x = keras.activations.get(spec.activation)(x)
            if training:
                x = self._dropout(x, generators)
        return x

    def load_trial(self, k: int, network: keras.Model) -> None:
        """Copies trial k's weights, batch-norm statistics and dropout seed states from its
        unpacked network (as `ebgan_tf.networks.mlp` built it)."""
        for spec, kernel, bias, norm, generators in zip(
                self.specs, self.kernels, self.biases, self.norms, self.seed_generators):
            dense = network.get_layer(spec.dense)
            kernel[k].assign(dense.kernel)
            bias[k].assign(dense.bias)
            if norm is not None:
                layer = network.get_layer(spec.batch_norm)
                for name in norm:
                    norm[name][k].assign(getattr(layer, name))
            if generators[k] is not None:
                generators[k].state.assign(network.get_layer(spec.dropout).seed_generator.state)

    def store_trial(self, k: int, network: keras.Model) -> None:
        """The reverse of `load_trial`: trial k's weights into an unpacked network."""
        for spec, kernel, bias, norm in zip(self.specs, self.kernels, self.biases, self.norms):
            dense = network.get_layer(spec.dense)
            dense.kernel.assign(kernel[k])
            dense.bias.assign(bias[k])
            if norm is not None:
                layer = network.get_layer(spec.batch_norm)
                for name in norm:
                    getattr(layer, name).assign(norm[name][k])


def _flatten(images):
    shape = tf.shape(images)
    return tf.reshape(images, [shape[0], shape[1], -1])


class PackedGenerator(keras.layers.Layer):
    """noise [K, B, noise_dim] -> images [K, B, S, S, 1] in [-1, 1]."""

    def __init__(self, cfg, num_trials: int, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = (cfg.image_size, cfg.image_size, 1)
        self.noise_dim = cfg.noise_dim
        self.stack = PackedDenseStack(generator_specs(cfg), [0.0] * num_trials, name="g_stack")

    def call(self, noise, training=False):
        x = self.stack(noise, training=training)
        shape = tf.shape(x)
        return tf.reshape(x, tf.concat([shape[:2], self.image_shape], 0))


class PackedDiscriminator(keras.layers.Layer):
    """images [K, B, S, S, 1] -> EBGAN: (reconstruction [K, B, S, S, 1], code [K, B, width]);
    GAN: logits [K, B]."""

    def __init__(self, cfg, dropout_rates, **kwargs):
        super().__init__(**kwargs)
        self.is_ebgan = cfg.is_ebgan
        self.image_shape = (cfg.image_size, cfg.image_size, 1)
        specs = discriminator_specs(cfg, dropout=any(r > 0 for r in dropout_rates))
        self.hidden = PackedDenseStack(specs[:-1], dropout_rates, name="d_hidden")
        self.output_layer = PackedDenseStack(specs[-1:], [0.0] * len(dropout_rates),
                                             name="d_output")

    def call(self, images, training=False):
        hidden = self.hidden(_flatten(images), training=training)
        out = self.output_layer(hidden, training=training)
        if not self.is_ebgan:
            return out[..., 0]
        shape = tf.shape(out)
        return tf.reshape(out, tf.concat([shape[:2], self.image_shape], 0)), hidden

    def load_trial(self, k: int, network: keras.Model) -> None:
        self.hidden.load_trial(k, network)
        self.output_layer.load_trial(k, network)
