"""The calibration measures of ebgan_tf/tools/score_calibration.py against hand computations."""

import numpy as np
import pytest

from ebgan_tf.tools import score_calibration as calibration


def test_ece_weights_each_bin_gap_by_its_share():
    # Two digits at confidence 0.95 (bin 15), one right, one wrong: gap |0.5 - 0.95| = 0.45.
    # Two at 0.6 (bin 9, (8/15, 9/15]), both right: gap 0.4. ECE = 0.5*0.45 + 0.5*0.4.
    p = np.array([[0.95, 0.05], [0.95, 0.05], [0.4, 0.6], [0.6, 0.4]])
    labels = np.array([0, 1, 1, 0])
    assert calibration.expected_calibration_error(p, labels) == pytest.approx(0.425)
    # Confidence exactly on a bin edge (0.6 = 9/15) belongs to the lower bin, as (lo, hi] says.
    assert calibration.expected_calibration_error(np.array([[0.6, 0.4]]), [0]) == pytest.approx(0.4)
    perfect = np.eye(3)
    assert calibration.expected_calibration_error(perfect, [0, 1, 2]) == 0.0


def test_nll_and_the_fitted_temperature_recover_a_known_one():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, (20_000, 10))
    scaled = logits / 2.5
    p = np.exp(scaled - scaled.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    labels = np.array([rng.choice(10, p=row) for row in p])
    expected_nll = -np.mean(np.log(p[np.arange(len(p)), labels]))
    assert calibration.negative_log_likelihood(logits, labels, 2.5) == pytest.approx(expected_nll)
    assert calibration.fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.05)


def test_strokes_are_single_lines_on_background():
    strokes = calibration.stroke_images()
    assert strokes.shape == (15, 32, 32, 1) and set(np.unique(strokes)) == {-1.0, 1.0}
    ink = (strokes > 0).sum(axis=(1, 2, 3))
    assert ink.min() >= 20 and ink.max() <= 40
