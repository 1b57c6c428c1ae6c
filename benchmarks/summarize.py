"""Markdown tables of benchmarks/results/train_step_cpu.jsonl (what benchmarks/README.md shows).

    python benchmarks/summarize.py benchmarks/results/train_step_cpu.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def settings(r: dict) -> str:
    parts = [f"{r['threads']} thread{'s' if r['threads'] > 1 else ''}"]
    if r.get("inter_op_threads", r["threads"]) != r["threads"]:
        parts.append(f"{r['inter_op_threads']} inter-op")
    parts.append("XLA" if r["jit_compile_effective"] else "no XLA")
    parts.append("bf16 mixed" if r["precision"] == "mixed" else "fp32")
    if r["deterministic"]:
        parts.append("op determinism")
    if r["input"] == "constant":
        parts.append("one batch repeated")
    if r["steps_per_execution"] > 1:
        parts.append(f"{r['steps_per_execution']} steps/call")
    return ", ".join(parts)


def main(path: str):
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    steps = [r for r in rows if "images_per_sec" in r]
    profiles = [r for r in rows if "tf_matmul_ms" in r]
    load = lambda r: f"{r['load_average'][0]:.2f}"  # noqa: E731

    print("| Model, preset | TF settings | TF images/s (ms/step) | PyTorch eager images/s "
          "(ms/step) | TF / PyTorch | TF GFLOP/s | fraction of peak | load |")
    print("|---|---|---|---|---|---|---|---|")
    for r in steps:
        if not r["preset"].startswith("nLayerG="):
            torch = (f"{r['torch_images_per_sec']:.0f} ({r['torch_ms_per_step']:.1f})"
                     if "torch_images_per_sec" in r else "")
            ratio = f"**{r['tf_over_torch']:.2f}×**" if "tf_over_torch" in r else ""
            fraction = (f"{100 * r['fraction_of_peak']:.0f} % of "
                        f"{'bf16' if r['precision'] == 'mixed' else 'fp32'}"
                        if r.get("fraction_of_peak") else "")
            print(f"| {r['model']}, {r['preset']} | {settings(r)} | {r['images_per_sec']:.0f} "
                  f"({r['ms_per_step']:.1f}) | {torch} | {ratio} | {r['gflop_per_sec']:.0f} | "
                  f"{fraction} | {load(r)} |")
    print()
    peaks = [r["matmul_peak_gflops"] | {"threads": r["threads"]} for r in steps
             if r.get("matmul_peak_gflops")]
    for threads in sorted({p["threads"] for p in peaks}):
        fp32 = max(p["float32"] for p in peaks if p["threads"] == threads)
        bf16 = max(p["bfloat16"] for p in peaks if p["threads"] == threads)
        print(f"- matmul peak, {threads} thread(s), 2048³: fp32 {fp32:.0f} GFLOP/s, "
              f"bf16 {bf16:.0f} GFLOP/s (best of the runs)")
    print()
    print("| Preset, threads | GFLOP/step | TF matmuls alone (GFLOP/s) | TF step | "
          "PyTorch matmuls alone (GFLOP/s) | PyTorch step | load |")
    print("|---|---|---|---|---|---|---|")
    for p in profiles:
        match = [r for r in steps if r["preset"] == p["preset"] and r["threads"] == p["threads"]
                 and r["model"] == p["model"] and r["deterministic"] == p["deterministic"]
                 and r["precision"] == "float32"]
        tf_step = ", ".join(f"{r['ms_per_step']:.1f} ms ({settings(r)})" for r in match)
        torch_step = ", ".join(f"{r['torch_ms_per_step']:.1f} ms" for r in match
                               if "torch_ms_per_step" in r)
        torch_mm = (f"{p['torch_matmul_ms']:.1f} ms ({p['torch_matmul_gflop_per_sec']:.0f})"
                    if "torch_matmul_ms" in p else "")
        det = ", op determinism" if p["deterministic"] else ""
        print(f"| {p['preset']}, {p['threads']}{det} | {p['gflop_per_step']:.2f} | "
              f"{p['tf_matmul_ms']:.1f} ms ({p['tf_matmul_gflop_per_sec']:.0f}) | {tf_step} | "
              f"{torch_mm} | {torch_step} | {load(p)} |")
    print()
    grid_rows = [r for r in steps if r["preset"].startswith("nLayerG=")]
    if grid_rows:
        print("| Table 1 configuration | model | settings | ms/step | GFLOP/step | GFLOP/s |")
        print("|---|---|---|---|---|---|")
        for r in grid_rows:
            print(f"| {r['preset']} | {r['model']} | {settings(r)} | {r['ms_per_step']:.2f} | "
                  f"{r['gflop_per_step']:.2f} | {r['gflop_per_sec']:.0f} |")
    for p in profiles:
        if p.get("torch_profile_top"):
            print(f"\nPyTorch's own profile of its step ({p['preset']}, {p['threads']} thread(s)), "
                  "top operators by self time, ms per step: " + ", ".join(
                      f"{o['op']} {o['self_cpu_ms_per_step']:.1f}" for o in p["torch_profile_top"][:8]))


if __name__ == "__main__":
    main(sys.argv[1])
