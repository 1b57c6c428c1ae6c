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


def run(main) -> None:
    """`absl.app.run(main)`, with expected failures reported as one line and a non-zero exit."""

    def guarded(argv):
        if len(argv) > 1:
            _fail(f"unexpected arguments: {' '.join(argv[1:])}", code=2)
        try:
            return main(argv)
        except (DataError, UsageError) as e:
            _fail(str(e), code=2 if isinstance(e, UsageError) else 1)
        except KeyboardInterrupt:
            _fail("interrupted; finished work is kept and a rerun resumes it.", code=130)

    app.run(guarded, flags_parser=_parse_flags)


def _parse_flags(argv):
    # absl's own parser prints the error plus a usage hint; the suite's rule is one line.
    try:
        return FLAGS(argv)
    except flags.Error as e:
        _fail(str(e), code=2)


def _fail(message: str, code: int) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)
