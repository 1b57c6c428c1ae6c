"""The margin pilot of docs/margin_scaling.md: short unscored EBGAN runs on MNIST-64 (or -128), one
per candidate margin, and the three numbers its acceptance rule reads.

    python -m ebgan_tf.tools.conv_margin_pilot --margins=17,35,69 --output_dir=/tmp/pilot

Prints one JSON line per candidate: `e_real` (mean real energy D(x) over the steps after
`--settle_steps`), `p_early` (mean hinge-active fraction P[D(G(z)) < m] over all steps), `p_late`
(over the last `--late_steps`), and `accepted` with the failed conditions. The runs use seed 1 by
default, so the reported runs (seed 0) take no part in choosing their margin; nothing is scored,
so sample quality cannot steer the choice.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from absl import app, flags

flags.DEFINE_list("margins", ["17", "35", "69"], "Candidate margins.")
flags.DEFINE_enum("image_size", "64", ["64", "128"], "MNIST-64 or MNIST-128.")
flags.DEFINE_integer("steps", 150, "Training steps per candidate.", lower_bound=10)
flags.DEFINE_integer("log_every", 10, "Steps per metrics row.", lower_bound=1)
flags.DEFINE_integer("settle_steps", 50, "E_real averages the rows after this step.")
flags.DEFINE_integer("late_steps", 50, "P_late averages the rows of this many last steps.")
flags.DEFINE_integer("seed", 1, "Seed of the pilot runs (the reported runs use 0).")
flags.DEFINE_string("output_dir", "/tmp/conv_margin_pilot", "Run folders (resumable).")
flags.DEFINE_string("data_dir", None, "Folder containing mnist/ (default $EBGAN_TF_DATA_DIR).")
FLAGS = flags.FLAGS

MIN_EARLY_ACTIVE = 0.25  # (B) of docs/margin_scaling.md.
MAX_LATE_ACTIVE = 0.95  # (C).


def verdict(margin: float, rows: list[dict], settle_steps: int, late_steps: int,
            total_steps: int) -> dict:
    """The acceptance rule of docs/margin_scaling.md on one candidate's metrics rows (each a
    mean over the steps up to its `step`)."""
    def mean(column, first_step):
        values = [r[column] for r in rows if r["step"] > first_step]
        return sum(values) / len(values) if values else math.nan

    e_real = mean("real_energy", settle_steps)
    p_early = mean("hinge_active", 0)
    p_late = mean("hinge_active", total_steps - late_steps)
    failed = [name for name, ok in (("A: E_real < m", e_real < margin),
                                    ("B: P_early >= 0.25", p_early >= MIN_EARLY_ACTIVE),
                                    ("C: P_late <= 0.95", p_late <= MAX_LATE_ACTIVE)) if not ok]
    return {"margin": margin, "e_real": round(e_real, 3), "p_early": round(p_early, 4),
            "p_late": round(p_late, 4), "accepted": not failed, "failed": failed}


def main(argv):
    del argv
    from ebgan_tf.configs.scales import Scale
    from ebgan_tf.experiments.conv_mnist import ConvMNIST, experiment_name
    from ebgan_tf.runs import engine
    from ebgan_tf.runs.execute import Execution, Runtime
    from ebgan_tf.runs.train import read_metrics_csv

    name = experiment_name(FLAGS.image_size)
    cpu = ConvMNIST(name, "cpu").scale
    scale = Scale("cpu", "margin pilot (docs/margin_scaling.md)", train_steps=FLAGS.steps,
                  batch_size=cpu.batch_size, log_every=FLAGS.log_every, num_eval_samples=0)
    runtime = Runtime(data_dir=FLAGS.data_dir, threads=2)
    for margin in (float(m) for m in FLAGS.margins):
        experiment = ConvMNIST(name, scale, kinds=("ebgan",), seed=FLAGS.seed, margin=margin)
        folder = Path(FLAGS.output_dir) / f"m{margin:g}"
        engine.run_all(experiment, folder, runtime, Execution(executor="inline"))
        (spec,) = experiment.specs()
        rows = read_metrics_csv(folder / "trials" / spec.run_id / "metrics.csv", FLAGS.steps)
        print(json.dumps(verdict(margin, rows, FLAGS.settle_steps, FLAGS.late_steps,
                                 FLAGS.steps)), flush=True)


if __name__ == "__main__":
    app.run(main)
