"""The score classifier's calibration on real digits, and what it says about non-digits
(issue 14; the criterion and the tables are in docs/score_calibration.md).

    python -m ebgan_tf.tools.score_calibration --data_dir ../shared/data

Prints Markdown tables: accuracy, 15-bin ECE and NLL of the committed classifier on the odd half
of the MNIST test set, at T = 1 and at the temperature fitted by NLL on the even half (Guo et
al., 2017), with the ECE difference's bootstrap standard error; then, for noise, blank, single
strokes and untrained grid generators, the mean top probability, the modal class and its share,
and the log IS the set receives at both temperatures. About a CPU-minute.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

ECE_BINS = 15
BOOTSTRAP_RESAMPLES = 1_000
SEED = 0


def expected_calibration_error(probabilities, labels, bins: int = ECE_BINS) -> float:
    """Guo et al.'s ECE: Σ_b |B_b|/n · |acc(B_b) − conf(B_b)|, bins of width 1/bins over the top
    probability (bin b holds confidences in (b/bins, (b+1)/bins])."""
    p = np.asarray(probabilities, np.float64)
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == np.asarray(labels)
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def negative_log_likelihood(logits, labels, temperature: float = 1.0) -> float:
    """Mean −log p(label | x) in nats of softmax(logits / T), through a stable log-sum-exp."""
    z = np.asarray(logits, np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(z)), np.asarray(labels)].mean())


def fit_temperature(logits, labels, low: float = 1 / 20, high: float = 20.0,
                    tolerance: float = 1e-6) -> float:
    """The T minimising the NLL (convex in 1/T): golden-section search over log T."""
    ratio = (np.sqrt(5) - 1) / 2
    a, b = np.log(low), np.log(high)
    nll = lambda log_t: negative_log_likelihood(logits, labels, np.exp(log_t))  # noqa: E731
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    while b - a > tolerance:
        if nll(c) < nll(d):
            b, d = d, c
            c = b - ratio * (b - a)
        else:
            a, c = c, d
            d = a + ratio * (b - a)
    return float(np.exp((a + b) / 2))


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    from ebgan_tf.metrics.mnist_classifier import softmax_float64

    return softmax_float64(np.asarray(logits, np.float64) / temperature)


def bootstrap_ece_difference(probabilities_a, probabilities_b, labels,
                             resamples: int = BOOTSTRAP_RESAMPLES, seed: int = SEED) -> float:
    """Standard error of ECE(a) − ECE(b) over resamples of the digits (both on each resample)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    differences = []
    for _ in range(resamples):
        i = rng.integers(0, len(labels), len(labels))
        differences.append(expected_calibration_error(probabilities_a[i], labels[i])
                           - expected_calibration_error(probabilities_b[i], labels[i]))
    return float(np.std(differences, ddof=1))


def stroke_images() -> np.ndarray:
    """Single strokes on background, 32x32 in [-1, 1]: vertical, horizontal and diagonal lines of
    width 2 px and length 20 px at five offsets each (15 images)."""
    images = []
    for offset in (8, 12, 15, 18, 22):
        for kind in ("vertical", "horizontal", "diagonal"):
            image = np.full((32, 32), -1.0, np.float32)
            if kind == "vertical":
                image[6:26, offset:offset + 2] = 1.0
            elif kind == "horizontal":
                image[offset:offset + 2, 6:26] = 1.0
            else:
                for i in range(20):
                    column = 6 + i + offset - 15
                    image[6 + i, max(column, 0):max(column + 2, 0)] = 1.0
            images.append(image)
    return np.stack(images)[..., None]


def untrained_generator_samples(config, num: int, seed: int = SEED) -> np.ndarray:
    """Samples of a grid generator at its initialisation (training=False, as scored)."""
    import keras

    from ebgan_tf.networks.mlp import build_networks

    keras.utils.set_random_seed(config.seed)
    generator, _ = build_networks(config)
    noise = np.random.default_rng(seed).standard_normal((num, config.noise_dim)).astype(np.float32)
    return keras.ops.convert_to_numpy(generator(noise, training=False))


