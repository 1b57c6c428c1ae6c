"""EBGAN and GAN losses as pure tensor functions (paper §2, eqs. 1, 2, 13, 14).

Per-example losses return shape [batch] so that the caller reduces them with the global batch
size under `tf.distribute` (`tf.nn.compute_average_loss`). Each function that deviates from the
paper does so only behind an explicit switch whose default is the paper's formula; the switches
reproduce what popular third-party EBGAN ports do (paper.md §1), so their effect can be measured.
"""

from __future__ import annotations

import tensorflow as tf

ENERGY_REDUCTIONS = ("l2", "mse", "sse")
HINGE_MODES = ("per_sample", "batch_mean")
GAN_LOSSES = ("non_saturating", "minimax")

# Keeps the gradient of sqrt finite at a perfect reconstruction; far below any energy of interest.
_L2_EPSILON = 1e-12
# Keeps cosine similarity finite for an all-zero code (ReLU codes can be exactly zero).
_PT_NORM_EPSILON = 1e-12


def autoencoder_energy(x, reconstruction, reduction: str = "l2", stop_gradient_target: bool = False):
    """Energy D(x) of an auto-encoder discriminator, eq. 13: D(x) = ||Dec(Enc(x)) - x||.

    Args:
      x: the discriminator's input [batch, ...].
      reconstruction: Dec(Enc(x)), same shape as `x`.
      reduction: "l2" (the norm of eq. 13 as written, the default), "sse" (sum of squares) or
        "mse" (mean of squares over elements, what Torch's MSECriterion and most ports compute).
        The margin m only has meaning on one of these scales; see the Fig. 9 report.
      stop_gradient_target: treat `x` as a constant target (a deviation seen in some ports). With
        the default False, a generator receives gradient through both its sample and the target.

    Returns:
      float32 [batch] energies, non-negative.
    """
    if reduction not in ENERGY_REDUCTIONS:
        raise ValueError(f"reduction must be one of {ENERGY_REDUCTIONS}, got {reduction!r}")
    x = tf.cast(x, tf.float32)
    if stop_gradient_target:
        x = tf.stop_gradient(x)
    residual = tf.cast(reconstruction, tf.float32) - x
    residual = tf.reshape(residual, [tf.shape(residual)[0], -1])
    squared = tf.reduce_sum(tf.square(residual), axis=1)
    if reduction == "sse":
        return squared
    if reduction == "mse":
        return squared / tf.cast(tf.shape(residual)[1], tf.float32)
    return tf.sqrt(squared + _L2_EPSILON)


def ebgan_discriminator_loss(real_energy, fake_energy, margin, hinge: str = "per_sample"):
    """L_D = D(x) + [m - D(G(z))]^+, eq. 1.

    Args:
      real_energy: D(x), [batch] (or [K, batch] for K packed trials).
      fake_energy: D(G(z)), same shape.
      margin: m > 0, a Python float or scalar tensor (or [K, 1], one per packed trial).
      hinge: "per_sample" applies the hinge to each sample's energy, as eq. 1 and the criterion
        V = E[L_D] prescribe. "batch_mean" hinges the batch-mean fake energy instead, as many ports
        do; it lets low-energy fakes hide behind high-energy ones.

    Returns:
      float32 [batch] per-example losses (for "batch_mean", the shared hinge is added to each).
    """
    real_energy = tf.cast(real_energy, tf.float32)
    fake_energy = tf.cast(fake_energy, tf.float32)
    if hinge == "per_sample":
        return real_energy + tf.nn.relu(margin - fake_energy)
    if hinge == "batch_mean":
        # The mean over each batch (the last axis: packed trials keep their own batches).
        return real_energy + tf.nn.relu(margin - tf.reduce_mean(fake_energy, axis=-1,
                                                                keepdims=True))
    raise ValueError(f"hinge must be one of {HINGE_MODES}, got {hinge!r}")


def ebgan_generator_loss(fake_energy):
    """L_G = D(G(z)), eq. 2. Takes and returns float32 [batch]."""
    return tf.cast(fake_energy, tf.float32)


def pulling_away_term(codes, squared: bool = True, batch_dims: int = 0):
    """Pulling-away term f_PT, eq. 14: mean squared cosine similarity over distinct pairs.

    f_PT(S) = 1 / (N (N - 1)) * sum_i sum_{j != i} (S_i . S_j / (|S_i| |S_j|))^2

    Args:
      codes: encoder outputs of a generated batch, [N, ...] (flattened per sample), N >= 2; with
        `batch_dims` = 1, [K, N, ...]: K independent batches (K packed trials).
      squared: square the cosine (eq. 14). False gives the unsquared sum that some ports use,
        which is not bounded below by 0 and rewards anti-aligned codes.
      batch_dims: leading axes that index independent batches (0 or 1).

    Returns:
      float32 scalar (or [K]) in [0, 1] (squared): 1 for identical directions, 0 for orthogonal
      codes; invariant to the scale of each code.
    """
    codes = tf.cast(codes, tf.float32)
    shape = tf.shape(codes)
    codes = tf.reshape(codes, tf.concat([shape[:batch_dims + 1], [-1]], 0))
    norms = tf.sqrt(tf.reduce_sum(tf.square(codes), axis=-1, keepdims=True) + _PT_NORM_EPSILON)
    unit = codes / norms
    cosine = tf.matmul(unit, unit, transpose_b=True)
    similarity = tf.square(cosine) if squared else cosine
    n = tf.cast(shape[batch_dims], tf.float32)
    off_diagonal_sum = (tf.reduce_sum(similarity, axis=[-2, -1])
                        - tf.reduce_sum(tf.linalg.diag_part(similarity), axis=-1))
    return off_diagonal_sum / (n * (n - 1.0))


def gan_discriminator_loss(real_logits, fake_logits):
    """Standard GAN discriminator loss from logits: -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z)))).

    Args: real_logits, fake_logits: [batch] or [batch, 1]. Returns float32 [batch].
    """
    real_logits = tf.reshape(tf.cast(real_logits, tf.float32), [-1])
    fake_logits = tf.reshape(tf.cast(fake_logits, tf.float32), [-1])
    real_loss = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits)
    fake_loss = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
    return real_loss + fake_loss


def gan_generator_loss(fake_logits, loss: str = "non_saturating"):
    """GAN generator loss from logits D(G(z)), [batch] or [batch, 1] -> float32 [batch].

    "non_saturating": -log sigmoid(D(G(z))) (Goodfellow et al. 2014's practical choice, the default).
    "minimax": log(1 - sigmoid(D(G(z)))), the saddle-point objective, which saturates early on.
    """
    fake_logits = tf.reshape(tf.cast(fake_logits, tf.float32), [-1])
    if loss == "non_saturating":
        return tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits)
    if loss == "minimax":
        return -tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
    raise ValueError(f"GAN loss must be one of {GAN_LOSSES}, got {loss!r}")
