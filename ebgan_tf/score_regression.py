"""Score regression: the Fig. 4 configurations at a fixed seed and budget, against a committed baseline.

    python -m ebgan_tf.score_regression --data_dir ../shared/data     # regenerate the baseline

CI (`pytest -m regression`, tests/test_score_regression.py) trains each spec of `SPECS` at its seed
with the grid's trial function (`grid.run_trial`: op determinism, one TensorFlow thread), scores it
with `metrics.evaluate_generator`, and checks every score against `score_regression_baseline.json`
with `check_scores`. The baseline file holds, per spec, the scores of the CI seed, the scores of
`--seeds` other seeds and of `--repeats` fresh-process repeats of the CI seed, the spread of both,
and the tolerance derived from the seed spread by `tolerance_from_spread`:

    tolerance = max(K_STD * std(seed scores, ddof=1), max(seed scores) - min(seed scores))

Why the seed spread and not the repeat spread: with op determinism the same seed on the same
machine is bitwise identical (the repeats measure 0), but another CPU rounds differently and the
difference grows chaotically through training, so on a CI machine of another kind the CI seed's
score is in effect one more draw from the seed distribution. The difference of two draws has
std sqrt(2)·std; K_STD = 4 puts the bound at ~2.8 standard deviations of that difference, and
never below the range actually observed. The check is two-sided: a higher score is a change too, and is
accepted by regenerating the baseline (docs/score_regression.md).

`ORDERINGS` are the paper's claims checked between specs (e.g. EBGAN's log IS above GAN's); the
regeneration records for each one whether it held for every seed, with the gap between the worst
seed of the better spec and the best seed of the worse, and the tests assert only robust ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ebgan_tf import config as config_lib
from ebgan_tf import grid

BASELINE_PATH = Path(__file__).with_name("score_regression_baseline.json")
SCHEMA_VERSION = 1
# The scores checked, and which way is better (Fréchet distance: lower).
SCORES = {"log_is": "higher", "i_prime": "higher", "frechet_distance": "lower"}
K_STD = 4.0
# TensorFlow intra-op threads of every regression run. Fixed, because the thread count can change
# how a matrix product splits its sums, hence the round-off, hence (chaotically) the scores.
THREADS = 1
CI_SEED = 0
RESULT_PREFIX = "RESULT "


@dataclasses.dataclass(frozen=True)
class RegressionSpec:
    """One fixed regression run: a paper preset, a training budget and how it is scored."""

    name: str
    preset: str  # A name in config.PRESETS.
    train_steps: int
    num_eval_samples: int
    seed: int = CI_SEED
    log_every: int = 100

    def trial(self, seed: int | None = None, **overrides) -> grid.Trial:
        """The grid trial of this spec; `seed` seeds weights, data order and the score's latents."""
        seed = self.seed if seed is None else seed
        cfg = config_lib.preset(self.preset, train_steps=self.train_steps, seed=seed, **overrides)
        return grid.Trial(cfg, num_eval_samples=self.num_eval_samples, eval_seed=seed,
                          log_every=self.log_every)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Fig. 4 (paper.md §2.7): the best GAN, EBGAN and EBGAN-PT of the grid, at full width.
SPECS: tuple[RegressionSpec, ...] = (
    # The GAN's log IS stays ~0 up to 1,800 steps (pilot: 1e-4; its Fréchet distance falls from
    # 204 at 300 steps to 116 at 1,800), so more GAN steps buy no signal: 600 steps, ~30 s.
    RegressionSpec("fig4_gan", "fig4_gan", train_steps=600, num_eval_samples=2000),
    # EBGAN's log IS: 0.39 / 0.94 / 1.18 / 1.55 after 300 / 600 / 900 / 1,200 steps (pilot,
    # seed 0; Fréchet distance 111 / 66 / 52 / 34): 1,200 steps, ~55 s each.
    RegressionSpec("fig4_ebgan", "fig4_ebgan", train_steps=1200, num_eval_samples=2000),
    RegressionSpec("fig4_ebgan_pt", "fig4_ebgan_pt", train_steps=1200, num_eval_samples=2000),
)
SPECS_BY_NAME = {spec.name: spec for spec in SPECS}

