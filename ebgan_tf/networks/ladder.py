"""The Ladder Network of Table 2 (Rasmus et al. 2015; paper.md §3) and EBGAN-LN's generator.

The LN on permutation-invariant MNIST: an MLP encoder 784-1000-500-250-250-250-10 run corrupted
(training) and clean (test), and a decoder with lateral connections whose bottom output denoises
the input. Inputs are flattened images [batch, 784] in [0, 1]. Batch statistics are all-reduced
over replicas, so a distributed step equals a single-device step on the global batch.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from ebgan_tf.configs.ladder import STANDARD_LAYER_SIZES

_BN_EPSILON = 1e-5


def denoising_cost(clean, reconstruction, weight: float):
    """Bottom-layer denoising cost, the LN's unsupervised term and EBGAN-LN's energy D(x).

    Args:
      clean: the uncorrupted input x, [batch, features] (or [batch, ...], flattened per sample).
      reconstruction: the decoder's estimate x_hat from the corrupted input, same shape.
      weight: w, applied to the per-sample sum of squares.

    Returns:
      float32 [batch]: w * sum_j (x_j - x_hat_j)^2, non-negative.
    """
    clean = tf.cast(clean, tf.float32)
    residual = tf.cast(reconstruction, tf.float32) - clean
    residual = tf.reshape(residual, [tf.shape(residual)[0], -1])
    return weight * tf.reduce_sum(tf.square(residual), axis=1)


def vanilla_combinator(z_tilde, u, a):
    """The ladder's denoising function g (Rasmus et al. 2015, eq. 2), per unit.

    mu(u) = a1 sigmoid(a2 u + a3) + a4 u + a5;  v(u) = a6 sigmoid(a7 u + a8) + a9 u + a10;
    z_hat = (z_tilde - mu(u)) * v(u) + mu(u).

    Args:
      z_tilde: the corrupted lateral input [batch, n]; u: the top-down signal [batch, n];
      a: the ten per-unit parameters, [10, n].
    Returns: z_hat [batch, n].
    """
    mu = a[0] * tf.sigmoid(a[1] * u + a[2]) + a[3] * u + a[4]
    v = a[5] * tf.sigmoid(a[6] * u + a[7]) + a[8] * u + a[9]
    return (z_tilde - mu) * v + mu


def _batch_moments(x):
    """Mean and (biased) variance over the global batch: sums are all-reduced over replicas."""
    x = tf.cast(x, tf.float32)
    sums = tf.stack([tf.reduce_sum(x, axis=0), tf.reduce_sum(tf.square(x), axis=0)])
    count = tf.cast(tf.shape(x)[0], tf.float32)
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        sums, count = context.all_reduce(tf.distribute.ReduceOp.SUM, [sums, count])
    mean = sums[0] / count
    return mean, tf.maximum(sums[1] / count - tf.square(mean), 0.0)


def global_mean(x):
    """Mean of x [batch] over the global batch (all replicas): what a single device computes."""
    total = tf.stack([tf.reduce_sum(tf.cast(x, tf.float32)), tf.cast(tf.shape(x)[0], tf.float32)])
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        total = context.all_reduce(tf.distribute.ReduceOp.SUM, total)
    return total[0] / total[1]


def _normalize(x, mean, variance):
    return (x - mean) * tf.math.rsqrt(variance + _BN_EPSILON)


def _moments_of(x, given, recorded):
    """The batch statistics to normalise x with: the next of `given` (another batch's, in layer
    order) when given, else x's own; either way appended to `recorded`."""
    moments = next(given) if given is not None else _batch_moments(x)
    recorded.append(moments)
    return moments


