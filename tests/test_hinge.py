"""The hinge verdict (`ebgan_tf.reporting.hinge`): its fractions against hand arithmetic, the
margin filter, the three verdicts and their thresholds, and bad thresholds."""

import math

import pytest

from ebgan_tf.reporting.hinge import HingeVerdict, hinge_verdict


def _rows(values, every=100, margins=None):
    rows = [{"step": every * (i + 1), "hinge_active": v} for i, v in enumerate(values)]
    if margins is not None:
        for row, m in zip(rows, margins):
            row["margin"] = m
    return rows


def test_fractions_are_step_weighted_means_over_the_early_window_and_the_whole_run():
    got = hinge_verdict(_rows([0.4, 0.2, 0.1, 0.1, 0.0, 0.0, 0.0, 0.0]))
    # Early: the first 25 % of 800 steps = the first two rows.
    assert got.early == pytest.approx(0.3) and got.overall == pytest.approx(0.1)
    assert got.verdict == "engaged" and got.is_ebgan
    # Rows of unequal length weigh by their steps: 100 steps at 0.5, then 300 at 0.1.
    uneven = [{"step": 100, "hinge_active": 0.5}, {"step": 400, "hinge_active": 0.1}]
    assert hinge_verdict(uneven, early_fraction=1.0).overall == pytest.approx(0.2)
    # The window holds at least the first row, however long.
    assert hinge_verdict(uneven, early_fraction=0.1).early == pytest.approx(0.5)


def test_only_rows_where_the_margin_is_positive_count():
    # A delayed, decaying margin (Table 2): 0 for the first row and after the fourth.
    rows = _rows([0.0, 0.9, 0.6, 0.3, 0.0, 0.0], margins=[0.0, 30.0, 20.0, 10.0, 0.0, 0.0])
    got = hinge_verdict(rows)
    assert got.early == pytest.approx(0.9)  # 25 % of the 300 active steps: the first active row.
    assert got.overall == pytest.approx(0.6)
    # A margin of 0 throughout (the control): logged, never acting.
    control = hinge_verdict(_rows([0.0, 0.0], margins=[0.0, 0.0]))
    assert (control.early, control.overall, control.verdict) == (0.0, 0.0, "inert")


def test_verdicts_and_thresholds():
    inert = hinge_verdict(_rows([0.006, 0.0, 0.0, 0.0]))  # The first port's step-150 reading.
    assert inert.verdict == "inert" and not inert.is_ebgan
    assert "not an EBGAN" in inert.describe() and "0.6%" in inert.describe()
    assert hinge_verdict(_rows([0.05, 0.0, 0.0, 0.0])).verdict == "engaged"  # At the threshold.
    saturated = hinge_verdict(_rows([1.0, 1.0, 0.97, 0.96]))
    assert saturated.verdict == "saturated" and saturated.is_ebgan
    assert "always exceeded" in saturated.describe()
    assert hinge_verdict(_rows([0.3, 0.0]), min_early=0.5).verdict == "inert"
    assert hinge_verdict(_rows([1.0, 0.9]), max_active=0.99).verdict == "engaged"


def test_runs_without_the_metric_are_unknown_and_bad_thresholds_are_errors():
    for rows in ([], [{"step": 100, "d_loss": 1.0}], _rows([math.nan])):
        got = hinge_verdict(rows)
        assert got.verdict == "unknown" and math.isnan(got.early) and got.is_ebgan
        assert got.describe() == "hinge activity not logged"
    for bad in (dict(early_fraction=0.0), dict(min_early=0.5, max_active=0.4),
                dict(max_active=1.5)):
        with pytest.raises(ValueError):
            hinge_verdict(_rows([0.5]), **bad)
    assert HingeVerdict(0.1, 0.1, "engaged").min_early == 0.05
