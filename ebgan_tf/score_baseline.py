"""The score-regression baseline: round-off variants, machine records, building and checking the file.

A CI machine of another CPU type rounds differently, and the difference grows chaotically through
training, so there the CI seed's score is a new draw, and the CPU type may also shift the score
distribution as a whole. The regeneration (`python -m ebgan_tf.tools.score_regression`) therefore
measures every spec over seeds *and* over `VARIANTS`: settings that change the arithmetic on the
baseline machine the way another CPU does. Each row of the file records its seed, variant (env
settings, threads) and machine; the tolerance comes from all rows by
`score_tolerance.tolerance_components`, and the file also keeps the scores of deliberately
degraded settings, which the tests check the tolerance still refuses.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
from pathlib import Path

from ebgan_tf.reporting import provenance
from ebgan_tf.score_tolerance import FLOOR_FACTOR, K_SIGMA, spread, tolerance_components

BASELINE_PATH = Path(__file__).with_name("score_regression_baseline.json")
SCHEMA_VERSION = 2
# The scores checked, and which way is better (Fréchet distance: lower).
SCORES = {"log_is": "higher", "i_prime": "higher", "frechet_distance": "lower"}
MIN_CI_VARIANT_SEEDS = 10  # Issue 13: 5 seeds under-estimated the spread.
MIN_CLASS_SEEDS = 3
# Environment variables that choose TensorFlow's CPU kernels; read only at TensorFlow start-up,
# so a variant is set in a fresh process, and the regeneration clears them from its children.
ROUNDOFF_ENV_KEYS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS")
@dataclasses.dataclass(frozen=True)
class Variant:
    """One way of running the same spec that changes the round-off, as another CPU type would."""

    env: dict
    threads: int
    stands_for: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


CI_VARIANT = "default"
VARIANTS: dict[str, Variant] = {
    CI_VARIANT: Variant({}, 1, "CI itself: oneDNN on, at the best instruction set of the CPU"),
    "isa_avx2": Variant({"ONEDNN_MAX_CPU_ISA": "AVX2"}, 1,
                        "a CPU without AVX-512 (e.g. Zen 3, older Intel)"),
    "isa_avx512_core": Variant({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, 1,
                               "AVX-512 without VNNI/BF16 (e.g. Skylake-SP)"),
    "no_onednn": Variant({"TF_ENABLE_ONEDNN_OPTS": "0"}, 1,
                         "TensorFlow's Eigen kernels (oneDNN off, or a non-x86 CPU)"),
    "threads_2": Variant({}, 2, "another split of the work between threads"),
}


def variant_env(variant: Variant, base: dict) -> dict:
    """`base` without any round-off setting, plus the variant's (a stray one would mislabel rows)."""
    env = {k: v for k, v in base.items() if k not in ROUNDOFF_ENV_KEYS}
    return {**env, **variant.env}


# --- the machine ---------------------------------------------------------------------------

