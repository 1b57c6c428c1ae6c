"""Flags shared by every reproduction script, and the wrapper that turns errors into one line.

A script is: `define_common_flags(...)`, its own few flags, then `run(main)`, where `main` maps
flags to a preset and makes one library call.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

from ebgan_tf.data import DATA_DIR_ENV, DATA_SOURCES, DataError
from ebgan_tf.distribute import STRATEGIES
from ebgan_tf.grid import EXECUTORS, SAVE_GENERATORS, GridError, TrialRuntime

SCALES = ("smoke", "cpu", "paper")
FLAGS = flags.FLAGS


class UsageError(Exception):
    """A flag value that is well-formed but makes no sense for this script."""


def define_common_flags(default_output_dir: str, margin: float | None = None,
                        default_scale: str = "cpu") -> None:
    """Defines --scale --output_dir --data_dir --data_source --strategy --mixed_precision --seed
    --deterministic --ray_address, and --margin when `margin` is given (EBGAN scripts)."""
    flags.DEFINE_enum("scale", default_scale, SCALES,
                      "smoke: seconds, for CI; cpu: minutes on a 2-core machine; "
                      "paper: the paper's full settings, for accelerators.")
    flags.DEFINE_string("output_dir", default_output_dir,
                        "Folder for results, figures and the HTML report.")
    flags.DEFINE_string("data_dir", os.environ.get(DATA_DIR_ENV),
                        f"Folder containing mnist/ (and other data sets); default ${DATA_DIR_ENV}.")
    flags.DEFINE_enum("data_source", "auto", DATA_SOURCES,
                      "local: files under --data_dir; tfds: TensorFlow Datasets; "
                      "auto: local when present, else TFDS.")
    flags.DEFINE_enum("strategy", "default", STRATEGIES, "tf.distribute strategy.")
    flags.DEFINE_bool("mixed_precision", False,
                      "bfloat16 compute on CPU/TPU, float16 with loss scaling on GPU.")
    flags.DEFINE_integer("seed", 0, "Base random seed.", lower_bound=0)
    flags.DEFINE_bool("deterministic", False,
                      "tf.config.experimental.enable_op_determinism(): bitwise-reproducible "
                      "runs, somewhat slower.")
    flags.DEFINE_string("ray_address", None,
                        "Address of a running Ray cluster to join; default: start local Ray.")
    if margin is not None:
        flags.DEFINE_float("margin", margin, "EBGAN energy margin m (eq. 1).", lower_bound=0.0)


def define_grid_flags() -> None:
    """Flags of the scripts over the MNIST grid's trials (Figs. 2, 3, 4)."""
    flags.DEFINE_enum("save_generators", "best", SAVE_GENERATORS,
                      "Keep trials/<id>/generator.keras for the best trial of each kind (Fig. 4), "
                      "for all trials (up to ~130 MB each at sizeG=3200), or for none.")
    flags.DEFINE_enum("executor", "ray", EXECUTORS,
                      "ray: Ray Tune (local Ray, or --ray_address); inline: one trial after "
                      "another in this process, for debugging.")
    flags.DEFINE_float("cpus_per_trial", 1.0, "Ray CPUs per trial (also TF's threads per trial).",
                       lower_bound=0.0)
    flags.DEFINE_float("gpus_per_trial", 0.0,
                       "Ray GPUs per trial; fractions (e.g. 0.25) share a GPU between trials.",
                       lower_bound=0.0)
    flags.DEFINE_integer("max_concurrent_trials", None,
                         "Cap on trials running at once (default: as many as resources allow).",
                         lower_bound=1)
    flags.DEFINE_bool("jit_compile", False,
                      "XLA-compile each trial's train step (pays off for wide models and GPUs).")
    # A resumed grid must reproduce an uninterrupted one, so the grid runs deterministic ops.
    FLAGS.set_default("deterministic", True)


def grid_arguments() -> dict:
    """The keyword arguments of `grid_report.reproduce` that the flags give."""
    runtime = TrialRuntime(
        data_dir=FLAGS.data_dir, data_source=FLAGS.data_source, strategy=FLAGS.strategy,
        deterministic=FLAGS.deterministic, jit_compile=FLAGS.jit_compile,
        save_generators=FLAGS.save_generators, threads=max(1, int(FLAGS.cpus_per_trial)))
    arguments = dict(scale=FLAGS.scale, output_dir=FLAGS.output_dir, runtime=runtime,
                     seed=FLAGS.seed, mixed_precision=FLAGS.mixed_precision,
                     executor=FLAGS.executor, ray_address=FLAGS.ray_address,
                     cpus_per_trial=FLAGS.cpus_per_trial, gpus_per_trial=FLAGS.gpus_per_trial,
                     max_concurrent_trials=FLAGS.max_concurrent_trials)
    if "margin" in FLAGS:  # Fig. 9 sweeps margins and has no --margin.
        arguments["margin"] = FLAGS.margin
    return arguments


def run(main) -> None:
    """`absl.app.run(main)`, with expected failures reported as one line and a non-zero exit."""

    def guarded(argv):
        if len(argv) > 1:
            _fail(f"unexpected arguments: {' '.join(argv[1:])}", code=2)
        try:
            return main(argv)
        except (DataError, UsageError, GridError) as e:
            _fail(str(e), code=2 if isinstance(e, UsageError) else 1)
        except FloatingPointError as e:
            # A run that diverged (e.g. semi_supervised's NaN check); finished runs are kept.
            _fail(" ".join(str(e).split()), code=1)
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