class LadderNetwork(keras.layers.Layer):
    """The ladder: encoder weights W, (beta, gamma), decoder weights V and combinator parameters.

    Inputs are flattened images [batch, 784] in [0, 1]. The encoder's batch norm has no learned
    scale except at the top (softmax) layer, as in Rasmus et al.; hidden layers are ReLU.
    """

    def __init__(self, layer_sizes=STANDARD_LAYER_SIZES, noise_std: float = 0.3,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.layer_sizes = tuple(int(n) for n in layer_sizes)
        self.noise_std = float(noise_std)
        sizes = self.layer_sizes
        depth = len(sizes) - 1
        # One seed per weight matrix, then the noise's key (drawing one more keeps the others).
        seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=2 * depth + 1)

        def matrix(n_in, n_out, name, s):
            # N(0, 1/n_in), as in the reference ladder implementations.
            init = keras.initializers.RandomNormal(stddev=1.0 / np.sqrt(n_in), seed=int(s))
            return self.add_weight(shape=(n_in, n_out), initializer=init, name=name)

        self.encoder_weights = [matrix(sizes[l - 1], sizes[l], f"W{l}", seeds[l - 1])
                                for l in range(1, depth + 1)]
        self.betas = [self.add_weight(shape=(sizes[l],), initializer="zeros", name=f"beta{l}")
                      for l in range(1, depth + 1)]
        self.top_gamma = self.add_weight(shape=(sizes[-1],), initializer="ones", name="gamma_top")
        self.decoder_weights = [matrix(sizes[l], sizes[l - 1], f"V{l}", seeds[depth + l - 1])
                                for l in range(1, depth + 1)]
        # a2 = a7 = 1, the rest 0: the reference initialisation, where z_hat starts at 0.
        a_init = np.zeros((10, 1), np.float32)
        a_init[1] = a_init[6] = 1.0
        self.combinator = [
            self.add_weight(shape=(10, sizes[l]), name=f"a{l}",
                            initializer=keras.initializers.Constant(np.repeat(a_init, sizes[l], 1)))
            for l in range(depth + 1)]
        self.population_mean = [
            self.add_weight(shape=(sizes[l],), initializer="zeros", trainable=False,
                            name=f"pop_mean{l}") for l in range(1, depth + 1)]
        self.population_variance = [
            self.add_weight(shape=(sizes[l],), initializer="ones", trainable=False,
                            name=f"pop_var{l}") for l in range(1, depth + 1)]
        # The corruption noise comes from a counter-based generator whose state is a variable of
        # this layer's checkpoint, so a run restored from a checkpoint draws what an
        # uninterrupted run draws; created in a strategy's scope, each replica draws its own.
        self.noise = tf.random.Generator.from_key_counter(key=int(seeds[-1]), counter=[0, 0],
                                                          alg="philox")
        self.built = True

    @property
    def depth(self) -> int:
        return len(self.layer_sizes) - 1

    def _corrupt(self, x, noise_std):
        if noise_std == 0.0:
            return x
        return x + noise_std * self.noise.normal(tf.shape(x))

    def encode(self, x, noise_std: float, population_stats: bool = False):
        """Runs the encoder. Returns (logits [B, 10], z_tilde per layer 0..L, top softmax)."""
        return self._encode(x, noise_std, population_stats, None, [])

    def _encode(self, x, noise_std, population_stats, given, recorded):
        h = self._corrupt(tf.cast(x, tf.float32), noise_std)
        zs = [h]
        for l in range(1, self.depth + 1):
            pre = tf.matmul(h, self.encoder_weights[l - 1])
            if population_stats:
                mean, variance = self.population_mean[l - 1], self.population_variance[l - 1]
            else:
                mean, variance = _moments_of(pre, given, recorded)
            z = self._corrupt(_normalize(pre, mean, variance), noise_std)
            zs.append(z)
            if l < self.depth:
                h = tf.nn.relu(z + self.betas[l - 1])
        logits = self.top_gamma * (zs[-1] + self.betas[-1])
        return logits, zs, tf.nn.softmax(logits)

    def decode_bottom(self, zs, top):
        """The top-down pass with lateral connections; returns x_hat, the layer-0 estimate."""
        return self._decode_bottom(zs, top, None, [])

    def _decode_bottom(self, zs, top, given, recorded):
        u = top
        z_hat = None
        for l in range(self.depth, -1, -1):
            if l < self.depth:
                u = tf.matmul(z_hat, self.decoder_weights[l])
            u = _normalize(u, *_moments_of(u, given, recorded))
            z_hat = vanilla_combinator(zs[l], u, self.combinator[l])
        return z_hat

    def corrupted_logits(self, x):
        return self.encode(x, self.noise_std)[0]

    def energy(self, x, weight: float, moments: list | None = None):
        """Per-sample bottom denoising cost of a batch x [B, 784] -> [B], normalised with x's
        own batch statistics, or with `moments` (another batch's, from `energy_and_moments`)."""
        return self.energy_and_moments(x, weight, moments)[0]

    def energy_and_moments(self, x, weight: float, moments: list | None = None):
        """(`energy`, the batch statistics used: [(mean, variance)] per normalisation, encoder
        layers 1..L then decoder layers L..0)."""
        given = iter(moments) if moments is not None else None
        used: list = []
        _, zs, top = self._encode(x, self.noise_std, False, given, used)
        reconstruction = self._decode_bottom(zs, top, given, used)
        return denoising_cost(x, reconstruction, weight), used

    def classify(self, x):
        """Clean-encoder logits with the population statistics set by `calibrate`."""
        return self.encode(x, 0.0, population_stats=True)[0]

    def calibrate(self, x):
        """Sets the population batch-norm statistics from the clean encoder on x [N, 784].

        One pass over all of x at once, so each layer's statistics are those of x exactly.
        """
        h = tf.convert_to_tensor(x, tf.float32)
        for l in range(1, self.depth + 1):
            pre = tf.matmul(h, self.encoder_weights[l - 1])
            mean, variance = tf.nn.moments(pre, axes=[0])
            self.population_mean[l - 1].assign(mean)
            self.population_variance[l - 1].assign(variance)
            if l < self.depth:
                h = tf.nn.relu(_normalize(pre, mean, variance) + self.betas[l - 1])

    def call(self, x):
        return self.classify(x)


def build_generator(noise_dim: int = 100, width: int = 500, output_dim: int = 784,
                    seed: int | None = None, name: str = "generator") -> keras.Model:
    """EBGAN-LN's generator (a choice; the paper's is unknown): z -> images [B, 784] in [0, 1]."""
    init = keras.initializers.GlorotUniform(seed=seed)
    noise = keras.Input((noise_dim,), name="noise")
    x = noise
    for i in range(2):
        x = keras.layers.Dense(width, kernel_initializer=init, name=f"g_dense_{i}")(x)
        x = keras.layers.BatchNormalization(synchronized=True, name=f"g_bn_{i}")(x)
        x = keras.layers.Activation("softplus", name=f"g_softplus_{i}")(x)
    x = keras.layers.Dense(output_dim, kernel_initializer=init, name="g_output")(x)
    images = keras.layers.Activation("sigmoid", name="g_sigmoid")(x)
    return keras.Model(noise, images, name=name)