# (better spec, worse spec, score): the paper's claims between the Fig. 4 configurations.
ORDERINGS: tuple[tuple[str, str, str], ...] = (
    ("fig4_ebgan", "fig4_gan", "log_is"),
    ("fig4_ebgan_pt", "fig4_gan", "log_is"),
)


class RegressionError(Exception):
    """A regression run could not produce scores (diverged or failed). One line, for the user."""


# --- running ---------------------------------------------------------------------------------

def run_spec(spec: RegressionSpec, output_dir: str | os.PathLike, seed: int | None = None,
             data_dir: str | os.PathLike | None = None, data_source: str = "auto",
             **overrides) -> dict:
    """Trains and scores one spec through `grid.run_trial`; returns {score: value, "wall_time_s"}.

    `overrides` change the preset (e.g. lr=1e-4: how the docs show that a degraded setting fails).
    A trial already finished under `output_dir` is read back, not re-run.
    """
    runtime = grid.TrialRuntime(data_dir=str(data_dir) if data_dir else None,
                                data_source=data_source, deterministic=True,
                                save_generators="none", threads=THREADS)
    result = grid.run_trial(spec.trial(seed, **overrides), output_dir, runtime)
    if result["status"] != "ok":
        raise RegressionError(f"{spec.name} (seed {result['seed']}) {result['status']}: "
                              f"{result['reason']}")
    return {**{name: float(result[name]) for name in SCORES},
            "wall_time_s": float(result["wall_time_s"])}


def measure(seeds, output_dir: str | os.PathLike, data_dir=None, data_source: str = "auto",
            specs: tuple[RegressionSpec, ...] = SPECS) -> dict:
    """Runs every spec at every seed, seed-major (so the CI seed runs first, in CI's order).

    Returns {spec name: {str(seed): scores}}.
    """
    out: dict = {spec.name: {} for spec in specs}
    for seed in seeds:
        for spec in specs:
            out[spec.name][str(seed)] = run_spec(spec, output_dir, seed, data_dir, data_source)
    return out


