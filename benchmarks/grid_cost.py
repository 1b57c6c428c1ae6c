"""The paper-scale MNIST grid's cost in CPU-hours, from measured per-step times.

Reads benchmarks/train_step.py JSON lines (run_train_step_cpu.sh measures a spread of Table 1
configurations), fits, per execution setting, seconds/step = overhead + FLOPs / rate (least
squares in relative error), and sums that over every paper-scale trial (18,740 steps each) plus a per-trial fixed
cost (building, tracing, scoring on 10,000 samples) given on the command line.

    python benchmarks/grid_cost.py benchmarks/results/train_step_cpu.jsonl --fixed_s=20
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ebgan_tf import step_cost  # noqa: E402
from ebgan_tf.experiments import mnist_grid  # noqa: E402


def setting_of(row: dict) -> str:
    return (f"threads={row['threads']}, jit_compile={row['jit_compile_effective']}, "
            f"deterministic={row['deterministic']}")


def fit(points):
    """seconds = a + flops / rate over (flops, seconds) points, least squares in relative error
    (the large configurations, which dominate the sum, count as much as the small); (a, rate)."""
    # Rows [1/s, f/s] . [a, 1/rate] = 1: a 2x2 normal-equation solve.
    saa = sum(1 / s ** 2 for _, s in points)
    sab = sum(f / s ** 2 for f, s in points)
    sbb = sum(f ** 2 / s ** 2 for f, s in points)
    ya, yb = sum(1 / s for _, s in points), sum(f / s for f, s in points)
    det = saa * sbb - sab ** 2
    a, inverse_rate = (ya * sbb - yb * sab) / det, (saa * yb - sab * ya) / det
    if a < 0:  # No negative overhead: the best rate alone.
        a, inverse_rate = 0.0, yb / sbb
    return a, 1.0 / inverse_rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--fixed_s", type=float, default=20.0,
                        help="per-trial seconds besides training (build, trace, score 10,000)")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "images_per_sec" in r and r["preset"].startswith("nLayerG=")]
    by_setting: dict[str, list] = {}
    for r in rows:
        by_setting.setdefault(setting_of(r), []).append(r)
    all_trials = mnist_grid.grid_trials("paper")
    steps = all_trials[0].config.train_steps
    for setting, group in by_setting.items():
        points = [(r["gflop_per_step"] * 1e9, r["ms_per_step"] / 1e3) for r in group]
        overhead, rate = fit(points)
        threads = group[0]["threads"]
        worst = max(abs(overhead + f / rate - s) / s for f, s in points)
        print(f"{setting}: {len(points)} configurations, fit {1e3 * overhead:.2f} ms + FLOPs / "
              f"{rate / 1e9:.0f} GFLOP/s (worst misfit {100 * worst:.0f} %)")
        for label, kinds in (("the paper's EBGAN + GAN", ("ebgan", "gan")),
                             ("with EBGAN-PT", ("ebgan", "ebgan_pt", "gan"))):
            trials = [t for t in all_trials if t.config.kind in kinds]
            report(label, trials, steps, overhead, rate, threads, args.fixed_s)


def report(label, trials, steps, overhead, rate, threads, fixed_s):
    train_s = sum(overhead + step_cost.train_step_flops(t.config) / rate for t in trials) * steps
    total_s = train_s + fixed_s * len(trials)
    print(f"  {label}: {len(trials)} paper-scale trials x {steps} steps: {train_s / 3600:.0f} h "
          f"of training + {fixed_s * len(trials) / 3600:.0f} h fixed = "
          f"{total_s / 3600:.0f} trial-hours at {threads} thread(s) each = "
          f"{threads * total_s / 3600:.0f} CPU-hours "
          f"({threads * total_s / 3600 / 2 / 24:.1f} days on this 2-core machine)")


if __name__ == "__main__":
    main()
