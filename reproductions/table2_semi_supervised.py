"""Table 2 and Figure 10: the bottom-layer-cost Ladder Network vs EBGAN-LN on PI-MNIST.

    python reproductions/table2_semi_supervised.py                 # cpu scale (the default)
    python reproductions/table2_semi_supervised.py --comparison --train_steps=12000  # longer
    python reproductions/table2_semi_supervised.py --scale=smoke   # seconds, for CI
    python reproductions/table2_semi_supervised.py --scale=paper --ray_address=auto  # 15 seeds

Writes results.csv, one folder per run (trials/<run_id>/, checkpointed: a rerun resumes an
interrupted run and skips finished ones) and index.html under --output_dir. At the cpu scale the
script first runs the noise-floor comparison (LN, EBGAN-LN and the control, EBGAN-LN with the
margin held at 0, at 100 labels over seeds 0-2) into the same folder, then the preset; the report
shows both. --comparison runs only the comparison (`--comparison --train_steps=12000
--output_dir=DIR`: the longer budget of issue 17); --nowith_comparison only the preset. The model
flags (--margin_factor, --fake_batch_stats, --adam_beta1, --lambda0_by_labels) override
`LadderConfig` for every run; --noscore_test makes a pilot, scored on validation images only.
"""

import dataclasses

from absl import flags

from ebgan_tf import cli
from ebgan_tf.configs.ladder import FAKE_BATCH_STATS, MODEL_KINDS
from ebgan_tf.experiments import table2

cli.define_common_flags("reports/table2")
flags.DEFINE_list("labels", None, "Label counts to run (default: the scale's, 100,200,1000).")
cli.define_num_seeds_flag("(model, labels)")
flags.DEFINE_integer("train_steps", None, "Training steps per run (default: the scale's).",
                     lower_bound=1)
flags.DEFINE_list("models", list(MODEL_KINDS), f"Models to run, some of {MODEL_KINDS}.")
flags.DEFINE_bool("comparison", False, "Run only the noise-floor comparison (LN, EBGAN-LN, control "
                  "at 100 labels over 3 seeds) instead of the preset.")
flags.DEFINE_bool("with_comparison", True, "At a scale with a comparison (cpu, smoke) and its own "
                  "labels, seeds and steps, run the comparison first, into the same folder.")
flags.DEFINE_integer("eval_every", None, "Steps between validation/test evaluations (default: "
                     "the scale's).", lower_bound=1)
flags.DEFINE_bool("score_test", True, "Score runs on the test set; --noscore_test for pilots "
                  "that choose settings on the validation images only.")
flags.DEFINE_float("margin_factor", None, "EBGAN-LN's m_0 in units of the early real energy.",
                   lower_bound=0.0)
flags.DEFINE_enum("fake_batch_stats", None, FAKE_BATCH_STATS,
                  "Batch statistics that normalise fakes inside the ladder.")
flags.DEFINE_float("adam_beta1", None, "Adam beta1 of the ladder and the generator.",
                   lower_bound=0.0, upper_bound=0.999)
flags.DEFINE_string("lambda0_by_labels", None, "lambda_0 per label count, e.g. "
                    "100:5000,1000:2000.")
FLAGS = flags.FLAGS
MODEL_FLAGS = ("margin_factor", "fake_batch_stats", "adam_beta1", "lambda0_by_labels")


def main(argv):
    if FLAGS.mixed_precision:
        raise cli.UsageError("--mixed_precision is not supported by the ladder network "
                             "(float32 only).")
    labels = None
    if FLAGS.labels:
        if not all(n.strip().isdigit() for n in FLAGS.labels):
            raise cli.UsageError(f"--labels must be whole numbers, got {','.join(FLAGS.labels)}")
        labels = tuple(int(n) for n in FLAGS.labels)
    overrides = tuple((name, FLAGS[name].value) for name in MODEL_FLAGS
                      if FLAGS[name].value is not None)
    experiment = cli.preset(table2.Table2Experiment, table2.SCALES[FLAGS.scale], labels=labels,
                            num_seeds=FLAGS.num_seeds, seed=FLAGS.seed,
                            models=tuple(m.strip() for m in FLAGS.models),
                            train_steps=FLAGS.train_steps, eval_every=FLAGS.eval_every,
                            overrides=overrides, score_test=FLAGS.score_test,
                            comparison=FLAGS.comparison)
    parts = [experiment]
    if (FLAGS.with_comparison and not FLAGS.comparison and FLAGS.scale in table2.COMPARISONS
            and labels is None and FLAGS.num_seeds is None and FLAGS.train_steps is None):
        # The comparison's extra seeds first; the preset's invocation then writes the report
        # with both (runs they share, e.g. seed 0 at 100 labels, run once).
        parts.insert(0, dataclasses.replace(experiment, comparison=True))
    for part in parts:
        report = cli.reproduce(part)
    print(f"report: {report}")


if __name__ == "__main__":
    cli.run(main)
