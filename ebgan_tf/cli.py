"""Flags shared by every reproduction script, and the wrapper that turns errors into one line.

A script is: `define_common_flags(...)`, its own few flags, then `run(main)`, where `main` maps
flags to an experiment preset and makes one call, `reproduce(experiment)`. Defining the flags
imports no TensorFlow, so `--help` and bad flags answer at once.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

from ebgan_tf.configs.scales import SCALE_NAMES
from ebgan_tf.data import DATA_DIR_ENV, DATA_SOURCES
from ebgan_tf.errors import DataError, RunError, UsageError
from ebgan_tf.runs.execute import EXECUTORS, SAVE_GENERATORS, STRATEGIES, Execution, Runtime

FLAGS = flags.FLAGS


def define_common_flags(default_output_dir: str, margin: float | None = None,
                        default_scale: str = "cpu") -> None:
    """The flags of every script: what to run (--scale --seed --margin), where the data and the
    results are, how runs execute (strategy, precision, determinism, inline or Ray)."""
    flags.DEFINE_enum("scale", default_scale, SCALE_NAMES,
                      "smoke: seconds, for CI; cpu: minutes on a 2-core machine; "
                      "paper: the paper's full settings, for accelerators.")
    flags.DEFINE_string("output_dir", default_output_dir,
                        "Folder for results, figures and the HTML report.")
    flags.DEFINE_string("data_dir", os.environ.get(DATA_DIR_ENV),
                        f"Folder containing mnist/ (and other data sets); default ${DATA_DIR_ENV}.")
    flags.DEFINE_enum("data_source", "auto", DATA_SOURCES,
                      "local: files under --data_dir; tfds: TensorFlow Datasets; "
                      "auto: local when present, else TFDS.")
    flags.DEFINE_enum("strategy", "default", STRATEGIES, "tf.distribute strategy of each run.")
    flags.DEFINE_bool("mixed_precision", False,
                      "bfloat16 compute on CPU/TPU, float16 with loss scaling on GPU.")
    flags.DEFINE_integer("seed", 0, "Base random seed.", lower_bound=0)
    flags.DEFINE_bool("deterministic", True,
                      "tf.config.experimental.enable_op_determinism(): bitwise-reproducible "
                      "runs, so a resumed experiment equals an uninterrupted one; somewhat slower.")
    flags.DEFINE_bool("jit_compile", False,
                      "XLA-compile each run's train step (pays off for wide models and GPUs; "
                      "needs --nodeterministic).")
    flags.DEFINE_enum("executor", "ray", EXECUTORS,
                      "ray: Ray Tune (local Ray, or --ray_address); inline: one run after "
                      "another in this process, for debugging.")
    flags.DEFINE_string("ray_address", None,
                        "Address of a running Ray cluster to join; default: start local Ray.")
    flags.DEFINE_float("cpus_per_trial", 1.0, "Ray CPUs per run (also TF's threads per run).",
                       lower_bound=0.0)
    flags.DEFINE_float("gpus_per_trial", 0.0,
                       "Ray GPUs per run; fractions (e.g. 0.25) share a GPU between runs.",
                       lower_bound=0.0)
    flags.DEFINE_integer("max_concurrent_trials", None,
                         "Cap on runs at once (default: as many as resources allow).",
                         lower_bound=1)
    if margin is not None:
        flags.DEFINE_float("margin", margin, "EBGAN energy margin m (eq. 1).", lower_bound=0.0)


def define_grid_flags() -> None:
    """Flags of the scripts over MNIST trials (Figs. 2, 3, 4, 9)."""
    flags.DEFINE_enum("save_generators", "best", SAVE_GENERATORS,
                      "Keep trials/<id>/generator.keras for the best trial of each kind (Fig. 4), "
                      "for all trials (up to ~130 MB each at sizeG=3200), or for none.")
    flags.DEFINE_enum("pack", "auto", ("auto", "off"),
                      "auto: train trials of equal shape as one model (one compiled step, one "
                      "scoring pass), up to --max_pack at a time; off: one trial at a time.")
    flags.DEFINE_integer("max_pack", 24, "Most trials in one pack.", lower_bound=1)
    flags.DEFINE_bool("pack_xla", True, "XLA-compile packed steps (bitwise reproducible from run "
                      "to run, tested; --nopack_xla for the plain graph).")


def define_num_seeds_flag(per: str) -> None:
    """--num_seeds: how many seeds (--seed, --seed+1, ...) each setting of the experiment runs."""
    flags.DEFINE_integer("num_seeds", None, f"Seeds per {per}: --seed .. --seed+n-1 (default: "
                         "the scale's).", lower_bound=1)


def precision() -> str:
    return "mixed" if FLAGS.mixed_precision else "float32"


def runtime():
    """The `Runtime` the flags describe."""
    return Runtime(data_dir=FLAGS.data_dir, data_source=FLAGS.data_source, strategy=FLAGS.strategy,
                   deterministic=FLAGS.deterministic, jit_compile=FLAGS.jit_compile,
                   save_generators=FLAGS["save_generators"].value if "save_generators" in FLAGS
                   else "none",
                   pack_xla=FLAGS["pack_xla"].value if "pack_xla" in FLAGS else True,
                   threads=max(1, int(FLAGS.cpus_per_trial)))


def execution(reuse_workers: bool = True):
    """The `Execution` the flags describe."""
    packing = {}
    if "pack" in FLAGS:
        packing = dict(pack=FLAGS.pack == "auto", max_pack=FLAGS.max_pack)
    return Execution(executor=FLAGS.executor, ray_address=FLAGS.ray_address,
                     cpus_per_run=FLAGS.cpus_per_trial, gpus_per_run=FLAGS.gpus_per_trial,
                     max_concurrent=FLAGS.max_concurrent_trials, reuse_workers=reuse_workers,
                     **packing)


def preset(make, *args, **kwargs):
    """`make(*args, **kwargs)` (an experiment or its settings from flag values), with a setting a
    config rejects reported as the user's error."""
    try:
        return make(*args, **kwargs)
    except ValueError as e:
        raise UsageError(" ".join(str(e).split())) from None


def reproduce(experiment, pages=None):
    """`ebgan_tf.runs.engine.reproduce` with the flags' output folder, runtime and execution."""
    from ebgan_tf.runs import engine

    scale = getattr(experiment, "scale", None)
    return engine.reproduce(
        experiment, FLAGS.output_dir, runtime(),
        execution(reuse_workers=scale.reuse_workers if scale is not None else True),
        pages=pages, scale=FLAGS.scale, seed=FLAGS.seed, precision=precision(),
        **({"num_seeds": FLAGS.num_seeds} if "num_seeds" in FLAGS and FLAGS.num_seeds else {}))


def run(main) -> None:
    """`absl.app.run(main)`, with expected failures reported as one line and a non-zero exit."""

    def guarded(argv):
        if len(argv) > 1:
            _fail(f"unexpected arguments: {' '.join(argv[1:])}", code=2)
        try:
            return main(argv)
        except (DataError, UsageError, RunError) as e:
            _fail(str(e), code=2 if isinstance(e, UsageError) else 1)
        except KeyboardInterrupt:
            _fail("interrupted; finished work is kept and a rerun resumes it.", code=130)

    app.run(guarded, flags_parser=_parse_flags)


def _parse_flags(argv):
    """absl's parser, with a bad flag reported as one line (absl's own adds a usage hint)."""
    try:
        return FLAGS(argv)
    except flags.Error as e:
        _fail(" ".join(str(e).split()), code=2)


def _fail(message: str, code: int) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)
