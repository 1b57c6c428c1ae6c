"""Where a train step's time goes: its matrix products alone versus the whole step, TF and PyTorch.

Replays exactly the dense-layer products one step computes (the shapes `step_cost.train_step_flops`
counts: forward, weight-gradient and input-gradient products of every layer) as one graph in
TensorFlow and as a loop of `torch.mm` in PyTorch, at the step's batch size and thread count. The
gap between that and the measured step (benchmarks/train_step.py) is everything that is not a
matmul: batch norm, activations, losses, the Adam updates, and the framework's dispatch. With
`--torch_profile`, also prints PyTorch's own operator table for its real step.

    flock /tmp/ebgan_cpu.lock python benchmarks/step_profile.py --preset=fig9 --threads=1 --json
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from absl import app, flags  # noqa: E402

flags.DEFINE_enum("model", "ebgan_pt", ["ebgan", "ebgan_pt", "gan"], "Model kind.")
flags.DEFINE_string("preset", "fig9", "As in train_step.py.")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_integer("threads", 1, "Intra-op threads (TF and torch).")
flags.DEFINE_bool("deterministic", False, "tf.config.experimental.enable_op_determinism().")
flags.DEFINE_integer("repeats", 20, "Timed replays of one step's products.")
flags.DEFINE_bool("torch", True, "Also replay the products with torch.mm.")
flags.DEFINE_bool("torch_profile", False, "Print torch.profiler's operator table of its step.")
flags.DEFINE_bool("json", False, "Print one JSON line.")
FLAGS = flags.FLAGS


def step_products(cfg):
    """(m, k, n, transpose_a, transpose_b) of every matmul one step runs (see step_cost)."""
    from ebgan_tf import step_cost

    b = cfg.batch_size
    g_layers, d_layers = step_cost.dense_shapes(cfg)
    forward = lambda i, o: (b, i, o, False, False)  # noqa: E731  x[B,I] @ W[I,O]
    wgrad = lambda i, o: (i, b, o, True, False)  # noqa: E731       x^T[I,B] @ dy[B,O]
    igrad = lambda i, o: (b, o, i, False, True)  # noqa: E731       dy[B,O] @ W^T[O,I]
    products = []
    products += [forward(i, o) for i, o in g_layers]
    for _ in range(2):  # D's update: real batch, fake batch
        products += [forward(i, o) for i, o in d_layers] + [wgrad(i, o) for i, o in d_layers]
        products += [igrad(i, o) for i, o in d_layers[1:]]
    products += [forward(i, o) for i, o in d_layers] + [igrad(i, o) for i, o in d_layers]
    products += [wgrad(i, o) for i, o in g_layers] + [igrad(i, o) for i, o in g_layers[1:]]
    if cfg.effective_pt_weight:
        products += [(b, cfg.size_d, b, False, True)] * 3
    return products


def _operands(m, k, n, ta, tb):
    return ((k, m) if ta else (m, k)), ((n, k) if tb else (k, n))


def tf_products_seconds(products, repeats):
    import tensorflow as tf

    operands = [tuple(tf.random.normal(s) for s in _operands(*p)) for p in products]

    @tf.function
    def replay(operands, scale):
        total = tf.zeros([])
        for (a, b), (_, _, _, ta, tb) in zip(operands, products):
            total += tf.matmul(a * scale, b, transpose_a=ta, transpose_b=tb)[0, 0]
        return total

    replay(operands, tf.constant(1.0)).numpy()
    start = time.perf_counter()
    for r in range(repeats):
        replay(operands, tf.constant(1.0 + 1e-3 * r)).numpy()  # a new scale: nothing is reused
    return (time.perf_counter() - start) / repeats


def torch_products_seconds(products, repeats):
    import torch

    operands = [tuple(torch.randn(*s) for s in _operands(*p)) for p in products]

    def replay():
        for (a, b), (_, _, _, ta, tb) in zip(operands, products):
            torch.mm(a.t() if ta else a, b.t() if tb else b)

    replay()
    start = time.perf_counter()
    for _ in range(repeats):
        replay()
    return (time.perf_counter() - start) / repeats


def main(argv):
    del argv
    import tensorflow as tf
    from ebgan_tf import step_cost

    try:
        cfg = step_cost.config_from_spec(FLAGS.preset, FLAGS.model, FLAGS.batch_size)
    except ValueError as e:
        sys.exit(f"error: --preset: {e}")
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
    if FLAGS.deterministic:
        tf.config.experimental.enable_op_determinism()
    tf.random.set_seed(0)  # Op determinism refuses unseeded random ops.
    products = step_products(cfg)
    flops = sum(2 * m * k * n for m, k, n, _, _ in products)
    assert flops == step_cost.train_step_flops(cfg), "replay and FLOP count disagree"
    result = {"model": FLAGS.model, "preset": FLAGS.preset, "batch_size": cfg.batch_size,
              "threads": FLAGS.threads, "deterministic": FLAGS.deterministic, "products": len(products), "gflop_per_step": flops / 1e9,
              "tf_matmul_ms": 1e3 * tf_products_seconds(products, FLAGS.repeats)}
    result["tf_matmul_gflop_per_sec"] = flops / result["tf_matmul_ms"] / 1e6
    if FLAGS.torch:
        import torch
        import torch_train_step

        torch.set_num_threads(FLAGS.threads)
        result["torch_matmul_ms"] = 1e3 * torch_products_seconds(products, FLAGS.repeats)
        result["torch_matmul_gflop_per_sec"] = flops / result["torch_matmul_ms"] / 1e6
        if FLAGS.torch_profile:
            step = torch_train_step.TorchStep(cfg, threads=FLAGS.threads)
            step.run(5)
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                step.run(10)
            table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
            print(table, file=sys.stderr)
            result["torch_profile_top"] = [
                {"op": e.key, "self_cpu_ms_per_step": e.self_cpu_time_total / 1e3 / 10,
                 "calls_per_step": e.count / 10}
                for e in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:12]]
    result["load_average"] = list(os.getloadavg())
    if FLAGS.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    app.run(main)
