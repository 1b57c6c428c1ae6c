"""Classifier-based sample scores as pure NumPy functions: I′, the inception score, the Fréchet distance.

Paper §2.4 scores a generator by an MNIST classifier's predictions p(y|x) on its samples x:

- `i_prime`: E_x KL(p(y) ‖ p(y|x)), the formula as printed in the paper's text (order swapped and
  exp dropped relative to Salimans et al., 2016). Unbounded: it grows like -log p(y|x) of the
  classes the classifier rules out, so for a confident classifier it measures how confident.
- `log_is`: E_x KL(p(y|x) ‖ p(y)), the log of the standard inception score, in [0, ln K]
  (ln 10 ≈ 2.303 for MNIST). It is 0 for a single predicted class or for uninformative predictions
  and ln K only for confident predictions spread evenly over K classes.
- `inception_score`: exp(log_is), in [1, K].

Here p(y) = E_x p(y|x), the marginal over the same samples.

Numerical safety: every probability is clipped to [eps, 1] and each row renormalised to sum to 1
before any logarithm (`DEFAULT_EPS` = 1e-12). The clipped rows are proper distributions, so both
KL divergences stay finite and >= 0 (round-off just below 0 is returned as 0): `i_prime` <=
ln(1/eps) ≈ 27.6 and `log_is` moves by at most ~K·eps. Everything is computed in float64.

The Fréchet distance (Heusel et al., 2017; TF-GAN's `mnist_frechet_distance`) compares Gaussians
fitted to classifier features of two sample sets; the matrix square root is taken through symmetric
eigendecompositions in float64 (no SciPy needed).
"""

from __future__ import annotations

import numpy as np

# Smallest probability a logarithm sees. 1e-12 lies far below anything that changes `log_is`
# (effect ~1e-11) yet keeps `i_prime` finite (<= 27.6) for one-hot predictions.
DEFAULT_EPS = 1e-12
# Rows of p(y|x) must sum to 1 within this (float32 softmax is good to ~1e-6).
_ROW_SUM_TOLERANCE = 1e-3


def _clipped_probabilities(probabilities, eps: float) -> np.ndarray:
    """Checks p(y|x) [N, K] and returns it clipped to [eps, 1], rows renormalised, as float64."""
    if not 0.0 < eps < 1e-3:
        raise ValueError(f"eps must be in (0, 1e-3), got {eps}.")
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 2:
        raise ValueError(f"probabilities must be [num_samples >= 1, num_classes >= 2], "
                         f"got shape {p.shape}.")
    if not np.all(np.isfinite(p)):
        raise ValueError("probabilities contain NaN or inf.")
    if p.min() < -_ROW_SUM_TOLERANCE or p.max() > 1.0 + _ROW_SUM_TOLERANCE:
        raise ValueError(f"probabilities must lie in [0, 1], got values in [{p.min():.4g}, "
                         f"{p.max():.4g}] (logits? apply a softmax first).")
    row_sums = p.sum(axis=1)
    if np.max(np.abs(row_sums - 1.0)) > _ROW_SUM_TOLERANCE:
        raise ValueError(f"each row of probabilities must sum to 1, got sums in "
                         f"[{row_sums.min():.4g}, {row_sums.max():.4g}].")
    p = np.clip(p, eps, 1.0)
    return p / p.sum(axis=1, keepdims=True)


def i_prime(probabilities, eps: float = DEFAULT_EPS) -> float:
    """I′ = E_x KL(p(y) ‖ p(y|x)), the paper's text formula (§2.4).

    Args:
      probabilities: p(y|x), [num_samples, num_classes], rows summing to 1.
      eps: probabilities are clipped to [eps, 1] (rows renormalised) before the logarithms.

    Returns:
      A float >= 0; 0 when every row equals the marginal; at most about ln(1/eps).
    """
    p = _clipped_probabilities(probabilities, eps)
    marginal = p.mean(axis=0)
    # A KL divergence of proper distributions is >= 0; only round-off (~1e-17) goes below.
    return max(float(np.mean(np.sum(marginal * (np.log(marginal) - np.log(p)), axis=1))), 0.0)


def log_is(probabilities, eps: float = DEFAULT_EPS) -> float:
    """log IS = E_x KL(p(y|x) ‖ p(y)), the log of Salimans et al.'s inception score.

    Args:
      probabilities: p(y|x), [num_samples, num_classes], rows summing to 1.
      eps: probabilities are clipped to [eps, 1] (rows renormalised) before the logarithms.

    Returns:
      A float in [0, ln num_classes]: 0 for one predicted class or uninformative rows, ln K for
      confident predictions balanced over the K classes.
    """
    p = _clipped_probabilities(probabilities, eps)
    marginal = p.mean(axis=0)
    return max(float(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1))), 0.0)


def inception_score(probabilities, eps: float = DEFAULT_EPS) -> float:
    """exp(`log_is`), in [1, num_classes]. Args as in `log_is`."""
    return float(np.exp(log_is(probabilities, eps)))


