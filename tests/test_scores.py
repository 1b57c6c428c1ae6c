"""The score functions against independent NumPy references, and the score API on images."""

import math

import keras
import numpy as np
import pytest

from ebgan_tf.data import mnist as data
from ebgan_tf import metrics
from ebgan_tf.metrics import scores

EPS = scores.DEFAULT_EPS


# --- Independent references: entropy / cross-entropy forms, per-sample loops. ---

def _reference_clip(p, eps=EPS):
    p = np.clip(np.asarray(p, np.float64), eps, 1.0)
    return p / p.sum(axis=1, keepdims=True)


def _entropy(p):
    return -sum(float(v) * math.log(float(v)) for v in p)


def _reference_log_is(p, eps=EPS):
    """H(p(y)) - E_x H(p(y|x)): the same quantity as E_x KL(p(y|x) ‖ p(y)), written another way."""
    p = _reference_clip(p, eps)
    marginal = p.mean(axis=0)
    return _entropy(marginal) - np.mean([_entropy(row) for row in p])


def _reference_i_prime(p, eps=EPS):
    """E_x [cross-entropy(p(y), p(y|x))] - H(p(y)) = E_x KL(p(y) ‖ p(y|x))."""
    p = _reference_clip(p, eps)
    marginal = p.mean(axis=0)
    cross_entropies = [-sum(m * math.log(q) for m, q in zip(marginal, row)) for row in p]
    return np.mean(cross_entropies) - _entropy(marginal)


def _one_hot(labels, num_classes=10):
    return np.eye(num_classes)[labels]


def _dirichlet_table(seed, num_samples=200, num_classes=10, concentration=0.3):
    return np.random.default_rng(seed).dirichlet([concentration] * num_classes, num_samples)


# --- Pure functions on hand-made probability tables. ---

def test_uniform_predictions_score_zero():
    p = np.full((50, 10), 0.1)
    assert scores.log_is(p) == pytest.approx(0.0, abs=1e-12)
    assert scores.i_prime(p) == pytest.approx(0.0, abs=1e-12)
    assert scores.inception_score(p) == pytest.approx(1.0, abs=1e-12)


def test_balanced_one_hot_gives_log_10():
    p = _one_hot(np.arange(100) % 10)
    assert scores.log_is(p) == pytest.approx(math.log(10), abs=1e-9)
    assert scores.inception_score(p) == pytest.approx(10.0, abs=1e-8)
    assert scores.log_is(p) == pytest.approx(_reference_log_is(p), abs=1e-12)


def test_single_class_scores_zero():
    p = _one_hot(np.full(40, 3))
    assert scores.log_is(p) == pytest.approx(0.0, abs=1e-9)
    assert scores.i_prime(p) == pytest.approx(0.0, abs=1e-9)
    assert scores.inception_score(p) == pytest.approx(1.0, abs=1e-9)


def test_i_prime_is_finite_on_one_hot_thanks_to_clipping():
    p = _one_hot(np.arange(100) % 10)
    with np.errstate(divide="ignore"):
        assert np.isinf(np.mean(np.sum(p.mean(0) * (np.log(p.mean(0)) - np.log(p)), 1)))
    value = scores.i_prime(p)
    assert np.isfinite(value)
    assert value == pytest.approx(_reference_i_prime(p), rel=1e-12)
    # Nine of ten marginal masses 0.1 sit on clipped entries: ≈ 0.9 ln(0.1 / eps).
    assert value == pytest.approx(0.9 * math.log(0.1 / EPS) + 0.1 * math.log(0.1), rel=1e-6)
    assert value <= math.log(1 / EPS)


@pytest.mark.parametrize("seed, num_classes, concentration",
                         [(0, 10, 0.3), (1, 10, 5.0), (2, 3, 0.05), (3, 10, 0.01)])
def test_scores_match_numpy_reference_on_random_tables(seed, num_classes, concentration):
    p = _dirichlet_table(seed, num_classes=num_classes, concentration=concentration)
    assert scores.log_is(p) == pytest.approx(_reference_log_is(p), rel=1e-10, abs=1e-12)
    assert scores.i_prime(p) == pytest.approx(_reference_i_prime(p), rel=1e-10, abs=1e-12)
    assert 0.0 <= scores.log_is(p) <= math.log(num_classes) + 1e-12
    assert scores.i_prime(p) >= 0.0


def test_clip_eps_is_a_parameter():
    p = _one_hot(np.arange(20) % 10)
    assert scores.i_prime(p, eps=1e-6) == pytest.approx(_reference_i_prime(p, 1e-6), rel=1e-12)
    assert scores.i_prime(p, eps=1e-6) < scores.i_prime(p, eps=1e-12)


def test_classifier_scores_dict():
    p = _dirichlet_table(4)
    result = scores.classifier_scores(p)
    assert result == {"i_prime": scores.i_prime(p), "log_is": scores.log_is(p),
                      "inception_score": scores.inception_score(p), "num_samples": 200}


