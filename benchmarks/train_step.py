"""Train-step throughput of the MNIST-study models (EBGAN, EBGAN-PT, GAN), through `fit()`.

Warms up, then times `--steps` train steps of the real model class (`models.build_model`), fed by
the suite's input pipeline (`data.streams.array_stream`, as a grid trial is), `--repeats` times; prints
images/s, the step's matmul FLOP count, the machine's measured matmul peak and the fraction of it
reached. With `--torch`, a plain PyTorch eager implementation of the same step
(benchmarks/torch_train_step.py) is timed in the same process, alternating with TensorFlow block
by block, and the ratio is printed.

    flock /tmp/ebgan_cpu.lock python benchmarks/train_step.py --model=ebgan_pt --preset=fig9 --torch
    flock /tmp/ebgan_cpu.lock python benchmarks/train_step.py --preset=largest --json
    python benchmarks/train_step.py --preset=nLayerG=2,nLayerD=2,sizeG=400,sizeD=128 --json

`--preset` is a named configuration of configs.mlp.PRESETS (fig9, fig4_ebgan, ...), `largest` (the most
expensive Table 1 configuration) or Table 1 settings under the paper's names, comma-separated.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # torch_train_step, beside this file.

from absl import app, flags  # noqa: E402

flags.DEFINE_enum("model", "ebgan_pt", ["ebgan", "ebgan_pt", "gan"], "Model kind.")
flags.DEFINE_string("preset", "fig9", "fig9 | <configs.mlp.PRESETS name> | largest | "
                    "nLayerG=..,nLayerD=..,sizeG=..,sizeD=..[,dropoutD=0|1].")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_integer("steps", 50, "Timed steps per block.")
flags.DEFINE_integer("warmup_steps", 20, "Untimed steps first (tracing, graph optimisation).")
flags.DEFINE_integer("repeats", 3, "Timed blocks (alternating with PyTorch under --torch); "
                     "the median is reported.")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the train step.")
flags.DEFINE_integer("threads", 0, "TF (and torch) intra-op threads; 0 = all cores.")
flags.DEFINE_integer("inter_op_threads", None, "TF inter-op threads (default: --threads).")
flags.DEFINE_enum("precision", "float32", ["float32", "mixed"],
                  "mixed = bfloat16 compute on CPU/TPU, float16 on GPU.")
flags.DEFINE_bool("deterministic", False, "tf.config.experimental.enable_op_determinism() "
                  "(as grid trials run; it makes Keras drop jit_compile).")
flags.DEFINE_enum("input", "pipeline", ["pipeline", "constant"],
                  "pipeline: data.streams.array_stream over 60,000 synthetic 32x32 images (a grid "
                  "trial's pipeline); constant: one batch repeated (the model alone).")
flags.DEFINE_integer("steps_per_execution", 1, "Keras steps_per_execution.")
flags.DEFINE_integer("num_images", 60_000, "Images in the --input=pipeline data set.")
flags.DEFINE_bool("peak", True, "Measure the fp32 and bf16 matmul peak.")
flags.DEFINE_float("peak_seconds", 1.5, "Seconds of matmuls per peak measurement.")
flags.DEFINE_bool("torch", False, "Alternate with the PyTorch eager implementation.")
flags.DEFINE_bool("json", False, "Print one JSON line with every number.")
FLAGS = flags.FLAGS

class _BlockTimer:
    """Wall time of each Keras epoch; the epoch end fetches the metrics, so the step has finished."""

    def __init__(self):
        import keras

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(cb, epoch, logs=None):
                cb.start = time.perf_counter()

            def on_epoch_end(cb, epoch, logs=None):
                self.seconds.append(time.perf_counter() - cb.start)
                self.logs = logs

        self.seconds, self.logs, self.callback = [], None, Callback()


def main(argv):
    del argv
    from ebgan_tf import step_cost

    try:
        cfg = step_cost.config_from_spec(FLAGS.preset, FLAGS.model, FLAGS.batch_size)
    except ValueError as e:
        sys.exit(f"error: --preset: {e}")
    import numpy as np
    import tensorflow as tf

    if FLAGS.threads:
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    if FLAGS.threads or FLAGS.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(FLAGS.inter_op_threads or FLAGS.threads)
    if FLAGS.deterministic:
        tf.config.experimental.enable_op_determinism()
    import keras
    from ebgan_tf import distribute, models
    from ebgan_tf.data import streams
    from ebgan_tf.data.mnist import synthetic_images
    from ebgan_tf.reporting import provenance

    keras.utils.set_random_seed(0)
    policy = distribute.set_mixed_precision(FLAGS.precision == "mixed")
    model = models.build_model(cfg, jit_compile=FLAGS.jit_compile)
    if FLAGS.steps_per_execution > 1:
        model.compile(model.d_optimizer, model.g_optimizer, jit_compile=FLAGS.jit_compile,
                      steps_per_execution=FLAGS.steps_per_execution)
    pixels = cfg.image_size
    if FLAGS.input == "pipeline":
        images = synthetic_images(FLAGS.num_images, pixels, pixels)
        dataset = streams.array_stream(images, cfg.batch_size, seed=0, noise_dim=cfg.noise_dim)
    else:
        rng = np.random.default_rng(0)
        batch = (tf.constant(synthetic_images(cfg.batch_size, pixels, pixels)),
                 tf.constant(rng.standard_normal((cfg.batch_size, cfg.noise_dim), np.float32)))
        dataset = tf.data.Dataset.from_tensors(batch).repeat()

    torch_step = None
    if FLAGS.torch:
        import torch_train_step

        torch_step = torch_train_step.TorchStep(cfg, threads=FLAGS.threads or os.cpu_count())
        torch_step.run(FLAGS.warmup_steps)

    timer = _BlockTimer()
    steps = FLAGS.steps
    torch_seconds = []

    class Alternate(keras.callbacks.Callback):
        # Under --torch, a PyTorch block runs after each timed TF block, between Keras epochs.
        def on_epoch_end(cb, epoch, logs=None):
            if torch_step is not None and epoch > 0:
                torch_seconds.append(torch_step.run(steps))

    # Warm-up block first: `warmup_steps` steps, untimed.
    model.fit(dataset, steps_per_epoch=max(FLAGS.warmup_steps, FLAGS.steps_per_execution),
              epochs=1, verbose=0)
    # One fit() call (one input iterator, as a grid trial has), one Keras epoch per block; the
    # first epoch of a fit() includes the iterator's start-up and is not counted.
    model.fit(dataset, steps_per_epoch=steps, epochs=1 + FLAGS.repeats, verbose=0,
              callbacks=[timer.callback, Alternate()])
    tf_blocks = timer.seconds[1:]
    tf_step_s = statistics.median(tf_blocks) / steps

    flops = step_cost.train_step_flops(cfg)
    peaks = {}
    if FLAGS.peak:
        peaks = {dtype: step_cost.measure_matmul_gflops(dtype, min_seconds=FLAGS.peak_seconds)
                 for dtype in ("float32", "bfloat16")}
    peak_dtype = "bfloat16" if FLAGS.precision == "mixed" else "float32"
    result = {
        "model": FLAGS.model, "preset": FLAGS.preset, "batch_size": cfg.batch_size,
        "config": {k: v for k, v in cfg.paper_settings().items()
                   if k in step_cost.ARCHITECTURE_SETTINGS},
        "steps": steps, "repeats": FLAGS.repeats,
        "jit_compile": FLAGS.jit_compile, "jit_compile_effective": bool(model.jit_compile),
        "precision": FLAGS.precision, "dtype_policy": policy,
        "deterministic": FLAGS.deterministic, "input": FLAGS.input, "num_images": FLAGS.num_images,
        "steps_per_execution": FLAGS.steps_per_execution,
        "threads": FLAGS.threads or os.cpu_count(),
        "inter_op_threads": FLAGS.inter_op_threads or FLAGS.threads or os.cpu_count(),
        "ms_per_step": 1e3 * tf_step_s, "ms_per_step_blocks": [1e3 * s / steps for s in tf_blocks],
        "images_per_sec": cfg.batch_size / tf_step_s,
        "gflop_per_step": flops / 1e9, "gflop_per_sec": flops / tf_step_s / 1e9,
        "matmul_peak_gflops": peaks,
        "fraction_of_peak": (step_cost.fraction_of_peak(flops, tf_step_s, peaks[peak_dtype])
                             if peaks else None),
        "final_metrics": {k: float(v) for k, v in (timer.logs or {}).items()},
        "load_average": list(os.getloadavg()),
    }
    if torch_step is not None:
        torch_step_s = statistics.median(torch_seconds) / steps
        result.update({
            "torch_version": torch_step.version, "torch_ms_per_step": 1e3 * torch_step_s,
            "torch_ms_per_step_blocks": [1e3 * s / steps for s in torch_seconds],
            "torch_images_per_sec": cfg.batch_size / torch_step_s,
            "tf_over_torch": torch_step_s / tf_step_s})
    result["provenance"] = provenance.provenance(precision=FLAGS.precision)
    if FLAGS.json:
        print(json.dumps(result))
        return
    print(f"{FLAGS.model} {FLAGS.preset} batch {cfg.batch_size} ({FLAGS.precision}, "
          f"jit_compile={result['jit_compile_effective']}, threads={result['threads']}): "
          f"{result['images_per_sec']:.0f} images/s, {result['ms_per_step']:.2f} ms/step, "
          f"{flops / 1e9:.2f} GFLOP/step = {result['gflop_per_sec']:.0f} GFLOP/s")
    if peaks:
        print(f"matmul peak: fp32 {peaks['float32']:.0f} GFLOP/s, bf16 {peaks['bfloat16']:.0f} "
              f"GFLOP/s; the step reaches {100 * result['fraction_of_peak']:.0f} % of the "
              f"{peak_dtype} peak")
    if torch_step is not None:
        print(f"PyTorch {torch_step.version} eager: {result['torch_images_per_sec']:.0f} images/s, "
              f"{result['torch_ms_per_step']:.2f} ms/step; TF/PyTorch = "
              f"{result['tf_over_torch']:.2f}x")
    print(f"load average {result['load_average']}")


if __name__ == "__main__":
    app.run(main)
