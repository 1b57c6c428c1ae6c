"""Table 2 and Figure 10: the bottom-layer-cost Ladder Network vs EBGAN-LN on PI-MNIST.

    python reproductions/table2_semi_supervised.py                 # cpu scale (the default)
    python reproductions/table2_semi_supervised.py --scale=smoke   # seconds, for CI
    python reproductions/table2_semi_supervised.py --scale=paper   # 15 seeds, 120k steps

Writes results.csv, the per-run files (trials/, resumable: a rerun skips finished runs) and
index.html under --output_dir. --margin is EBGAN-LN's initial margin m_0, decayed to 0.
"""

from absl import flags

from ebgan_tf import cli, distribute
from ebgan_tf.ladder import LadderConfig

cli.define_common_flags("reports/table2", margin=LadderConfig.margin)
flags.DEFINE_list("labels", None, "Label counts to run (default: the scale's, 100,200,1000).")
flags.DEFINE_integer("num_seeds", None, "Seeds per (model, labels) (default: the scale's).",
                     lower_bound=1)
flags.DEFINE_integer("train_steps", None, "Training steps per run (default: the scale's).",
                     lower_bound=1)
FLAGS = flags.FLAGS


def main(_):
    from ebgan_tf import semi_supervised

    if FLAGS.mixed_precision:
        raise cli.UsageError("--mixed_precision is not supported by the ladder network (float32 only).")
    if FLAGS.ray_address:
        raise cli.UsageError("--ray_address: this experiment runs its trials in one process.")
    overrides = {"margin": FLAGS.margin}
    if FLAGS.train_steps:
        overrides["train_steps"] = FLAGS.train_steps
    try:
        settings = semi_supervised.preset(FLAGS.scale, **overrides)
        changes = {"base_seed": FLAGS.seed}
        if FLAGS.labels:
            if not all(n.strip().isdigit() for n in FLAGS.labels):
                raise ValueError(f"--labels must be whole numbers, got {','.join(FLAGS.labels)}")
            changes["label_counts"] = tuple(int(n) for n in FLAGS.labels)
        if FLAGS.num_seeds:
            changes["num_seeds"] = FLAGS.num_seeds
        settings = settings.replace(**changes)
    except ValueError as e:
        raise cli.UsageError(str(e)) from None
    if FLAGS.deterministic:
        import tensorflow as tf
        tf.config.experimental.enable_op_determinism()
    strategy = distribute.make_strategy(FLAGS.strategy)
    path = semi_supervised.run_table2(settings, FLAGS.output_dir, FLAGS.data_dir,
                                      FLAGS.data_source, strategy, strategy_name=FLAGS.strategy)
    print(f"report: {path}")


if __name__ == "__main__":
    cli.run(main)
