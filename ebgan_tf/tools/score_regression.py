"""Regenerates the score-regression baseline (`ebgan_tf/score_regression_baseline.json`).

    flock /tmp/ebgan_cpu.lock python -m ebgan_tf.tools.score_regression --data_dir ../shared/data \
        --work_dir runs/score_regression

Every spec of `ebgan_tf.score_regression.SPECS` at the CI seed under every round-off variant of
`score_baseline.VARIANTS`, in `--repeats` fresh processes, at `--seeds`, and at `--variant_seeds`
under each variant that changes the arithmetic; then the degraded settings. Each measurement runs
in a fresh process, because the variants' settings take effect only at TensorFlow start-up.
docs/score_regression.md gives the rule and the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ebgan_tf import score_baseline as sb
from ebgan_tf.errors import DataError
from ebgan_tf.score_regression import (BASELINE_PATH, CI_SEED, ORDERINGS, RESULT_PREFIX, SCORES,
                                       SPECS, THREADS, RegressionError, check_scores, measure,
                                       measure_degraded)


def measure_in_fresh_process(seeds, output_dir: str | os.PathLike, data_dir=None,
                             data_source: str = "auto", variant: str = sb.CI_VARIANT,
                             degraded: bool = False) -> dict:
    """`measure` (or `measure_degraded`) in a new Python process under a round-off variant, where
    the variant's environment, thread count and op determinism take effect before TensorFlow
    starts. Returns {"variant", "machine", "env", "threads", "scores" or "degraded"}."""
    settings = sb.VARIANTS[variant]
    command = [sys.executable, "-m", "ebgan_tf.tools.score_regression", "--measure",
               f"--seeds={','.join(str(s) for s in seeds)}", f"--work_dir={output_dir}",
               f"--data_source={data_source}", f"--threads={settings.threads}"]
    if data_dir:
        command.append(f"--data_dir={data_dir}")
    if degraded:
        command.append("--degraded")
    env = {**sb.variant_env(settings, dict(os.environ)), "TF_CPP_MIN_LOG_LEVEL": "2"}
    # ~1.5 min a spec here; four times that before a hung child is given up.
    timeout = 360 * len(SPECS) * max(1, len(seeds))
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    lines = [line for line in out.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if out.returncode != 0 or not lines:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise RegressionError(f"the measuring process ({variant}) failed (exit "
                              f"{out.returncode}): {tail}")
    return {"variant": variant, **json.loads(lines[-1][len(RESULT_PREFIX):])}


def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be integers separated by commas, got {text!r}")
    if len(set(seeds)) != len(seeds) or not seeds:
        raise argparse.ArgumentTypeError(f"seeds must be distinct and at least one, got {text!r}")
    return seeds


def _regenerate(args, argv) -> dict:
    """Every measurement of the baseline, each in a fresh process, in the order that lets a
    duplicate variant be found before its extra seeds are run."""
    start = time.perf_counter()
    work_dir = Path(args.work_dir or tempfile.mkdtemp(prefix="score_regression_"))

    def run(seeds, folder, variant=sb.CI_VARIANT, degraded=False):
        result = measure_in_fresh_process(seeds, work_dir / folder, args.data_dir,
                                          args.data_source, variant, degraded)
        print(f"{folder}: " + json.dumps(result.get("scores", result.get("degraded"))), flush=True)
        return result

    # The CI seed under every variant first: a variant that reproduces an earlier one bitwise
    # does not change the arithmetic on this machine, so its other seeds would add no draws.
    runs = [run([CI_SEED], f"{variant}/ci", variant) for variant in sb.VARIANTS]
    classes = sb.arithmetic_classes({r["variant"]: {spec: seeds[str(CI_SEED)] for spec, seeds
                                                    in r["scores"].items()} for r in runs})
    print("arithmetic classes: " + json.dumps(classes), flush=True)
    # Each repeat is a separate folder, so that it trains again instead of reading back.
    repeats = [run([CI_SEED], f"{sb.CI_VARIANT}/repeat_{r}") for r in range(1, args.repeats)]
    runs.append(run(args.seeds, f"{sb.CI_VARIANT}/seeds"))
    for variant, same_as in classes.items():
        if variant != sb.CI_VARIANT and same_as == variant:
            runs.append(run(args.variant_seeds, f"{variant}/seeds", variant))
    degraded = run([CI_SEED], "degraded", degraded=True)["degraded"]
    command = "python -m ebgan_tf.tools.score_regression " + " ".join(
        argv if argv is not None else sys.argv[1:])
    return sb.build_baseline(runs, repeats, degraded, [s.to_dict() for s in SPECS], ORDERINGS,
                             CI_SEED, command.strip(), time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ebgan_tf.tools.score_regression",
        description="Regenerates the score-regression baseline: every spec at the CI seed under "
                    "every round-off variant, in --repeats fresh processes, at --seeds, and at "
                    "--variant_seeds under each variant that changes the arithmetic; then the "
                    "degraded settings; writes the baseline JSON.")
    parser.add_argument("--data_dir", default=None, help="folder holding mnist/ "
                        "(default: $EBGAN_TF_DATA_DIR)")
    parser.add_argument("--data_source", default="auto", choices=("auto", "local", "tfds"),
                        help="MNIST from local IDX files or TFDS (auto: local when present)")
    parser.add_argument("--seeds", type=_parse_seeds, default=list(range(1, 12)),
                        help="seeds besides the CI seed under the CI variant "
                             f"(>= {sb.MIN_CI_VARIANT_SEEDS - 1})")
    parser.add_argument("--variant_seeds", type=_parse_seeds, default=[1, 2, 3, 4],
                        help="seeds besides the CI seed under every other variant "
                             f"(>= {sb.MIN_CLASS_SEEDS - 1})")
    parser.add_argument("--repeats", type=int, default=2,
                        help="fresh-process runs of the CI seed under the CI variant (>= 2)")
    parser.add_argument("--output", default=str(BASELINE_PATH), help="the baseline JSON to write")
    parser.add_argument("--work_dir", default=None,
                        help="where trial folders go (default: a temporary folder); a rerun with "
                             "the same folder reuses finished trials")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--degraded", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=THREADS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.measure:  # The child of measure_in_fresh_process.
            if not args.work_dir:
                parser.error("--measure needs --work_dir")
            result = {"machine": sb.machine(), "threads": args.threads,
                      "env": {k: os.environ[k] for k in sb.ROUNDOFF_ENV_KEYS if k in os.environ}}
            if args.degraded:
                result["degraded"] = measure_degraded(args.work_dir, args.data_dir,
                                                      args.data_source)
            else:
                result["scores"] = measure(args.seeds, args.work_dir, args.data_dir,
                                           args.data_source, threads=args.threads)
            print(RESULT_PREFIX + json.dumps(result), flush=True)
            return 0
        if args.repeats < 2:
            parser.error("--repeats must be at least 2")
        for flag, seeds, least in (("--seeds", args.seeds, sb.MIN_CI_VARIANT_SEEDS),
                                   ("--variant_seeds", args.variant_seeds, sb.MIN_CLASS_SEEDS)):
            if CI_SEED in seeds or len(seeds) < least - 1:
                parser.error(f"{flag}: at least {least - 1} seeds other than the CI seed {CI_SEED}")
        from ebgan_tf.experiments.mnist_trials import TrialSet
        from ebgan_tf.runs.execute import Runtime

        TrialSet().check_data(Runtime(data_dir=args.data_dir, data_source=args.data_source))
        baseline = _regenerate(args, argv)
        sb.validate_baseline(baseline)
        from ebgan_tf.atomic_files import write_text_atomic

        write_text_atomic(args.output, json.dumps(baseline, indent=2) + "\n")
        print(f"wrote {args.output} ({baseline['wall_time_s']:.0f} s)")
        for name, entry in baseline["configs"].items():
            print(name, {k: f"{v:.4f} ± {entry['tolerance'][k]:.4f}"
                         for k, v in entry["center"].items()})
        for item in baseline["degraded"]:
            failures = check_scores(item["scores"], baseline["configs"][item["spec"]])
            print(f"degraded {item['spec']} {item['overrides']}: {len(failures)} of "
                  f"{len(SCORES)} scores refused")
        return 0
    except (RegressionError, DataError, OSError, subprocess.TimeoutExpired) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
