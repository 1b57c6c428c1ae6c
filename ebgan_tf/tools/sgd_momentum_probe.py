"""SGD momentum on the MNIST grid's SGD configurations (issue 14, docs/sgd_momentum.md).

    flock /tmp/ebgan_cpu.lock python -m ebgan_tf.tools.sgd_momentum_probe \\
        --output_dir /tmp/i14_probe --steps 400,2000 --seeds 0,1 --samples_prefix /tmp/i14_

Trains Fig. 4(a)'s best GAN (SGD/SGD, lr 0.01) and a few SGD cells of the `cpu` grid at SGD
momentum 0, 0.5 and 0.9 with Torch7's dampening, and 0.9 undamped (Keras: a 10x larger steady
step, the upper bound), then prints one Markdown table of log IS and Fréchet distance per budget
and seed. The runs go through the engine with packing (the variants of one cell and seed share a
pack), so they resume after an interruption and momentum 0 at 400 steps, seed 0, is the very
trial of the committed `cpu` grid (same id). `--samples_prefix` copies each best-GAN run's
samples.png to `<prefix><cell>_<variant>_<steps>_s<seed>.png`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from ebgan_tf.configs.mlp import MLPConfig, preset
from ebgan_tf.experiments.mnist_trials import SAMPLES_FILE, Trial, TrialSet

_CPU_WIDTHS = dict(size_g=400, size_d=128, dropout_d=False)
# name -> configuration: Fig. 4(a)'s GAN and four SGD cells of the cpu grid (its widths), among
# them g3/d2 SGD/SGD lr 1e-2, the cell the issue measured.
CELLS = {
    "fig4a": preset("fig4_gan"),
    "g3d2-sgd-sgd-1e-2": MLPConfig(kind="gan", n_layer_g=3, n_layer_d=2, optim_d="sgd",
                                   optim_g="sgd", lr=1e-2, **_CPU_WIDTHS),
    "g5d2-sgd-sgd-1e-2": MLPConfig(kind="gan", n_layer_g=5, n_layer_d=2, optim_d="sgd",
                                   optim_g="sgd", lr=1e-2, **_CPU_WIDTHS),
    "g3d4-adam-sgd-1e-2": MLPConfig(kind="gan", n_layer_g=3, n_layer_d=4, optim_d="adam",
                                    optim_g="sgd", lr=1e-2, **_CPU_WIDTHS),
    "g2d3-sgd-sgd-1e-3": MLPConfig(kind="gan", n_layer_g=2, n_layer_d=3, optim_d="sgd",
                                   optim_g="sgd", lr=1e-3, **_CPU_WIDTHS),
}
# label -> (sgd_momentum, sgd_dampening). At momentum 0 the dampening is inert; "keras" keeps the
# committed grid's trial ids.
VARIANTS = {
    "m0": (0.0, "keras"),
    "m0.5 torch": (0.5, "torch"),
    "m0.9 torch": (0.9, "torch"),
    "m0.9 keras": (0.9, "keras"),
}
LOG_EVERY = 100
NUM_EVAL_SAMPLES = 1_000  # As the cpu grid scores.


def probe_trials(cells, steps, seeds, variants=tuple(VARIANTS)) -> list[tuple[str, str, Trial]]:
    """(cell, variant, trial) for every cell x budget x seed x variant, variants adjacent so that
    they share a pack."""
    rows = []
    for cell in cells:
        for budget in steps:
            for seed in seeds:
                for variant in variants:
                    momentum, dampening = VARIANTS[variant]
                    cfg = CELLS[cell].replace(sgd_momentum=momentum, sgd_dampening=dampening,
                                              train_steps=budget, seed=seed)
                    rows.append((cell, variant, Trial(cfg, num_eval_samples=NUM_EVAL_SAMPLES,
                                                      log_every=LOG_EVERY)))
    return rows


def markdown_table(rows, results: dict) -> str:
    """One line per (cell, variant); a `log IS / FD` column per (steps, seed). `results` maps a
    trial id to its results.csv row (a dict); a missing or failed trial shows its status."""
    columns = sorted({(t.config.train_steps, t.config.seed) for _, _, t in rows})
    lines = ["| cell | variant | " + " | ".join(f"{s} steps, seed {d}" for s, d in columns) + " |",
             "|---|---|" + "---:|" * len(columns)]
    cells: dict = {}
    for cell, variant, trial in rows:
        r = results.get(trial.trial_id)
        if r is None:
            text = "not run"
        elif r["status"] != "ok":
            text = r["status"]
        else:
            # Failed generators score ~1e-12..1e-3: their exponent still tells them apart.
            log_is = f"{r['log_is']:.3f}" if r["log_is"] >= 1e-3 else f"{r['log_is']:.0e}"
            text = f"{log_is} / {r['frechet_distance']:.0f}"
        key = (trial.config.train_steps, trial.config.seed)
        cells.setdefault((cell, variant), {})[key] = text
    for (cell, variant), values in cells.items():
        lines.append(f"| {cell} | {variant} | "
                     + " | ".join(values.get(c, "") for c in columns) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    from ebgan_tf.runs import engine

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--steps", default="400,2000")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, of {list(VARIANTS)}")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--samples_prefix", default=None)
    args = parser.parse_args(argv)
    cells = args.cells.split(",")
    variants = args.variants.split(",")
    unknown = sorted(set(cells) - set(CELLS)) + sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown cells or variants {unknown}; choose from {sorted(CELLS)} and "
                     f"{list(VARIANTS)}")
    rows = probe_trials(cells, [int(s) for s in args.steps.split(",")],
                        [int(s) for s in args.seeds.split(",")], variants)
    experiment = TrialSet(tuple(t for _, _, t in rows))
    runtime = engine.Runtime(data_dir=args.data_dir, threads=args.threads,
                             save_generators="none")
    engine.run_all(experiment, args.output_dir, runtime,
                   engine.Execution(executor="inline", pack=True))
    frame = engine.write_results(experiment, args.output_dir)
    print(markdown_table(rows, {r["trial_id"]: r for r in frame.to_dict("records")}))
    if args.samples_prefix:
        for cell, variant, trial in rows:
            source = Path(args.output_dir) / "trials" / trial.trial_id / SAMPLES_FILE
            if cell == "fig4a" and source.is_file():
                name = f"{cell}_{variant.replace(' ', '_')}_{trial.config.train_steps}" \
                       f"_s{trial.config.seed}.png"
                shutil.copyfile(source, f"{args.samples_prefix}{name}")


if __name__ == "__main__":
    main(sys.argv[1:])
