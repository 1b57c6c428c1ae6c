"""The one `(images, noise)` stream every experiment trains on.

A stream is a `tf.data` pipeline of training batches in which the latent noise comes *with the
data*: batch k's noise is N(0, I) drawn by a stateless generator keyed by (seed, k)
(`batch_noise`). So a distributed step sees exactly the noise a single-device step sees, and a run
resumed at step k (`start_batch=k`) sees exactly the batches and noise an uninterrupted run sees
from step k on. Three sources feed it:

- `array_stream`: images held in memory (the MNIST grid, Fig. 9): shuffled index batches gathered
  from one tensor; elements `(images [B, H, W, C], noise [B, noise_dim])`.
- `semi_supervised_stream`: Table 2's labelled and unlabelled batches, from index streams whose
  passes are stateless permutations (`index_batches`); elements are dicts.
- `ebgan_tf.data.images.image_stream`: encoded image files decoded and cropped per example (the
  convolutional figures); it attaches its noise with `with_noise`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def batch_noise(batch_index, batch_size: int, noise_dim: int, seed):
    """The noise of batch `batch_index`: float32 [batch_size, noise_dim] ~ N(0, I), keyed by
    (seed, batch_index) alone."""
    return tf.random.stateless_normal(
        [batch_size, noise_dim], seed=tf.stack([tf.cast(seed, tf.int64), batch_index]))


def with_noise(enumerated_batches: tf.data.Dataset, batch_size: int, noise_dim: int,
               seed) -> tf.data.Dataset:
    """(batch_index, images) elements -> (images, noise of that batch)."""
    return enumerated_batches.map(
        lambda index, images: (images, batch_noise(index, batch_size, noise_dim, seed)),
        num_parallel_calls=tf.data.AUTOTUNE)


def array_stream(images, batch_size: int, seed: int, noise_dim: int | None = None,
                 start_batch: int = 0, shuffle: bool = True, repeat: bool = True) -> tf.data.Dataset:
    """Batches of in-memory images for `fit()`, optionally paired with their noise.

    The shuffle buffer holds indices and each batch is one gather: the same batches as shuffling
    the images themselves (the permutation depends only on the seed), and a tensor passed in (a
    cached data set) is not copied. `start_batch` skips whole index batches, before any gather.

    Returns elements `images [B, H, W, C]`, or `(images, noise [B, noise_dim])` with `noise_dim`.
    """
    images = tf.convert_to_tensor(images)
    ds = tf.data.Dataset.range(images.shape[0])
    if shuffle:
        ds = ds.shuffle(images.shape[0], seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=True).enumerate().skip(start_batch)
    ds = ds.map(lambda index, indices: (index, tf.gather(images, indices)),
                num_parallel_calls=tf.data.AUTOTUNE)
    if noise_dim is None:
        ds = ds.map(lambda index, batch: batch)
    else:
        ds = with_noise(ds, batch_size, noise_dim, seed)
    return ds.prefetch(tf.data.AUTOTUNE)


def index_batches(n: int, batch_size: int, seed: int, start_batch: int = 0) -> tf.data.Dataset:
    """Endless batches of indices into n examples, a fresh permutation per pass keyed by
    (seed, pass): the stream has no state and starts at any batch in O(1)."""
    first = start_batch * batch_size
    first_pass = first // n

    def one_pass(index):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), index]))
        return tf.data.Dataset.from_tensor_slices(order)

    return (tf.data.Dataset.range(first_pass, 2**62).flat_map(one_pass)
            .skip(first - first_pass * n).batch(batch_size, drop_remainder=True))


def semi_supervised_stream(images: np.ndarray, labels: np.ndarray, labelled_indices: np.ndarray,
                           labelled_batch_size: int, unlabelled_batch_size: int, seed: int,
                           noise_dim: int | None = None, start_batch: int = 0,
                           num_batches: int | None = None) -> tf.data.Dataset:
    """Table 2's stream of dict batches for the LN / EBGAN-LN `train_step`.

    Each batch: `labelled` [B_l, ...] and `labels` [B_l] (the labelled subset, reshuffled each
    pass), `unlabelled` [B_u, ...] (all training images, the labelled ones included, as in the
    LN), and with `noise_dim` also `noise` [B_u, noise_dim]. Batches `start_batch`, ... (endless
    when `num_batches` is None).
    """
    all_images = tf.constant(images)
    labelled_images = tf.constant(images[labelled_indices])
    labelled_labels = tf.constant(labels[labelled_indices].astype(np.int32))

    def gather(index, pair):
        labelled, unlabelled = pair
        batch = {"labelled": tf.gather(labelled_images, labelled),
                 "labels": tf.gather(labelled_labels, labelled),
                 "unlabelled": tf.gather(all_images, unlabelled)}
        if noise_dim is not None:
            batch["noise"] = batch_noise(index, unlabelled_batch_size, noise_dim, seed)
        return batch

    streams = (index_batches(len(labelled_indices), labelled_batch_size, seed, start_batch),
               index_batches(len(images), unlabelled_batch_size, seed + 1, start_batch))
    ds = tf.data.Dataset.zip(streams).enumerate(start_batch)
    if num_batches is not None:
        ds = ds.take(num_batches)
    return ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