def probe_sets(num: int = 1_000) -> dict[str, np.ndarray]:
    from ebgan_tf.configs.mlp import MLPConfig, preset

    rng = np.random.default_rng(SEED)
    return {
        "uniform noise in [-1, 1]": rng.uniform(-1, 1, (num, 32, 32, 1)).astype(np.float32),
        "blank, all -1 (background)": np.full((1, 32, 32, 1), -1.0, np.float32),
        "blank, all +1 (ink)": np.full((1, 32, 32, 1), 1.0, np.float32),
        "single strokes (15)": stroke_images(),
        "untrained G, Fig. 4(a) (g5x1600)": untrained_generator_samples(preset("fig4_gan"), num),
        "untrained G, cpu grid g3x400": untrained_generator_samples(
            MLPConfig(kind="gan", n_layer_g=3, size_g=400, size_d=128), num),
    }


def real_rows(logits, labels) -> tuple[list[dict], float]:
    """Accuracy, ECE and NLL on the odd half at T = 1 and at T fitted on the even half."""
    fit, evaluate = slice(0, None, 2), slice(1, None, 2)
    temperature = fit_temperature(logits[fit], labels[fit])
    p = {t: softmax(logits[evaluate], t) for t in (1.0, temperature)}
    se = bootstrap_ece_difference(p[1.0], p[temperature], labels[evaluate])
    rows = [{"candidate": name, "T": t,
             "accuracy": float((p[t].argmax(1) == labels[evaluate]).mean()),
             "ece": expected_calibration_error(p[t], labels[evaluate]),
             "nll": negative_log_likelihood(logits[evaluate], labels[evaluate], t),
             "mean_top_p": float(p[t].max(1).mean())}
            for name, t in (("committed (T = 1)", 1.0), ("temperature-scaled", temperature))]
    return rows, se


def probe_rows(classifier, temperatures) -> list[dict]:
    from ebgan_tf.metrics.scores import log_is

    rows = []
    for name, images in probe_sets().items():
        logits, _ = classifier.logits_and_features(images)
        for t in temperatures:
            p = softmax(logits, t)
            predicted = np.bincount(p.argmax(1), minlength=10)
            rows.append({"set": name, "n": len(images), "T": t,
                         "mean_top_p": float(p.max(1).mean()),
                         "modal_class": int(predicted.argmax()),
                         "modal_share": float(predicted.max() / len(images)),
                         "log_is": log_is(p)})
    return rows


def main(argv: list[str]) -> None:
    from ebgan_tf.data import mnist as data
    from ebgan_tf.metrics import mnist_classifier

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=None)
    args = parser.parse_args(argv)
    classifier = mnist_classifier.default_classifier()
    images, labels = data.load_mnist_arrays("test", args.data_dir)
    logits, _ = classifier.logits_and_features(images)
    rows, se = real_rows(logits, labels)
    print("| candidate | T | accuracy | ECE (15 bins) | NLL (nats) | mean top p |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['candidate']} | {r['T']:.3f} | {r['accuracy']:.4f} | {r['ece']:.5f} | "
              f"{r['nll']:.5f} | {r['mean_top_p']:.4f} |")
    print(f"\nECE(T = 1) − ECE(T fitted) = {rows[0]['ece'] - rows[1]['ece']:.5f}, bootstrap "
          f"standard error {se:.5f} ({BOOTSTRAP_RESAMPLES} resamples of the odd half)\n")
    print("| input | n | T | mean top p | modal class (share) | log IS |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in probe_rows(classifier, (1.0, rows[1]["T"])):
        print(f"| {r['set']} | {r['n']} | {r['T']:.3f} | {r['mean_top_p']:.4f} | "
              f"{r['modal_class']} ({r['modal_share']:.0%}) | {r['log_is']:.4f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
