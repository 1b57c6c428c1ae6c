"""Train-step throughput (images/s) of the convolutional DCGAN, EBGAN and EBGAN-PT models.

One step is one D update and one G update on a batch (what `fit()` runs), on synthetic images
held in memory, so the number measures the models, not the input pipeline. The first steps
(tracing, graph optimisation) are excluded.

    flock /tmp/ebgan_cpu.lock python benchmarks/conv_throughput.py            # 64×64, batch 64
    flock /tmp/ebgan_cpu.lock python benchmarks/conv_throughput.py --imagenet # + 128 and 256
"""

from __future__ import annotations

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

flags.DEFINE_bool("imagenet", False, "Also time the ImageNet 128×128 and 256×256 models.")
flags.DEFINE_integer("steps", 5, "Timed steps per model (after the warm-up).")
flags.DEFINE_integer("warmup_steps", 2, "Untimed steps first (tracing, graph optimisation).")
flags.DEFINE_bool("mixed_precision", False, "bfloat16 compute on CPU, float16 on GPU.")
flags.DEFINE_list("models", ["dcgan", "ebgan", "ebgan_pt"], "Kinds to time.")
flags.DEFINE_string("output", None, "Also write the results as JSON to this file.")
FLAGS = flags.FLAGS

# (figure whose architecture is timed, batch size)
CASES = [("fig5_fig12_lsun", 64)]
IMAGENET_CASES = [("fig7_imagenet128", 16), ("fig8_imagenet256", 8)]


def time_model(figure: str, kind: str, batch_size: int, steps: int, warmup: int) -> dict:
    import numpy as np
    import tensorflow as tf
    from ebgan_tf import distribute, models, step_cost
    from ebgan_tf.experiments import conv_figures, conv_run

    distribute.set_mixed_precision(FLAGS.mixed_precision)
    (run,) = conv_figures.ConvFigures(figure, "paper", kinds=(kind,)).specs()
    cfg = run.config.replace(batch_size=batch_size)
    model = models.build_model(cfg)
    size = cfg.image_size
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(-1, 1, (batch_size, size, size, 3)).astype(np.float32))
    noise = tf.constant(conv_run.sample_noise(cfg, batch_size))
    ds = tf.data.Dataset.from_tensors((images, noise)).repeat()
    model.fit(ds, steps_per_epoch=warmup, epochs=1, verbose=0, shuffle=False)
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    seconds = (time.perf_counter() - start) / steps
    flops = step_cost.conv_train_step_flops(cfg)
    return {"model": conv_figures.KIND_TITLES[kind], "size": size, "batch": batch_size,
            "s_per_step": seconds, "images_per_s": batch_size / seconds,
            "gflop_per_step": flops / 1e9, "gflop_per_s": flops / 1e9 / seconds}


def main(argv):
    del argv
    import tensorflow as tf
    from ebgan_tf.atomic_files import write_text_atomic
    from ebgan_tf.reporting import provenance

    cases = CASES + (IMAGENET_CASES if FLAGS.imagenet else [])
    rows = []
    for figure, batch in cases:
        for kind in FLAGS.models:
            row = time_model(figure, kind, batch, FLAGS.steps, FLAGS.warmup_steps)
            rows.append(row)
            print(f"{row['model']:9s} {row['size']:4d}px batch {row['batch']:3d}: "
                  f"{row['images_per_s']:7.2f} images/s  ({row['s_per_step']:.2f} s/step, "
                  f"{row['gflop_per_s']:.0f} GFLOP/s)", flush=True)
    info = provenance.provenance(
        precision="mixed" if FLAGS.mixed_precision else "float32",
        threads=f"intra-op {tf.config.threading.get_intra_op_parallelism_threads()} "
                "(0 = all cores)")
    if FLAGS.output:
        write_text_atomic(FLAGS.output, json.dumps({"results": rows, "provenance": info}, indent=1))


if __name__ == "__main__":
    app.run(main)
