"""Calibrates the two candidate MNIST scores on sample sets of known quality (docs/mnist_score.md).

    python -m ebgan_tf.tools.calibrate_scores --data_dir ../shared/data

Prints two Markdown tables. The first: for each set, log IS, IS, I′ (at two clip levels), the
Fréchet distance to the test set, and the classifier's mean top-class probability. The second: both
scores of real digits as the classifier is made less confident (logits divided by a temperature).
About 3 CPU-minutes (the PPCA fits dominate).
The sets range from real digits to noise, with "trained generator"-like proxies in between:
degraded real digits, class subsets, mode collapse, and two simple fitted generative models
(probabilistic PCA, globally and per class). Every set is made from a fixed seed.
"""

from __future__ import annotations

import argparse
import sys

import keras
import numpy as np

from ebgan_tf.data import DATA_DIR_ENV
from ebgan_tf.data import mnist as data
from ebgan_tf import metrics
from ebgan_tf.metrics import mnist_classifier
from ebgan_tf.metrics import scores

DEFAULT_NUM_SAMPLES = metrics.DEFAULT_NUM_SAMPLES
SEED = 0


def _gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of [N, H, W, 1] images; the border is extended with background."""
    radius = int(np.ceil(3 * sigma))
    taps = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2 * sigma ** 2))
    taps /= taps.sum()
    padded = np.pad(images[..., 0], ((0, 0), (radius, radius), (radius, radius)),
                    constant_values=-1.0)
    size = images.shape[1]
    rows = sum(t * padded[:, i:i + size, :] for i, t in enumerate(taps))
    both = sum(t * rows[:, :, i:i + size] for i, t in enumerate(taps))
    return both[..., None].astype(np.float32)


def _ppca_sampler(train_images: np.ndarray, components: int, rng: np.random.Generator):
    """Fits probabilistic PCA to flattened images; returns a sampler num -> images in [-1, 1]."""
    flat = train_images.reshape(len(train_images), -1).astype(np.float64)
    mean = flat.mean(axis=0)
    _, singular_values, basis = np.linalg.svd(flat - mean, full_matrices=False)
    variances = singular_values ** 2 / (len(flat) - 1)
    noise_variance = variances[components:].mean()
    scales = np.sqrt(np.maximum(variances[:components] - noise_variance, 0.0))

    def sample(num):
        latents = rng.standard_normal((num, components))
        flat_samples = (mean + (latents * scales) @ basis[:components]
                        + rng.standard_normal((num, flat.shape[1])) * np.sqrt(noise_variance))
        return np.clip(flat_samples, -1, 1).reshape((num,) + train_images.shape[1:]).astype(
            np.float32)

    return sample


def _untrained_generator(noise_dim: int = 100) -> keras.Model:
    """Stand-in for an untrained grid generator: z -> 1024 tanh -> 32x32x1, default init."""
    keras.utils.set_random_seed(SEED)
    return keras.Sequential([keras.Input((noise_dim,)), keras.layers.Dense(32 * 32, activation="tanh"),
                             keras.layers.Reshape((32, 32, 1))], name="untrained_generator")


def calibration_sets(data_dir, num_samples: int = DEFAULT_NUM_SAMPLES) -> dict[str, np.ndarray]:
    """Named image sets [N, 32, 32, 1] in [-1, 1], from the best to the worst imaginable."""
    rng = np.random.default_rng(SEED)
    test_images, test_labels = data.load_mnist_arrays("test", data_dir)
    train_images, train_labels = data.load_mnist_arrays("train", data_dir)
    real = test_images[:num_samples]
    sets = {
        "real test set": real,
        "real training subset": train_images[rng.choice(len(train_images), num_samples, False)],
    }
    one_per_class = np.stack([test_images[np.flatnonzero(test_labels == c)[0]] for c in range(10)])
    sets["mode collapse: 10 real digits, one per class, repeated"] = np.repeat(
        one_per_class, -(-num_samples // 10), axis=0)[:num_samples]
    for sigma in (0.25, 0.5, 1.0):
        sets[f"real + Gaussian pixel noise, sigma {sigma}"] = np.clip(
            real + rng.normal(0, sigma, real.shape), -1, 1).astype(np.float32)
    for sigma in (1.0, 1.5, 2.0):
        sets[f"real, Gaussian blur sigma {sigma} px"] = _gaussian_blur(real, sigma)
    pairs = rng.choice(len(real), (num_samples, 2))
    sets["average of two random real digits"] = (real[pairs[:, 0]] + real[pairs[:, 1]]) / 2
    per_class_samplers = [
        _ppca_sampler(train_images[train_labels == c], 20, rng) for c in range(10)]
    sets["per-class PPCA (20 comp.), 10 classes"] = np.concatenate(
        [per_class_samplers[c](num_samples // 10) for c in range(10)])
    sets["PPCA (50 comp.) on all digits"] = _ppca_sampler(train_images, 50, rng)(num_samples)
    sets["real, 5 classes (0-4)"] = test_images[test_labels < 5]
    sets["real, 2 classes (0, 1)"] = test_images[test_labels < 2]
    sets["real, single class (1)"] = test_images[test_labels == 1]
    sets["real, single class (8)"] = test_images[test_labels == 8]
    sets["uniform noise in [-1, 1]"] = rng.uniform(-1, 1, real.shape).astype(np.float32)
    sets["blank (all background)"] = np.full((num_samples, 32, 32, 1), -1.0, np.float32)
    generator = _untrained_generator()
    noise = np.random.default_rng(SEED).standard_normal((num_samples, 100)).astype(np.float32)
    sets["untrained generator (MLP z100 -> 1024 tanh)"] = keras.ops.convert_to_numpy(
        generator.predict(noise, batch_size=1000, verbose=0))
    return sets


def calibrate(data_dir, num_samples: int = DEFAULT_NUM_SAMPLES) -> list[dict]:
    """One row per calibration set: the scores, the Fréchet distance, the mean top probability."""
    classifier = mnist_classifier.default_classifier()
    reference = metrics.mnist_reference_statistics(data_dir)
    rows = []
    for name, images in calibration_sets(data_dir, num_samples).items():
        logits, features = classifier.logits_and_features(images)
        probabilities = mnist_classifier.softmax_float64(logits)
        row = {"set": name, **scores.classifier_scores(probabilities),
               "i_prime_eps_1e-6": scores.i_prime(probabilities, eps=1e-6),
               "top_probability": float(probabilities.max(axis=1).mean()),
               "frechet_distance": scores.frechet_distance(
                   *scores.gaussian_statistics(features), *reference)}
        rows.append(row)
    return rows


def temperature_rows(data_dir, temperatures=(1.0, 2.0, 4.0, 8.0)) -> list[dict]:
    """How each score of real test digits depends on the classifier's confidence.

    Dividing the logits by a temperature T > 1 mimics a softer (less confident) classifier with
    the same decisions: a stand-in for the paper's unknown classifier.
    """
    images, labels = data.load_mnist_arrays("test", data_dir)
    logits, _ = mnist_classifier.default_classifier().logits_and_features(images)
    rows = []
    for name, subset in [("real test set", logits), ("real, 5 classes (0-4)", logits[labels < 5])]:
        for temperature in temperatures:
            probabilities = mnist_classifier.softmax_float64(subset / temperature)
            rows.append({"set": name, "temperature": temperature,
                         **scores.classifier_scores(probabilities),
                         "top_probability": float(probabilities.max(axis=1).mean())})
    return rows


def markdown_table(rows: list[dict]) -> str:
    lines = ["| set | N | log IS | IS | I′ (eps 1e-12) | I′ (eps 1e-6) | FD to test set | mean top p |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['set']} | {r['num_samples']} | {r['log_is']:.3f} | "
                     f"{r['inception_score']:.2f} | {r['i_prime']:.2f} | {r['i_prime_eps_1e-6']:.2f} | "
                     f"{r['frechet_distance']:.2f} | {r['top_probability']:.3f} |")
    return "\n".join(lines)


def temperature_table(rows: list[dict]) -> str:
    lines = ["| set | temperature | log IS | I′ (eps 1e-12) | mean top p |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['set']} | {r['temperature']:g} | {r['log_is']:.3f} | {r['i_prime']:.2f} | "
                     f"{r['top_probability']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=None,
                        help=f"folder holding mnist/*-ubyte.gz (default ${DATA_DIR_ENV})")
    parser.add_argument("--num_samples", type=int, default=DEFAULT_NUM_SAMPLES)
    args = parser.parse_args(argv)
    print(markdown_table(calibrate(args.data_dir, args.num_samples)))
    print()
    print(temperature_table(temperature_rows(args.data_dir)))


if __name__ == "__main__":
    main(sys.argv[1:])
