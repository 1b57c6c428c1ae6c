"""The MNIST classifier behind the suite's score (paper §2.4): network, input checks, batched inference.

The paper scores generated digits with "a regular 3-layer ConvNet trained on MNIST"; its exact
architecture is not published. This one has three 3x3 convolutional layers (each followed by batch
normalisation, ReLU and 2x2 max pooling), a 128-unit fully connected feature layer and a linear
10-way output. It reads 32x32x1 images in [-1, 1], the padded format the grid's generators produce
(paper §2.3); 28x28 input is padded with background (-1) first, exactly as `ebgan_tf.data` pads.

The model outputs logits; probabilities are computed from them in float64 NumPy so that the small
probabilities the scores take logarithms of are as exact as the logits allow.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Iterator

import keras
import numpy as np
import tensorflow as tf

NUM_CLASSES = 10
IMAGE_SIZE = 32  # The classifier's input side; 28x28 digits are padded to it.
RAW_IMAGE_SIZE = 28
FEATURES_LAYER = "features"  # Penultimate layer: the embedding the Fréchet distance compares.
LOGITS_LAYER = "logits"
DEFAULT_BATCH_SIZE = 500  # Bounds inference memory (~15 MB of activations); any size gives the same math.
# Inputs may exceed [-1, 1] by float round-off (e.g. a rescaled uint8 image), not by more.
RANGE_TOLERANCE = 1e-5

CLASSIFIER_PATH = Path(__file__).with_name("mnist_classifier.keras")
PROVENANCE_PATH = Path(__file__).with_name("mnist_classifier.json")


def build_mnist_classifier(conv_filters=(32, 64, 128), feature_units: int = 128,
                           dropout_rate: float = 0.3) -> keras.Model:
    """The score's ConvNet, untrained.

    Args:
      conv_filters: filters of the three convolutional layers.
      feature_units: width of the penultimate (feature) layer.
      dropout_rate: dropout between the feature layer and the logits, active in training only.

    Returns:
      A functional `keras.Model` mapping float32 [B, 32, 32, 1] in [-1, 1] to logits [B, 10]. Its
      layer named `FEATURES_LAYER` outputs the [B, feature_units] penultimate features.
    """
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="images")
    x = inputs
    for i, filters in enumerate(conv_filters, start=1):
        # No bias: batch normalisation's offset replaces it.
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = keras.layers.BatchNormalization(name=f"conv{i}_bn")(x)
        x = keras.layers.ReLU(name=f"conv{i}_relu")(x)
        x = keras.layers.MaxPooling2D(2, name=f"conv{i}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(feature_units, use_bias=False, name="fc")(x)
    x = keras.layers.BatchNormalization(name="fc_bn")(x)
    features = keras.layers.ReLU(name=FEATURES_LAYER)(x)
    x = keras.layers.Dropout(dropout_rate, name="dropout")(features)
    logits = keras.layers.Dense(NUM_CLASSES, name=LOGITS_LAYER)(x)
    return keras.Model(inputs, logits, name="mnist_classifier")


def prepare_images(images) -> np.ndarray:
    """Checks and pads images for the classifier.

    Args:
      images: [N, 28|32, 28|32] or [N, 28|32, 28|32, 1], values in [-1, 1] (any float or int dtype;
        a NumPy array, a tensor, or anything `np.asarray` takes).

    Returns:
      float32 [N, 32, 32, 1] in [-1, 1]; 28x28 input gets a 2-pixel border of background (-1).

    Raises:
      ValueError: a shape other than the above, no images, non-finite values, or values outside
        [-1, 1] (e.g. uint8 images in [0, 255]).
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if (images.ndim != 4 or images.shape[-1] != 1 or images.shape[1] != images.shape[2]
            or images.shape[1] not in (RAW_IMAGE_SIZE, IMAGE_SIZE)):
        raise ValueError(
            f"MNIST images must be [N, 32, 32, 1] or [N, 28, 28, 1] (channel axis optional), "
            f"got shape {images.shape}.")
    if images.shape[0] == 0:
        raise ValueError("no images to classify (N = 0).")
    if images.dtype.kind not in "fiu":
        raise ValueError(f"MNIST images must be numeric, got dtype {images.dtype}.")
    images = images.astype(np.float32, copy=False)
    if not np.all(np.isfinite(images)):
        raise ValueError("MNIST images contain NaN or inf.")
    low, high = float(images.min()), float(images.max())
    if low < -1.0 - RANGE_TOLERANCE or high > 1.0 + RANGE_TOLERANCE:
        raise ValueError(
            f"MNIST images must lie in [-1, 1] (tanh range, background -1), got values in "
            f"[{low:.4g}, {high:.4g}]; rescale uint8 images with x * 2 / 255 - 1.")
    if images.shape[1] == RAW_IMAGE_SIZE:
        border = (IMAGE_SIZE - RAW_IMAGE_SIZE) // 2
        images = np.pad(images, ((0, 0), (border, border), (border, border), (0, 0)),
                        constant_values=-1.0)
    return np.clip(images, -1.0, 1.0)


