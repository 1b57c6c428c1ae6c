"""Table 2 and Figure 10: the bottom-layer-cost Ladder Network vs EBGAN-LN on PI-MNIST.

    python reproductions/table2_semi_supervised.py                 # cpu scale (the default)
    python reproductions/table2_semi_supervised.py --scale=smoke   # seconds, for CI
    python reproductions/table2_semi_supervised.py --scale=paper --ray_address=auto  # 15 seeds

Writes results.csv, one folder per run (trials/<run_id>/, checkpointed: a rerun resumes an
interrupted run and skips finished ones) and index.html under --output_dir. --margin is
EBGAN-LN's initial margin m_0, decayed to 0.
"""

from absl import flags

from ebgan_tf import cli
from ebgan_tf.configs.ladder import LadderConfig
from ebgan_tf.experiments import table2

cli.define_common_flags("reports/table2", margin=LadderConfig.margin)
flags.DEFINE_list("labels", None, "Label counts to run (default: the scale's, 100,200,1000).")
flags.DEFINE_integer("num_seeds", None, "Seeds per (model, labels) (default: the scale's).",
                     lower_bound=1)
flags.DEFINE_integer("train_steps", None, "Training steps per run (default: the scale's).",
                     lower_bound=1)
FLAGS = flags.FLAGS


def main(argv):
    if FLAGS.mixed_precision:
        raise cli.UsageError("--mixed_precision is not supported by the ladder network "
                             "(float32 only).")
    labels = None
    if FLAGS.labels:
        if not all(n.strip().isdigit() for n in FLAGS.labels):
            raise cli.UsageError(f"--labels must be whole numbers, got {','.join(FLAGS.labels)}")
        labels = tuple(int(n) for n in FLAGS.labels)
    experiment = cli.preset(table2.Table2Experiment, table2.SCALES[FLAGS.scale], labels=labels,
                            num_seeds=FLAGS.num_seeds, seed=FLAGS.seed, margin=FLAGS.margin,
                            train_steps=FLAGS.train_steps)
    print(f"report: {cli.reproduce(experiment)}")


if __name__ == "__main__":
    cli.run(main)