def machine() -> dict:
    """`provenance.cpu_info()` plus the core count and the library versions that also decide the
    arithmetic."""
    import keras
    import numpy as np
    import tensorflow as tf

    return {**provenance.cpu_info(), "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__}


def describe_machine(m: dict) -> str:
    return (f"{m['model_name']} ({m.get('vendor', m.get('machine', '?'))} family "
            f"{m.get('family', '?')} model {m.get('model', '?')}; "
            f"{' '.join(m.get('flags', [])) or 'no AVX'}), {m.get('cores', '?')} cores, "
            f"TensorFlow {m.get('tensorflow', '?')}")


def describe_settings(env: dict, threads: int) -> str:
    """The round-off settings of a run, e.g. 'ONEDNN_MAX_CPU_ISA=AVX2, 1 thread'."""
    settings = [f"{k}={env[k]}" for k in ROUNDOFF_ENV_KEYS if env.get(k) is not None]
    return ", ".join(settings + [f"{threads} thread{'s' if threads != 1 else ''}"])


# --- the baseline file -----------------------------------------------------------------------

def class_rows(entry: dict, score: str) -> dict:
    """{arithmetic class: [score per distinct seed]} of a baseline entry's rows."""
    groups: dict = {}
    seen = set()
    for row in entry["rows"]:
        key = (row["arithmetic"], row["seed"])
        if key not in seen:  # A duplicate variant re-ran a seed its class already has.
            seen.add(key)
            groups.setdefault(row["arithmetic"], []).append(row[score])
    return groups


def arithmetic_classes(ci_rows: dict) -> dict:
    """{variant: class}: a variant whose CI-seed scores ({variant: {spec: scores}}) equal an
    earlier variant's bitwise, for every spec and score, is that variant's arithmetic."""
    classes: dict = {}
    for variant, scores in ci_rows.items():
        same = [v for v in classes if classes[v] == v and all(
            ci_rows[v][spec][s] == scores[spec][s] for spec in scores for s in SCORES)]
        classes[variant] = same[0] if same else variant
    return classes


_TOP_KEYS = {"schema_version", "tolerance_rule", "k_sigma", "floor_factor", "ci", "variants",
             "machines", "command", "wall_time_s", "ci_seconds_estimate", "configs", "degraded",
             "orderings"}
_ENTRY_KEYS = {"spec", "rows", "repeats", "spread", "components", "center", "tolerance",
               "ci_seed_scores"}
_ROW_KEYS = {"variant", "arithmetic", "seed", "env", "threads", "machine", "wall_time_s",
             *SCORES}


def validate_baseline(baseline: dict) -> None:
    """Raises ValueError naming the first thing wrong with a baseline dict."""
    missing = _TOP_KEYS - set(baseline)
    if missing:
        raise ValueError(f"baseline lacks {sorted(missing)}")
    if baseline["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"baseline schema_version {baseline['schema_version']}, "
                         f"expected {SCHEMA_VERSION}")
    ci_variant = baseline["ci"]["variant"]
    for name, entry in baseline["configs"].items():
        missing = _ENTRY_KEYS - set(entry)
        if missing:
            raise ValueError(f"baseline config {name} lacks {sorted(missing)}")
        if entry["spec"].get("name") != name:
            raise ValueError(f"baseline config {name} holds the spec of {entry['spec'].get('name')}")
        for row in entry["rows"]:
            if _ROW_KEYS - set(row) or row["machine"] not in baseline["machines"]:
                raise ValueError(f"baseline config {name}: row {row} lacks {sorted(_ROW_KEYS - set(row))} "
                                 "or names an unknown machine")
        if {r["variant"] for r in entry["rows"] if r["seed"] == baseline["ci"]["seed"]} != set(
                baseline["variants"]):
            raise ValueError(f"baseline config {name}: not every variant has a CI-seed row")
        groups = class_rows(entry, "log_is")
        if len(groups.get(ci_variant, [])) < MIN_CI_VARIANT_SEEDS:
            raise ValueError(f"baseline config {name}: {len(groups.get(ci_variant, []))} seeds of "
                             f"the CI variant, needs >= {MIN_CI_VARIANT_SEEDS}")
        if min(len(v) for v in groups.values()) < MIN_CLASS_SEEDS:
            raise ValueError(f"baseline config {name}: an arithmetic class has < "
                             f"{MIN_CLASS_SEEDS} seeds")
        if len(entry["repeats"]) < 2:
            raise ValueError(f"baseline config {name} has {len(entry['repeats'])} repeats of its "
                             "CI seed, needs >= 2")
        for score in SCORES:
            values = [entry["center"].get(score), entry["tolerance"].get(score)]
            if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
                raise ValueError(f"baseline config {name}: {score} center/tolerance not finite")
            if entry["tolerance"][score] <= 0:
                raise ValueError(f"baseline config {name}: {score} tolerance must be > 0")
            expected = tolerance_components(class_rows(entry, score), baseline["k_sigma"],
                                            baseline["floor_factor"])
            for key in ("center", "tolerance"):
                if not math.isclose(entry[key][score], expected[key], rel_tol=1e-9):
                    raise ValueError(f"baseline config {name}: {score} {key} {entry[key][score]} "
                                     f"is not the rule's {expected[key]}")
    for item in baseline["degraded"]:
        if {"spec", "overrides", "seed", "scores"} - set(item) or item["spec"] not in baseline["configs"]:
            raise ValueError(f"baseline degraded setting {item} is incomplete or names an unknown spec")
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


def build_baseline(runs: list[dict], repeats: list[dict], degraded: list[dict], specs: list[dict],
                   orderings, ci_seed: int, command: str, wall_time_s: float) -> dict:
    """The baseline dict from the regeneration's fresh-process results.

    runs: one per process, {"variant", "machine", "env", "threads", "scores": {spec: {seed:
    scores}}}, the CI seed of every variant among them; repeats: more processes of the CI variant
    at the CI seed (each must reproduce it bitwise); degraded: {"spec", "overrides", "seed",
    "scores"}, deliberately worse settings the tolerance must refuse; specs: `spec.to_dict()`s.
    """
    machines: dict = {}

    def machine_key(m: dict) -> str:
        text = json.dumps(m, sort_keys=True)
        for key, known in machines.items():
            if json.dumps(known, sort_keys=True) == text:
                return key
        machines[f"m{len(machines)}"] = m
        return f"m{len(machines) - 1}"

    ci_key = str(ci_seed)
    ci_rows = {v: r["scores"] for v in VARIANTS for r in runs
               if r["variant"] == v and ci_key in next(iter(r["scores"].values()))}
    ci_rows = {v: {spec: seeds[ci_key] for spec, seeds in scores.items()}
               for v, scores in ci_rows.items()}
    classes = arithmetic_classes(ci_rows)
    configs = {}
    for spec in specs:
        name = spec["name"]
        rows = [{"variant": r["variant"], "arithmetic": classes[r["variant"]], "seed": int(seed),
                 "env": r["env"], "threads": r["threads"], "machine": machine_key(r["machine"]),
                 **scores}
                for r in runs for seed, scores in r["scores"][name].items()]
        rows.sort(key=lambda row: (list(VARIANTS).index(row["variant"]), row["seed"]))
        entry = {"spec": spec, "rows": rows,
                 "repeats": [ci_rows[CI_VARIANT][name]] + [rep["scores"][name][ci_key]
                                                           for rep in repeats],
                 "ci_seed_scores": {s: ci_rows[CI_VARIANT][name][s] for s in SCORES}}
        entry["components"] = {s: tolerance_components(class_rows(entry, s)) for s in SCORES}
        entry["center"] = {s: entry["components"][s]["center"] for s in SCORES}
        entry["tolerance"] = {s: entry["components"][s]["tolerance"] for s in SCORES}
        entry["spread"] = {s: {"all": spread([y for v in class_rows(entry, s).values() for y in v]),
                               "by_variant": {v: spread([r[s] for r in rows if r["variant"] == v])
                                              for v in VARIANTS}}
                           for s in SCORES}
        configs[name] = entry
    ordering_records = []
    for better, worse, score in orderings:
        a = [y for v in class_rows(configs[better], score).values() for y in v]
        b = [y for v in class_rows(configs[worse], score).values() for y in v]
        margin = min(a) - max(b) if SCORES[score] == "higher" else min(b) - max(a)
        ordering_records.append({"better": better, "worse": worse, "score": score,
                                 "robust": margin > 0, "margin": margin})
    return {
        "schema_version": SCHEMA_VERSION,
        "tolerance_rule": (
            f"per score, over the rows of every seed and round-off variant (variants with "
            f"bitwise-equal CI-seed scores are one arithmetic class): center = mean of the class "
            f"means; tolerance = max({K_SIGMA:g} * s_pred, {FLOOR_FACTOR:g} * max|row - center|), "
            "s_pred^2 = s_between^2 + s_within^2 + var(center) (one-way random effects); "
            "checked two-sided: |score - center| <= tolerance"),
        "k_sigma": K_SIGMA, "floor_factor": FLOOR_FACTOR,
        "ci": {"seed": ci_seed, "variant": CI_VARIANT, "threads": VARIANTS[CI_VARIANT].threads},
        "variants": {v: {**VARIANTS[v].to_dict(), "arithmetic": classes.get(v)} for v in VARIANTS},
        "machines": machines,
        "command": command,
        "wall_time_s": round(wall_time_s, 1),
        "ci_seconds_estimate": round(sum(float(ci_rows[CI_VARIANT][s["name"]]["wall_time_s"])
                                         for s in specs), 1),
        "configs": configs,
        "degraded": degraded,
        "orderings": ordering_records,
    }