def softmax_float64(logits) -> np.ndarray:
    """float64 [N, K] softmax of logits [N, K], so that tiny class probabilities keep their digits."""
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class MNISTClassifier:
    """A trained score classifier, run in inference mode in fixed-size batches.

    Args:
      model: a model built by `build_mnist_classifier` (trained), or any functional model with
        layers named `FEATURES_LAYER` and `LOGITS_LAYER` mapping [B, 32, 32, 1] to [B, 10] logits.
    """

    def __init__(self, model: keras.Model):
        self.model = model
        self._two_headed = keras.Model(
            model.inputs,
            [model.get_layer(LOGITS_LAYER).output, model.get_layer(FEATURES_LAYER).output])
        # One trace for every batch size (the last batch is usually smaller).
        self._forward = tf.function(
            lambda x: self._two_headed(x, training=False), autograph=False,
            input_signature=[tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 1], tf.float32)])

    @property
    def feature_dim(self) -> int:
        return int(self.model.get_layer(FEATURES_LAYER).output.shape[-1])

    def batches(self, images, batch_size: int = DEFAULT_BATCH_SIZE
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yields (logits float32 [B, 10], features float32 [B, F]) batch by batch, in order.

        Each batch is checked and padded on its own (`prepare_images`), so memory stays bounded by
        the input plus one batch whatever N is.

        Args:
          images: as in `prepare_images`.
          batch_size: images per forward pass.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}.")
        images = np.asarray(images)
        if images.ndim not in (3, 4) or images.shape[0] == 0:
            prepare_images(images)  # Raises the shape error before any work.
        for start in range(0, len(images), batch_size):
            batch = prepare_images(images[start:start + batch_size])
            logits, features = self._forward(tf.constant(batch))
            yield logits.numpy(), features.numpy()

    def logits_and_features(self, images, batch_size: int = DEFAULT_BATCH_SIZE
                            ) -> tuple[np.ndarray, np.ndarray]:
        """Images as in `prepare_images` -> (logits float32 [N, 10], features float32 [N, F])."""
        outputs = list(self.batches(images, batch_size))
        return np.concatenate([o[0] for o in outputs]), np.concatenate([o[1] for o in outputs])

    def probabilities(self, images, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Images as in `prepare_images` -> p(y|x), float64 [N, 10], rows summing to 1."""
        return np.concatenate(
            [softmax_float64(logits) for logits, _ in self.batches(images, batch_size)])


def load_mnist_classifier_model(path: str | os.PathLike = CLASSIFIER_PATH) -> keras.Model:
    """Loads a saved classifier; `path` defaults to the committed weights."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"MNIST score classifier {path} is missing; retrain it with "
            f"`python -m ebgan_tf.tools.train_classifier --output {path}`.")
    return keras.saving.load_model(path, compile=False)


@functools.lru_cache(maxsize=2)
def default_classifier(path: str = str(CLASSIFIER_PATH)) -> MNISTClassifier:
    """The committed classifier (or the one at `path`), loaded once per process."""
    return MNISTClassifier(load_mnist_classifier_model(path))
