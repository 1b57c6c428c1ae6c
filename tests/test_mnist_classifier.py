"""The committed MNIST score classifier: accuracy on real MNIST, provenance, and its training code."""

import json

import keras
import numpy as np
import pytest

from ebgan_tf.data import mnist as data
from ebgan_tf.metrics import mnist_classifier
from ebgan_tf.tools import train_classifier

TARGET_TEST_ACCURACY = 0.993  # issue 3


@pytest.fixture(scope="module")
def provenance():
    return json.loads(mnist_classifier.PROVENANCE_PATH.read_text())


def test_committed_classifier_reaches_target_accuracy(mnist_data_dir, provenance):
    images, labels = data.load_mnist_arrays("test", mnist_data_dir)
    probabilities = mnist_classifier.default_classifier().probabilities(images)
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == labels))
    assert accuracy >= TARGET_TEST_ACCURACY
    # The accuracy recorded at training time, recomputed here (round-off may flip a borderline digit).
    assert accuracy == pytest.approx(provenance["test_accuracy"], abs=2e-4)


def test_provenance_describes_the_committed_file(provenance):
    assert provenance["weights_file"] == mnist_classifier.CLASSIFIER_PATH.name
    assert provenance["weights_sha256"] == train_classifier.file_sha256(
        mnist_classifier.CLASSIFIER_PATH)
    assert provenance["test_accuracy"] >= TARGET_TEST_ACCURACY
    # The command it was trained with (the tool then lived in ebgan_tf.metrics).
    assert provenance["command"].startswith("python -m ebgan_tf.metrics.train_classifier")
    assert provenance["op_determinism"] is True
    assert {"seed", "epochs", "versions", "training_wall_time_s"} <= set(provenance)
    assert set(provenance["versions"]) >= {"tensorflow", "keras", "numpy", "python"}


def test_classifier_exposes_penultimate_features():
    classifier = mnist_classifier.default_classifier()
    logits, features = classifier.logits_and_features(data.synthetic_images(7))
    assert logits.shape == (7, 10) and features.shape == (7, classifier.feature_dim)
    assert classifier.feature_dim == 128
    assert np.all(features >= 0)  # post-ReLU


def test_saved_architecture_matches_the_builder():
    saved = mnist_classifier.default_classifier().model
    built = mnist_classifier.build_mnist_classifier()
    assert [layer.name for layer in saved.layers] == [layer.name for layer in built.layers]
    assert saved.count_params() == built.count_params()


def test_shift_augmentation_translates_whole_digits():
    images = data.synthetic_images(50, seed=3)
    assert train_classifier.shift_images(images, 0, np.random.default_rng(0)) is images
    shifted = train_classifier.shift_images(images, 2, np.random.default_rng(0))
    assert shifted.shape == images.shape and shifted.dtype == images.dtype
    assert shifted.min() >= -1.0 and shifted.max() <= 1.0
    for original, moved in zip(images[:, :, :, 0], shifted[:, :, :, 0]):
        matches = [np.array_equal(np.pad(original, 2, constant_values=-1.0)[
            2 - dy:34 - dy, 2 - dx:34 - dx], moved) for dy in range(-2, 3) for dx in range(-2, 3)]
        assert any(matches)


def test_training_is_deterministic():
    images = data.synthetic_images(128, seed=4)
    labels = np.arange(128) % 10
    weights = [train_classifier.train(images, labels, seed=1, epochs=1, batch_size=64)[0]
               .get_weights() for _ in range(2)]
    assert all(np.array_equal(a, b) for a, b in zip(*weights))
    keras.utils.set_random_seed(1)  # as `train` does before building its model
    initial = mnist_classifier.build_mnist_classifier().get_weights()
    assert not np.array_equal(weights[0][0], initial[0])  # it did train
