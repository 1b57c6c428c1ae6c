#!/usr/bin/env bash
# The measurements behind benchmarks/README.md, one JSON line each, into $1
# (default benchmarks/results/train_step_cpu.jsonl). Run under the machine's lock:
#   flock /tmp/ebgan_cpu.lock benchmarks/run_train_step_cpu.sh
# About 9 minutes on 2 cores. Nothing else should run meanwhile.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-benchmarks/results/train_step_cpu.jsonl}"
B="python benchmarks/train_step.py --json"
P="python benchmarks/step_profile.py --json"
run() { echo "== $* (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2; "$@" | tail -1 >> "$OUT"; }

# Where the time goes: the step's matmuls alone (TF and torch), torch's operator table.
for threads in 1 2; do
  run $P --preset=fig9 --threads=$threads --torch_profile
done
run $P --preset=fig9 --threads=1 --deterministic --torch=false
run $P --preset=largest --threads=2
# Fig. 9 EBGAN-PT, TF alternating with PyTorch eager in the same process.
for threads in 1 2; do
  run $B --preset=fig9 --model=ebgan_pt --threads=$threads --torch
  run $B --preset=fig9 --model=ebgan_pt --threads=$threads --jit_compile --torch
done
run $B --preset=fig9 --model=ebgan_pt --threads=2 --jit_compile --precision=mixed --torch
run $B --preset=fig9 --model=gan --threads=2 --jit_compile --torch --repeats=2
# As a grid trial runs (op determinism, one thread, a metrics row per call).
run $B --preset=fig9 --model=ebgan_pt --threads=1 --deterministic --steps_per_execution=50
# The largest Table 1 configuration: fraction of peak.
L="--preset=largest --model=ebgan_pt --threads=2 --steps=20 --warmup_steps=10"
run $B $L
run $B $L --inter_op_threads=1
run $B $L --jit_compile --torch
run $B $L --jit_compile --precision=mixed
# Per-step cost across Table 1 (the paper-scale estimate), as trials would run it.
for spec in nLayerG=2,nLayerD=2,sizeG=400,sizeD=128 nLayerG=5,nLayerD=5,sizeG=400,sizeD=128 \
            nLayerG=4,nLayerD=3,sizeG=800,sizeD=256 nLayerG=3,nLayerD=4,sizeG=1600,sizeD=512 \
            nLayerG=3,nLayerD=2,sizeG=3200,sizeD=1024; do
  S="--preset=$spec --steps_per_execution=40 --steps=40 --warmup_steps=40 --repeats=2 --peak=false"
  run $B $S --model=gan --threads=1 --deterministic
  run $B $S --model=gan --threads=2 --jit_compile
  run $B $S --model=ebgan --threads=1 --deterministic
done
echo "done: $OUT" >&2
