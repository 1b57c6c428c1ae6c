"""Where and how a result was made (git commit, library versions, hardware, command), and the log
of every invocation on an output folder (`runs.jsonl`)."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path


def append_run_log(output_dir: str | os.PathLike, record: dict) -> list[dict]:
    """Appends one invocation to `<output_dir>/runs.jsonl`; returns them all, oldest first."""
    path = Path(output_dir) / "runs.jsonl"
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def provenance(wall_time_s: float | None = None, **extra) -> dict:
    """Where and how a result was made: git commit, library versions, hardware, time."""
    import keras
    import tensorflow as tf

    try:
        repo = Path(__file__).resolve().parents[2]
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        commit = (commit + ("+dirty" if dirty else "")) or "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    gpus = tf.config.list_physical_devices("GPU")
    info = {
        "git_commit": commit,
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "hardware": f"{cpu_description()}, {os.cpu_count()} CPU cores"
                    + (f", {len(gpus)} GPU(s)" if gpus else ", no GPU"),
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
    }
    if wall_time_s is not None:
        info["wall_time"] = f"{wall_time_s / 60:.1f} min"
    info.update({k: str(v) for k, v in extra.items()})
    return info


# CPU flags that change which kernels oneDNN and Eigen pick, hence round-off and speed.
# Instruction-set flags that decide which kernels oneDNN and Eigen can pick (hence the round-off).
ARITHMETIC_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
                    "avx_vnni", "amx_tile", "amx_bf16", "amx_int8")


def cpu_info(cpuinfo_text: str | None = None) -> dict:
    """vendor, model name, family, model and the arithmetic-relevant flags of the first CPU in
    /proc/cpuinfo (or in `cpuinfo_text`)."""
    info = {"machine": platform.machine(), "model_name": platform.processor() or "unknown"}
    if cpuinfo_text is None:
        try:
            cpuinfo_text = Path("/proc/cpuinfo").read_text()
        except OSError:
            return info
    fields: dict = {}
    for line in cpuinfo_text.splitlines():
        if not line.strip():
            if fields:
                break  # The first processor's block describes them all.
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    info.update(vendor=fields.get("vendor_id", "unknown"),
                model_name=fields.get("model name", info["model_name"]),
                family=fields.get("cpu family", "?"), model=fields.get("model", "?"),
                flags=[f for f in ARITHMETIC_FLAGS if f in flags])
    return info


def cpu_description() -> str:
    """One line naming the CPU: "AMD EPYC (family 25, model 17; avx2 avx512f avx512_bf16)"."""
    info = cpu_info()
    if "family" not in info:
        return f"{info['machine']} {info['model_name']}"
    return (f"{info['model_name']} (family {info['family']}, model {info['model']}; "
            f"{' '.join(info['flags']) or 'no AVX'})")