def test_pure_scores_are_bitwise_deterministic():
    p = _dirichlet_table(5, num_samples=5000)
    assert scores.classifier_scores(p) == scores.classifier_scores(p.copy())


@pytest.mark.parametrize("bad", [
    np.full(10, 0.1),                       # not [N, K]
    np.zeros((0, 10)),                      # no samples
    np.full((4, 10), 0.2),                  # rows sum to 2
    np.array([[1.5, -0.5], [0.5, 0.5]]),    # outside [0, 1]
    np.array([[np.nan, 1.0], [0.5, 0.5]]),  # NaN
    np.array([[3.0, -1.0], [0.0, 2.0]]),    # logits, not probabilities
])
def test_bad_probabilities_raise(bad):
    with pytest.raises(ValueError):
        scores.log_is(bad)
    with pytest.raises(ValueError):
        scores.i_prime(bad)


def test_bad_eps_raises():
    with pytest.raises(ValueError, match="eps"):
        scores.log_is(np.full((2, 10), 0.1), eps=0.0)


# --- Fréchet distance. ---

def _reference_frechet(mean1, cov1, mean2, cov2):
    """Via the eigenvalues of the non-symmetric Σ1 Σ2 (real and >= 0 for PSD Σ1, Σ2)."""
    eigenvalues = np.linalg.eigvals(cov1 @ cov2)
    trace_sqrt = np.sum(np.sqrt(np.clip(eigenvalues.real, 0.0, None)))
    return float(np.sum((mean1 - mean2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * trace_sqrt)


def _random_covariance(rng, dim, rank=None):
    factor = rng.normal(size=(dim, rank or dim))
    return factor @ factor.T / dim


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    mean1, mean2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var1, var2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    expected = 1.0 + 0.0 + 4.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 0.5) ** 2
    assert scores.frechet_distance(mean1, np.diag(var1), mean2, np.diag(var2)) == pytest.approx(
        expected, rel=1e-12)


def test_frechet_distance_matches_reference_on_general_covariances():
    rng = np.random.default_rng(0)
    for dim, rank in [(5, None), (32, None), (16, 4)]:  # rank 4: a singular Σ
        mean1, mean2 = rng.normal(size=dim), rng.normal(size=dim)
        cov1, cov2 = _random_covariance(rng, dim, rank), _random_covariance(rng, dim)
        value = scores.frechet_distance(mean1, cov1, mean2, cov2)
        assert value == pytest.approx(_reference_frechet(mean1, cov1, mean2, cov2), rel=1e-8)
        assert value == pytest.approx(scores.frechet_distance(mean2, cov2, mean1, cov1), rel=1e-8)


def test_frechet_distance_of_identical_statistics_is_zero():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(2000, 20)) @ rng.normal(size=(20, 20))
    assert scores.frechet_distance_from_features(features, features) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_from_samples_of_known_gaussians():
    rng = np.random.default_rng(2)
    shift = np.zeros(4)
    shift[0] = 3.0
    features1 = rng.normal(size=(100_000, 4))
    features2 = rng.normal(size=(100_000, 4)) * 2.0 + shift
    # ‖μ1 - μ2‖² + Σ_i (σ1 - σ2)² = 9 + 4 · 1.
    assert scores.frechet_distance_from_features(features1, features2) == pytest.approx(13.0, rel=0.02)


def test_streamed_gaussian_statistics_equal_one_shot():
    rng = np.random.default_rng(3)
    features = rng.normal(loc=100.0, size=(1000, 8)) * rng.uniform(0.1, 10, 8)
    statistics = scores.GaussianStatistics(8)
    for start, stop in [(0, 1), (1, 300), (300, 301), (301, 1000)]:
        statistics.update(features[start:stop])
    assert statistics.count == 1000
    np.testing.assert_allclose(statistics.mean, features.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(statistics.covariance, np.cov(features, rowvar=False), rtol=1e-9)


def test_bad_frechet_inputs_raise():
    with pytest.raises(ValueError):
        scores.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError):
        scores.gaussian_statistics(np.zeros((1, 3)))  # one sample has no covariance
    with pytest.raises(ValueError):
        scores.GaussianStatistics(3).update(np.zeros((5, 4)))


# --- The API on images (the committed classifier). ---

def _digits_like(num, size=28, seed=0):
    """Blob images with a -1 background, in [-1, 1]: cheap, no data set needed."""
    return data.synthetic_images(num, size, size, seed=seed)


