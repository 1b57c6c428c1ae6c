"""The score regression's tolerance rule: a one-way random-effects prediction bound.

Scores are grouped by "arithmetic class" (runs whose round-off is the same: one CPU type and its
settings) and seed. Model: y = mu + a_class + e_seed, a ~ N(0, s_a^2), e ~ N(0, s_w^2). A CI run on
a machine not in the sample is a new class and a new seed, so `tolerance_components` predicts it
from the mean of the class means with s_p^2 = s_a^2 + s_w^2 + var(center), and bounds it at
max(K_SIGMA * s_p, FLOOR_FACTOR * max|y - center|). docs/score_regression.md says why and gives the
false-alarm rate. Pure Python (the suite has no SciPy): Student t and F tails come from the
regularised incomplete beta function.
"""

from __future__ import annotations

import math

# Fixed before the regenerated numbers were seen (docs/score_regression.md): 5 predictive standard
# deviations, never below the farthest observed row plus a quarter (in case the tails are heavier
# than normal).
K_SIGMA = 5.0
FLOOR_FACTOR = 1.25


def spread(values) -> dict:
    """Mean, sample std (ddof=1; 0 for one value), min, max and range of a list of scores."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("spread of no values")
    mean = sum(values) / len(values)
    std = (math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
           if len(values) > 1 else 0.0)
    return {"n": len(values), "mean": mean, "std": std, "min": min(values), "max": max(values),
            "range": max(values) - min(values)}


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) (continued fraction; no SciPy in the suite)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _betainc(b, a, 1.0 - x)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x)) / a
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 500):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return front * f


def t_two_sided(k: float, df: float) -> float:
    """P(|T| > k) for Student's t with `df` degrees of freedom."""
    return _betainc(df / 2, 0.5, df / (df + k * k))


def f_sf(f: float, d1: float, d2: float) -> float:
    """P(F > f) for the F distribution with (d1, d2) degrees of freedom."""
    return _betainc(d2 / 2, d1 / 2, d2 / (d2 + d1 * f)) if f > 0 else 1.0


def tolerance_components(groups: dict, k_sigma: float = K_SIGMA,
                         floor_factor: float = FLOOR_FACTOR) -> dict:
    """The tolerance rule on {arithmetic class: [one score per seed]} (module docstring).

    Returns the center, the tolerance and what they come from: s_within (seed sd within a class),
    s_between (sd of the class offsets; 0 when the class means vary no more than seeds explain),
    s_pred, df (Satterthwaite's, of s_pred^2), the F test's p-value for class offsets, each
    class's offset in s_within units, and the two-sided false-alarm rate of the tolerance for a
    normal score with known variances and with estimated ones (Student t at df).
    """
    groups = {name: [float(v) for v in values] for name, values in groups.items()}
    n_g = [len(v) for v in groups.values()]
    big_g, n = len(groups), sum(n_g)
    if min(n_g, default=0) < 1 or n - big_g < 2:
        raise ValueError(f"the rule needs >= 2 degrees of freedom within classes, got {n_g}")
    means = {name: sum(v) / len(v) for name, v in groups.items()}
    ss_w = sum((y - means[name]) ** 2 for name, v in groups.items() for y in v)
    s_w2 = ss_w / (n - big_g)
    w = sum(1 / k for k in n_g) / big_g
    center = sum(means.values()) / big_g
    v_m = (sum((m - center) ** 2 for m in means.values()) / (big_g - 1) if big_g > 1 else 0.0)
    s_a2 = max(0.0, v_m - w * s_w2)
    s_p2 = s_a2 + s_w2 + (s_a2 + w * s_w2) / big_g
    if s_a2 > 0:  # s_p2 = v_m (1 + 1/G) + s_w2 (1 - w): each part with its own df.
        parts = [(v_m * (1 + 1 / big_g), big_g - 1), (s_w2 * (1 - w), n - big_g)]
    else:
        parts = [(s_p2, n - big_g)]
    denominator = sum(p * p / d for p, d in parts if p > 0)
    df = s_p2 * s_p2 / denominator if denominator > 0 else float(n - big_g)
    s_p = math.sqrt(s_p2)
    max_dev = max(abs(y - center) for v in groups.values() for y in v)
    tolerance = max(k_sigma * s_p, floor_factor * max_dev)
    grand = sum(y for v in groups.values() for y in v) / n
    ms_b = (sum(len(v) * (means[name] - grand) ** 2 for name, v in groups.items()) / (big_g - 1)
            if big_g > 1 else 0.0)
    k_eff = tolerance / s_p if s_p > 0 else float("inf")
    return {"center": center, "tolerance": tolerance, "s_within": math.sqrt(s_w2),
            "s_between": math.sqrt(s_a2), "s_pred": s_p, "df": df, "classes": big_g, "rows": n,
            "offset_p_value": f_sf(ms_b / s_w2, big_g - 1, n - big_g) if big_g > 1 and s_w2 > 0
            else 1.0,
            "offsets_in_s_within": {name: (m - center) / math.sqrt(s_w2) if s_w2 > 0 else 0.0
                                    for name, m in means.items()},
            "k_effective": k_eff, "floor_binds": floor_factor * max_dev > k_sigma * s_p,
            "false_alarm_normal": math.erfc(k_eff / math.sqrt(2)),
            "false_alarm_t": t_two_sided(k_eff, df)}
