"""Did a run's EBGAN hinge engage? The verdict every EBGAN report gives, from a run's metrics rows.

EBGAN's discriminator loss D(x) + [m - D(G(z))]^+ (eq. 1) is an EBGAN only while some fakes score
below the margin: if D(G(z)) >= m for every fake, the hinge and its gradient are 0 and D trains
as a plain auto-encoder (or LN) on real data: the first Table 2 port was such a run (issue 17).
If every fake stays below m, the margin is never reached: a finding too. Models log
`hinge_active`, the fraction of D's fake batch with D(G(z)) < m, as a per-row mean in
metrics.csv; this module turns those rows into two fractions and a verdict:

    verdict = hinge_verdict(read_metrics_csv(run_dir / "metrics.csv", 2**62))
    verdict.early, verdict.overall, verdict.verdict, verdict.is_ebgan, verdict.describe()

Pure Python, no TensorFlow: reports call it on finished runs.
"""

from __future__ import annotations

import dataclasses
import math

# The criterion, fixed before any run was scored (issue 17): a run is an EBGAN when at least
# MIN_EARLY_ACTIVE of its fakes fell under the margin in the first EARLY_FRACTION of the steps in
# which the margin could act; "saturated" when more than MAX_ACTIVE of them did over all of them.
EARLY_FRACTION = 0.25
MIN_EARLY_ACTIVE = 0.05
MAX_ACTIVE = 0.95
VERDICTS = ("engaged", "inert", "saturated", "unknown")
METRIC = "hinge_active"


@dataclasses.dataclass(frozen=True)
class HingeVerdict:
    """The hinge-active fractions of one run and what they say.

    early: the fraction of D's fakes under the margin over the early window (NaN: not logged);
    overall: the same over every step the margin could act in;
    verdict: "engaged" (an EBGAN), "inert" (the margin is never reached: not an EBGAN),
      "saturated" (the margin is always exceeded: an EBGAN whose D never lifts fakes over m),
      or "unknown" (no `hinge_active` rows: a run from before the tracker).
    """

    early: float
    overall: float
    verdict: str
    early_fraction: float = EARLY_FRACTION
    min_early: float = MIN_EARLY_ACTIVE
    max_active: float = MAX_ACTIVE

    @property
    def is_ebgan(self) -> bool:
        """False only for an inert hinge (unknown counts as an EBGAN: nothing says otherwise)."""
        return self.verdict != "inert"

    def describe(self) -> str:
        """One sentence for a report."""
        if self.verdict == "unknown":
            return "hinge activity not logged"
        shares = (f"{self.early:.1%} of fakes under the margin in the first "
                  f"{self.early_fraction:.0%} of the steps it could act, {self.overall:.1%} "
                  "over all of them")
        return {"engaged": f"hinge engaged ({shares})",
                "inert": f"not an EBGAN: the hinge is inert ({shares}; below "
                         f"{self.min_early:.0%})",
                "saturated": f"hinge saturated: the margin is always exceeded ({shares}; above "
                             f"{self.max_active:.0%})"}[self.verdict]


def hinge_verdict(rows: list[dict], *, early_fraction: float = EARLY_FRACTION,
                  min_early: float = MIN_EARLY_ACTIVE, max_active: float = MAX_ACTIVE,
                  metric: str = METRIC) -> HingeVerdict:
    """The verdict over a run's metrics rows.

    Args:
      rows: metrics.csv rows in step order (`ebgan_tf.runs.train.read_metrics_csv`), each with
        `step` (the row's last step) and `metric` (the row's mean fraction of fakes with
        D(G(z)) < m); a row's weight is its number of steps. Rows with a `margin` column count
        only where it is > 0 (a margin of 0 cannot be reached from below: energies are >= 0),
        so a decaying or delayed margin is judged over the steps it acts in; without one (a
        constant margin) every row counts.
      early_fraction: the early window, a fraction of those steps, from their first.
      min_early, max_active: the thresholds of "inert" and "saturated".
      metric: the column holding the hinge-active fraction.

    Returns: a `HingeVerdict`; "unknown" with NaN fractions when no row holds the metric;
      "inert" with fractions 0 when the margin was 0 in every row.
    """
    if not 0 < early_fraction <= 1 or not 0 <= min_early <= max_active <= 1:
        raise ValueError("need 0 < early_fraction <= 1 and 0 <= min_early <= max_active <= 1")
    settings = dict(early_fraction=early_fraction, min_early=min_early, max_active=max_active)
    weighted, logged, previous = [], False, 0
    for row in sorted(rows, key=lambda r: r["step"]):
        steps, previous = row["step"] - previous, row["step"]
        value = row.get(metric)
        if value is None or not math.isfinite(value):
            continue
        logged = True
        if row.get("margin", 1.0) > 0:
            weighted.append((steps, float(value)))
    if not weighted:
        # Logged, but the margin was 0 throughout (a control run): it never acts.
        return HingeVerdict(*((0.0, 0.0, "inert") if logged else (math.nan, math.nan, "unknown")),
                            **settings)
    total = sum(steps for steps, _ in weighted)
    early, covered = [], 0
    for steps, value in weighted:
        if early and covered + steps > early_fraction * total:
            break
        early.append((steps, value))
        covered += steps

    def mean(pairs):
        return sum(s * v for s, v in pairs) / sum(s for s, _ in pairs)

    early_share, overall = mean(early), mean(weighted)
    verdict = ("inert" if early_share < min_early else
               "saturated" if overall > max_active else "engaged")
    return HingeVerdict(early_share, overall, verdict, **settings)