def classifier_scores(probabilities, eps: float = DEFAULT_EPS) -> dict:
    """All scores of p(y|x) [num_samples, num_classes] at once.

    Returns:
      {"i_prime", "log_is", "inception_score": floats, "num_samples": int}.
    """
    value = log_is(probabilities, eps)
    return {"i_prime": i_prime(probabilities, eps), "log_is": value,
            "inception_score": float(np.exp(value)), "num_samples": int(len(probabilities))}


class GaussianStatistics:
    """Mean and covariance of feature vectors, accumulated batch by batch in float64.

    Batches are merged with Chan et al.'s pairwise update (centred sums, no E[x²] - E[x]²
    cancellation), so memory is O(F²) whatever the number of samples, and the result equals the
    one-shot `np.mean` / `np.cov` up to round-off.

    Args:
      feature_dim: F, the width of the feature vectors.
    """

    def __init__(self, feature_dim: int):
        self.count = 0
        self._mean = np.zeros(feature_dim, np.float64)
        self._centred_square_sum = np.zeros((feature_dim, feature_dim), np.float64)

    def update(self, features) -> None:
        """Adds a batch of features [B, F]."""
        batch = np.asarray(features, np.float64)
        if batch.ndim != 2 or batch.shape[1] != self._mean.shape[0]:
            raise ValueError(f"features must be [batch, {self._mean.shape[0]}], "
                             f"got shape {batch.shape}.")
        if len(batch) == 0:
            return
        batch_mean = batch.mean(axis=0)
        centred = batch - batch_mean
        batch_square_sum = centred.T @ centred
        total = self.count + len(batch)
        delta = batch_mean - self._mean
        self._centred_square_sum += batch_square_sum + np.outer(delta, delta) * (
            self.count * len(batch) / total)
        self._mean += delta * (len(batch) / total)
        self.count = total

    @property
    def mean(self) -> np.ndarray:
        """float64 [F]."""
        if self.count < 1:
            raise ValueError("no features accumulated.")
        return self._mean.copy()

    @property
    def covariance(self) -> np.ndarray:
        """Unbiased (N - 1) sample covariance, float64 [F, F]."""
        if self.count < 2:
            raise ValueError(f"a covariance needs at least 2 samples, got {self.count}.")
        return self._centred_square_sum / (self.count - 1)


def gaussian_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """features [N >= 2, F] -> (mean float64 [F], unbiased covariance float64 [F, F])."""
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"features must be [num_samples, feature_dim], got shape {features.shape}.")
    statistics = GaussianStatistics(features.shape[1])
    statistics.update(features)
    return statistics.mean, statistics.covariance


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix; round-off negatives become 0."""
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance(mean1, covariance1, mean2, covariance2) -> float:
    """Fréchet distance between N(mean1, covariance1) and N(mean2, covariance2).

    d² = ‖μ1 - μ2‖² + Tr(Σ1 + Σ2 - 2 (Σ1 Σ2)^½), with Tr((Σ1 Σ2)^½) computed as
    Tr((Σ1^½ Σ2 Σ1^½)^½): the same eigenvalues, but of a symmetric PSD matrix, so `eigh` applies
    and no complex round-off appears (the usual `scipy.linalg.sqrtm` route needs that fix-up).

    Args:
      mean1, mean2: [F].
      covariance1, covariance2: symmetric PSD [F, F].

    Returns:
      d², a float >= 0 (round-off below 0 is reported as 0). 0 for identical statistics.
    """
    mean1, mean2 = np.asarray(mean1, np.float64), np.asarray(mean2, np.float64)
    covariance1 = np.asarray(covariance1, np.float64)
    covariance2 = np.asarray(covariance2, np.float64)
    dim = mean1.shape[0] if mean1.ndim == 1 else -1
    if (mean1.ndim != 1 or mean2.shape != (dim,) or covariance1.shape != (dim, dim)
            or covariance2.shape != (dim, dim)):
        raise ValueError(f"means must be [F] and covariances [F, F] with one F, got "
                         f"{mean1.shape}, {covariance1.shape}, {mean2.shape}, {covariance2.shape}.")
    for array in (mean1, mean2, covariance1, covariance2):
        if not np.all(np.isfinite(array)):
            raise ValueError("Fréchet distance inputs contain NaN or inf.")
    sqrt1 = _psd_sqrt(covariance1)
    product = sqrt1 @ covariance2 @ sqrt1
    trace_sqrt_product = np.sum(np.sqrt(np.clip(
        np.linalg.eigvalsh((product + product.T) / 2.0), 0.0, None)))
    distance = (np.sum((mean1 - mean2) ** 2) + np.trace(covariance1) + np.trace(covariance2)
                - 2.0 * trace_sqrt_product)
    return float(max(distance, 0.0))


def frechet_distance_from_features(features1, features2) -> float:
    """`frechet_distance` of Gaussians fitted to features1 [N1, F] and features2 [N2, F]."""
    return frechet_distance(*gaussian_statistics(features1), *gaussian_statistics(features2))