def test_28x28_input_is_padded_like_the_data_loader():
    raw = _digits_like(64)
    padded = np.pad(raw, ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=-1.0)
    from_raw = metrics.classify_mnist(raw)
    assert from_raw.shape == (64, 10) and from_raw.dtype == np.float64
    np.testing.assert_allclose(from_raw.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(from_raw, metrics.classify_mnist(padded))
    np.testing.assert_array_equal(from_raw, metrics.classify_mnist(raw[..., 0]))  # no channel axis


def test_mnist_scores_are_deterministic_and_batch_split():
    images = _digits_like(300, size=32, seed=1)
    first = metrics.mnist_scores(images, batch_size=128)
    assert first == metrics.mnist_scores(images, batch_size=128)
    assert set(first) >= {"i_prime", "log_is", "inception_score", "num_samples"}
    assert first["num_samples"] == 300
    # Another batch split changes only float32 round-off inside the network.
    other = metrics.mnist_scores(images, batch_size=300)
    assert other["log_is"] == pytest.approx(first["log_is"], abs=1e-4)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 30, 30, 1), np.float32), "shape"),
    (np.zeros((4, 32, 32, 3), np.float32), "shape"),
    (np.zeros((32, 32, 1), np.float32), "shape"),
    (np.full((4, 32, 32, 1), 255, np.uint8), r"\[-1, 1\]"),
    (np.full((4, 32, 32, 1), np.nan, np.float32), "NaN"),
    (np.zeros((0, 32, 32, 1), np.float32), "N = 0"),
])
def test_bad_images_raise(bad, message):
    with pytest.raises(ValueError, match=message):
        metrics.classify_mnist(bad)


def _stand_in_generator(noise_dim=100, seed=0):
    """An untrained MLP, z -> 1024 tanh -> 32x32x1: the suite's generators' interface."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((noise_dim,)),
        keras.layers.Dense(32 * 32, activation="tanh"),
        keras.layers.Reshape((32, 32, 1)),
    ])


def test_evaluate_generator_is_seeded():
    generator = _stand_in_generator()
    first = metrics.evaluate_generator(generator, num_samples=600, seed=7, batch_size=256)
    assert first == metrics.evaluate_generator(generator, num_samples=600, seed=7, batch_size=256)
    assert first["num_samples"] == 600 and first["seed"] == 7
    other = metrics.evaluate_generator(generator, num_samples=600, seed=8, batch_size=256)
    assert other["log_is"] != first["log_is"]
    explicit = metrics.evaluate_generator(generator, num_samples=600, seed=7, noise_dim=100,
                                          batch_size=256)
    assert explicit == first


def test_evaluate_generator_rejects_bad_output():
    generator = keras.Sequential([keras.Input((8,)), keras.layers.Dense(30 * 30),
                                  keras.layers.Reshape((30, 30, 1))])
    with pytest.raises(ValueError, match="shape"):
        metrics.evaluate_generator(generator, num_samples=10)


def test_histogram_score_is_a_score_key():
    assert metrics.HISTOGRAM_SCORE in metrics.mnist_scores(_digits_like(10))


# --- Real MNIST. ---

@pytest.fixture(scope="module")
def mnist_test_images(mnist_data_dir):
    images, _ = data.load_mnist_arrays("test", mnist_data_dir)
    return images


def test_real_digits_score_far_above_noise(mnist_test_images):
    real = metrics.mnist_scores(mnist_test_images[:2000])
    noise = metrics.mnist_scores(
        np.random.default_rng(0).uniform(-1, 1, (2000, 32, 32, 1)).astype(np.float32))
    assert real["log_is"] > 2.2  # ln 10 ≈ 2.303 is the ceiling
    assert noise["log_is"] < 0.5
    assert real["inception_score"] > 9.0


def test_frechet_distance_separates_real_digits_from_noise(mnist_data_dir, mnist_test_images):
    real = metrics.mnist_frechet_distance(mnist_test_images[:2000], data_dir=mnist_data_dir)
    one_class = metrics.mnist_frechet_distance(
        mnist_test_images[_test_labels(mnist_data_dir) == 1][:1000], data_dir=mnist_data_dir)
    assert real < 0.1 * one_class
    generator = _stand_in_generator()
    result = metrics.evaluate_generator(generator, num_samples=500, seed=0,
                                        with_frechet_distance=True, data_dir=mnist_data_dir)
    assert result["frechet_distance"] > 10 * real


def _test_labels(mnist_data_dir):
    return data.load_mnist_arrays("test", mnist_data_dir)[1]


class _ReplayGenerator(keras.Model):
    """Ignores z and returns the next real digits in turn: a generator whose classes are known."""

    def __init__(self, images):
        super().__init__()
        self.images, self.position = images, 0

    def call(self, noise, training=False):
        n = noise.shape[0]
        batch = self.images[self.position:self.position + n]
        self.position += n
        return batch


def test_evaluate_generator_counts_the_classes_it_sees(mnist_data_dir, mnist_test_images):
    labels = _test_labels(mnist_data_dir)
    ones_and_sevens = np.flatnonzero((labels == 1) | (labels == 7))[:700]
    generator = _ReplayGenerator(mnist_test_images[ones_and_sevens])
    result = metrics.evaluate_generator(generator, num_samples=700, seed=0, noise_dim=100,
                                        batch_size=256)
    counts = np.asarray(result["class_counts"])
    expected = np.bincount(labels[ones_and_sevens], minlength=10)
    assert counts.sum() == 700 and counts.shape == (10,)
    # The classifier errs on 0.39 % of test digits; allow a few here.
    assert np.abs(counts - expected).sum() <= 6
    assert set(np.flatnonzero(counts > 5)) == {1, 7}
