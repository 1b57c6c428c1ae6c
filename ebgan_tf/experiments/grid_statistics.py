"""The numbers behind Figs. 2-3: score histograms, their spread over seeds, and the claim check.

A grid run over several seeds (`--num_seeds`) holds one trial per (configuration, seed). Each
seed's trials form one histogram, as the paper's single run does; a figure draws the mean of the
seeds' bin percentages with their range, and the claim is checked seed by seed, so the reader sees
which differences are larger than what a change of seed does.

Histograms use `metrics.HISTOGRAM_SCORE` (log IS, the score whose range matches the paper's axis;
docs/mnist_score.md) in 30 equal bins over [0, ln 10]: width 0.077, the paper's bin width read off
Fig. 2 (about 25 bins over [0, 1.93], paper.md §2.5).
"""

from __future__ import annotations

import math

import numpy as np

from ebgan_tf.metrics import HISTOGRAM_SCORE

NUM_BINS = 30
BIN_EDGES = np.linspace(0.0, math.log(10.0), NUM_BINS + 1)


def histogram_scores(frame, kind: str, max_layers: int = 5, lr=None, optim_d=None, optim_g=None,
                     seed: int | None = None):
    """The histogram scores of one kind's trials (diverged = 0, failed left out), as float64 [N];
    of one seed's trials when `seed` is given, else of all."""
    rows = frame[(frame["kind"] == kind) & (frame["status"] != "failed")
                 & (frame["nLayerG"] <= max_layers) & (frame["nLayerD"] <= max_layers)]
    if lr is not None:
        rows = rows[np.isclose(rows["lr"], lr) & (rows["optimD"] == optim_d)
                    & (rows["optimG"] == optim_g)]
    if seed is not None:
        rows = rows[rows["seed"] == seed]
    scores = rows[HISTOGRAM_SCORE].to_numpy(np.float64)
    return np.where(rows["status"].to_numpy() == "diverged", 0.0, np.nan_to_num(scores))


def seeds_of(frame) -> list[int]:
    """The seeds the frame's trials ran with, ascending."""
    return sorted(int(s) for s in frame["seed"].unique())


def scores_per_seed(frame, kind: str, **selection) -> dict[int, np.ndarray]:
    """seed -> `histogram_scores` of that seed's trials, for every seed of the frame."""
    return {seed: histogram_scores(frame, kind, seed=seed, **selection)
            for seed in seeds_of(frame)}


def bin_percentages(scores) -> np.ndarray:
    """Percent of scores per bin of `BIN_EDGES` (the last bin closed), float64 [NUM_BINS]."""
    scores = np.clip(np.asarray(scores, np.float64), BIN_EDGES[0], BIN_EDGES[-1])
    if scores.size == 0:
        return np.zeros(NUM_BINS)
    counts, _ = np.histogram(scores, BIN_EDGES)
    return 100.0 * counts / scores.size


def bins_over_seeds(per_seed: dict[int, np.ndarray]) -> dict[str, np.ndarray]:
    """The seeds' bin percentages: "per_seed" [S, NUM_BINS] (seeds with no trial left out),
    and their "mean", "low" (min) and "high" (max) over seeds, each [NUM_BINS] (zeros if S = 0)."""
    rows = [bin_percentages(v) for v in per_seed.values() if len(v)]
    table = np.stack(rows) if rows else np.zeros((0, NUM_BINS))
    empty = np.zeros(NUM_BINS)
    return {"per_seed": table,
            "mean": table.mean(0) if rows else empty,
            "low": table.min(0) if rows else empty,
            "high": table.max(0) if rows else empty}


def probability_of_superiority(a, b) -> float:
    """P(A > B) + P(A = B)/2 for independent draws from samples a and b (the Mann-Whitney AUC)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size == 0 or b.size == 0:
        return float("nan")
    greater = (a[:, None] > b[None, :]).mean()
    equal = (a[:, None] == b[None, :]).mean()
    return float(greater + 0.5 * equal)


def claim_check(ebgan_scores, gan_scores) -> dict:
    """Does EBGAN's mass lie right of GAN's? P(EBGAN > GAN) > 0.5 and a higher median."""
    p = probability_of_superiority(ebgan_scores, gan_scores)
    median_e = float(np.median(ebgan_scores)) if len(ebgan_scores) else float("nan")
    median_g = float(np.median(gan_scores)) if len(gan_scores) else float("nan")
    return {"p_ebgan_gt_gan": p, "median_ebgan": median_e, "median_gan": median_g,
            "holds": bool(p > 0.5 and median_e > median_g)}


def claim_per_seed(ebgan: dict[int, np.ndarray], gan: dict[int, np.ndarray]) -> dict[int, dict]:
    """seed -> `claim_check` of that seed's EBGAN and GAN trials (seeds present in both)."""
    return {seed: claim_check(ebgan[seed], gan[seed]) for seed in ebgan if seed in gan}


def claim_verdict(checks: dict[int, dict]) -> str:
    """'yes' / 'no' for one seed; 'yes in k of n seeds' for several; 'n/a (no runs)' if none ran."""
    ran = [c for c in checks.values() if not math.isnan(c["p_ebgan_gt_gan"])]
    if not ran:
        return "n/a (no runs)"
    held = sum(c["holds"] for c in ran)
    if len(ran) == 1:
        return "yes" if held else "no"
    return f"{'yes' if held == len(ran) else 'no'}: in {held} of {len(ran)} seeds"


def holds_in_every_seed(checks: dict[int, dict]) -> bool:
    return bool(checks) and all(c["holds"] for c in checks.values())


def l1_to_paper(ours_percent, paper_percent) -> float:
    """Percentage points between our first bins and the paper's readings of them: sum |ours - paper|
    over the bins the paper was read at (its first three). 0 is the paper's histogram head."""
    paper = np.asarray(paper_percent, np.float64)
    return float(np.abs(np.asarray(ours_percent, np.float64)[:len(paper)] - paper).sum())


def head_cells(per_seed: dict[int, np.ndarray], paper: tuple, prefix: str = "") -> dict:
    """Table cells comparing the first bins with the paper's readings: the mean over seeds, the
    range over seeds (several seeds only), L1 of the mean and of each seed, and the median."""
    bins = bins_over_seeds(per_seed)
    read = len(paper)
    pooled = np.concatenate([v for v in per_seed.values()]) if per_seed else np.zeros(0)
    cells = {
        f"{prefix}bins 1-{read} (paper), %": "/".join(f"{v:g}" for v in paper),
        f"{prefix}bins 1-{read} (ours, mean over seeds), %": "/".join(
            f"{v:.0f}" for v in bins["mean"][:read]),
    }
    if len(bins["per_seed"]) > 1:
        cells[f"{prefix}range over seeds, %"] = "/".join(
            f"{lo:.0f}-{hi:.0f}" for lo, hi in zip(bins["low"][:read], bins["high"][:read]))
    cells["L1 to the paper, points"] = l1_to_paper(bins["mean"], paper)
    cells["L1 per seed, points"] = "/".join(f"{l1_to_paper(row, paper):.0f}"
                                             for row in bins["per_seed"])
    cells[f"{prefix}median score"] = float(np.median(pooled)) if pooled.size else float("nan")
    return cells


def claim_cells(checks: dict[int, dict]) -> dict:
    return {"P(EBGAN > GAN) per seed": "/".join(f"{c['p_ebgan_gt_gan']:.2f}"
                                                for c in checks.values()),
            "claim holds": claim_verdict(checks)}