def measure_in_fresh_process(seeds, output_dir: str | os.PathLike, data_dir=None,
                             data_source: str = "auto", timeout: float = 3600) -> dict:
    """`measure` in a new Python process, where the thread count and op determinism take effect
    before TensorFlow starts (in a process that already ran TensorFlow they would not)."""
    command = [sys.executable, "-m", "ebgan_tf.score_regression", "--measure",
               f"--seeds={','.join(str(s) for s in seeds)}", f"--work_dir={output_dir}",
               f"--data_source={data_source}"]
    if data_dir:
        command.append(f"--data_dir={data_dir}")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    lines = [line for line in out.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if out.returncode != 0 or not lines:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise RegressionError(f"the measuring process failed (exit {out.returncode}): {tail}")
    return json.loads(lines[-1][len(RESULT_PREFIX):])


# --- tolerance and checks --------------------------------------------------------------------

def spread(values) -> dict:
    """Mean, sample std (ddof=1; 0 for one value), min, max and range of a list of scores."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("spread of no values")
    mean = sum(values) / len(values)
    std = (math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
           if len(values) > 1 else 0.0)
    return {"n": len(values), "mean": mean, "std": std, "min": min(values), "max": max(values),
            "range": max(values) - min(values)}


def tolerance_from_spread(seed_values, k_std: float = K_STD) -> float:
    """max(k_std * std(ddof=1), range) of the scores of different seeds; needs >= 3 seeds."""
    if len(seed_values) < 3:
        raise ValueError(f"a tolerance needs the scores of at least 3 seeds, got {len(seed_values)}")
    s = spread(seed_values)
    return max(k_std * s["std"], s["range"])


def check_scores(scores: dict, entry: dict) -> list[str]:
    """The scores outside the tolerance of a baseline entry, one message each (empty: all pass)."""
    failures = []
    for name, direction in SCORES.items():
        value, base, tol = scores[name], entry["baseline"][name], entry["tolerance"][name]
        if not math.isfinite(value) or abs(value - base) > tol:
            worse = (value < base) == (direction == "higher")
            failures.append(f"{entry['spec']['name']}: {name} = {value:.4g}, baseline {base:.4g} "
                            f"± {tol:.3g} ({'worse' if worse else 'better'} by "
                            f"{abs(value - base):.3g}; {direction} is better)")
    return failures


def ordering_holds(scores_by_spec: dict, better: str, worse: str, score: str) -> bool:
    """Whether spec `better` beats spec `worse` on `score` (in the score's direction)."""
    a, b = scores_by_spec[better][score], scores_by_spec[worse][score]
    return a > b if SCORES[score] == "higher" else a < b


# --- the baseline file -----------------------------------------------------------------------

_ENTRY_KEYS = {"spec", "baseline", "seeds", "repeats", "seed_spread", "repeat_spread",
               "tolerance"}
_TOP_KEYS = {"schema_version", "tolerance_rule", "k_std", "threads", "machine", "command",
             "wall_time_s", "ci_seconds_estimate", "configs", "orderings"}


def validate_baseline(baseline: dict) -> None:
    """Raises ValueError naming the first thing wrong with a baseline dict."""
    missing = _TOP_KEYS - set(baseline)
    if missing:
        raise ValueError(f"baseline lacks {sorted(missing)}")
    if baseline["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"baseline schema_version {baseline['schema_version']}, "
                         f"expected {SCHEMA_VERSION}")
    for name, entry in baseline["configs"].items():
        missing = _ENTRY_KEYS - set(entry)
        if missing:
            raise ValueError(f"baseline config {name} lacks {sorted(missing)}")
        if entry["spec"].get("name") != name:
            raise ValueError(f"baseline config {name} holds the spec of {entry['spec'].get('name')}")
        if len(entry["seeds"]) < 3:
            raise ValueError(f"baseline config {name} has {len(entry['seeds'])} seeds, needs >= 3")
        if len(entry["repeats"]) < 2:
            raise ValueError(f"baseline config {name} has {len(entry['repeats'])} repeats of its "
                             "seed, needs >= 2")
        for score in SCORES:
            values = [entry["baseline"].get(score), entry["tolerance"].get(score)]
            if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
                raise ValueError(f"baseline config {name}: {score} baseline/tolerance not finite")
            if entry["tolerance"][score] <= 0:
                raise ValueError(f"baseline config {name}: {score} tolerance must be > 0")
            seed_values = [s[score] for s in entry["seeds"].values()]
            expected = tolerance_from_spread(seed_values, baseline["k_std"])
            if not math.isclose(entry["tolerance"][score], expected, rel_tol=1e-9):
                raise ValueError(f"baseline config {name}: {score} tolerance "
                                 f"{entry['tolerance'][score]} is not the rule's {expected}")
    for ordering in baseline["orderings"]:
        for key in ("better", "worse", "score", "robust", "margin"):
            if key not in ordering:
                raise ValueError(f"baseline ordering {ordering} lacks {key!r}")
        for spec in (ordering["better"], ordering["worse"]):
            if spec not in baseline["configs"]:
                raise ValueError(f"baseline ordering names unknown config {spec!r}")


def load_baseline(path: str | os.PathLike = BASELINE_PATH) -> dict:
    baseline = json.loads(Path(path).read_text())
    validate_baseline(baseline)
    return baseline


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def build_baseline(repeats: list[dict], other_seeds: dict, command: str,
                   wall_time_s: float, specs: tuple[RegressionSpec, ...] = SPECS) -> dict:
    """The baseline dict from `measure` outputs: `repeats` (each {spec: {"<ci seed>": scores}},
    one per fresh process) and `other_seeds` ({spec: {seed: scores}}, without the CI seed)."""
    import keras
    import numpy as np
    import tensorflow as tf

    configs = {}
    for spec in specs:
        ci_key = str(spec.seed)
        runs = [r[spec.name][ci_key] for r in repeats]
        seeds = {ci_key: runs[0], **other_seeds[spec.name]}
        entry = {
            "spec": spec.to_dict(),
            "baseline": {name: runs[0][name] for name in SCORES},
            "seeds": seeds,
            "repeats": runs,
            "seed_spread": {name: spread([s[name] for s in seeds.values()]) for name in SCORES},
            "repeat_spread": {name: spread([r[name] for r in runs]) for name in SCORES},
            "tolerance": {name: tolerance_from_spread([s[name] for s in seeds.values()])
                          for name in SCORES},
        }
        configs[spec.name] = entry
    orderings = []
    for better, worse, score in ORDERINGS:
        a = [s[score] for s in configs[better]["seeds"].values()]
        b = [s[score] for s in configs[worse]["seeds"].values()]
        margin = min(a) - max(b) if SCORES[score] == "higher" else min(b) - max(a)
        orderings.append({"better": better, "worse": worse, "score": score,
                          "robust": margin > 0, "margin": margin})
    ci_seconds = sum(configs[s.name]["seeds"][str(s.seed)]["wall_time_s"] for s in specs)
    return {
        "schema_version": SCHEMA_VERSION,
        "tolerance_rule": (f"per score: max({K_STD:g} * std over the seeds (ddof=1), max - min over "
                           "the seeds); checked two-sided: |score - baseline| <= tolerance"),
        "k_std": K_STD,
        "threads": THREADS,
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "tensorflow": tf.__version__,
                    "keras": keras.__version__, "numpy": np.__version__},
        "command": command,
        "wall_time_s": round(wall_time_s, 1),
        "ci_seconds_estimate": round(ci_seconds, 1),
        "configs": configs,
        "orderings": orderings,
    }


# --- command line ----------------------------------------------------------------------------

def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be integers separated by commas, got {text!r}")
    if len(set(seeds)) != len(seeds) or not seeds:
        raise argparse.ArgumentTypeError(f"seeds must be distinct and at least one, got {text!r}")
    return seeds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ebgan_tf.score_regression",
        description="Regenerates the score-regression baseline: runs every spec at the CI seed in "
                    "--repeats fresh processes and at --seeds, and writes the baseline JSON.")
    parser.add_argument("--data_dir", default=None, help="folder holding mnist/ "
                        "(default: $EBGAN_TF_DATA_DIR)")
    parser.add_argument("--data_source", default="auto", choices=("auto", "local", "tfds"),
                        help="MNIST from local IDX files or TFDS (auto: local when present)")
    parser.add_argument("--seeds", type=_parse_seeds, default=[1, 2, 3, 4],
                        help="seeds besides the CI seed (>= 2 of them: the spread needs >= 3)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="fresh-process runs of the CI seed (>= 2)")
    parser.add_argument("--output", default=str(BASELINE_PATH), help="the baseline JSON to write")
    parser.add_argument("--work_dir", default=None,
                        help="where trial folders go (default: a temporary folder); a rerun with "
                             "the same folder reuses finished trials")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from ebgan_tf import data

    try:
        if args.measure:  # The child of measure_in_fresh_process.
            if not args.work_dir:
                parser.error("--measure needs --work_dir")
            result = measure(args.seeds, args.work_dir, args.data_dir, args.data_source)
            print(RESULT_PREFIX + json.dumps(result), flush=True)
            return 0
        if args.repeats < 2:
            parser.error("--repeats must be at least 2")
        if CI_SEED in args.seeds or len(args.seeds) < 2:
            parser.error(f"--seeds: at least 2 seeds other than the CI seed {CI_SEED}")
        grid.check_data(grid.TrialRuntime(data_dir=args.data_dir, data_source=args.data_source))
        start = time.perf_counter()
        work_dir = Path(args.work_dir or tempfile.mkdtemp(prefix="score_regression_"))
        repeats = []
        for r in range(args.repeats):
            # Each repeat is a separate folder, so it trains again instead of reading back.
            repeats.append(measure_in_fresh_process([CI_SEED], work_dir / f"repeat_{r}",
                                                    args.data_dir, args.data_source))
            print(f"repeat {r}: " + json.dumps(repeats[-1]), flush=True)
        other = measure_in_fresh_process(args.seeds, work_dir / "seeds", args.data_dir,
                                         args.data_source)
        print("seeds: " + json.dumps(other), flush=True)
        command = "python -m ebgan_tf.score_regression " + " ".join(
            a for a in (argv if argv is not None else sys.argv[1:]))
        baseline = build_baseline(repeats, other, command.strip(), time.perf_counter() - start)
        validate_baseline(baseline)
        from ebgan_tf.report import write_text_atomic

        write_text_atomic(args.output, json.dumps(baseline, indent=2) + "\n")
        print(f"wrote {args.output}")
        for name, entry in baseline["configs"].items():
            print(name, {k: f"{v:.4f} ± {entry['tolerance'][k]:.4f}"
                         for k, v in entry["baseline"].items()})
        for o in baseline["orderings"]:
            print(f"{o['better']} > {o['worse']} in {o['score']}: robust={o['robust']} "
                  f"(margin {o['margin']:.4f})")
        return 0
    except (RegressionError, data.DataError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
