"""Trial packing: throughput of K packed trials against one unpacked trial, and a grid subset
trained both ways through the real grid code.

    flock /tmp/ebgan_cpu.lock python benchmarks/packing.py --preset=smallest --pack_sizes=1,2,4,8,12,24 --json
    flock /tmp/ebgan_cpu.lock python benchmarks/packing.py --grid_subset --json

`--preset` (smallest | fig9 | largest, or Table 1 settings as in benchmarks/train_step.py) prints
one line per pack size: `pack_size`, `images_per_sec` (summed over the K trials),
`per_trial_images_per_sec` (the same divided by K) and `speedup` (the summed throughput over one
unpacked model's, timed in the same run), with and without XLA (`--jit_compile`). Trials differ in
learning rate and, for GANs, optimizer, as a grid's do; one pack trains on one thread, as one grid
trial does.

`--grid_subset` runs the 24 GAN trials of one cpu-scale architecture (12 optimizer settings x
dropoutD, nLayerG = nLayerD = 2) at the cpu budget through `engine.run_all` with `pack=False`,
then with `pack=True`, on the same executor, and prints `trials`, `unpacked_s`, `packed_s` and
`speedup`: everything a grid trial costs (build, trace, train, score, write) is in both.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

flags.DEFINE_string("preset", "smallest", "smallest | fig9 | largest | nLayerG=..,nLayerD=..,"
                    "sizeG=..,sizeD=..")
flags.DEFINE_enum("model", "gan", ["ebgan", "ebgan_pt", "gan"], "Model kind of --preset.")
flags.DEFINE_list("pack_sizes", ["1", "2", "4", "8", "12", "24"], "Pack sizes K to time.")
flags.DEFINE_integer("steps", 100, "Timed steps per block (also steps per call into TF).")
flags.DEFINE_integer("repeats", 3, "Timed blocks; the median is reported.")
flags.DEFINE_list("jit_compile", ["0", "1"], "Time without (0) and with (1) XLA.")
flags.DEFINE_bool("grid_subset", False, "Time the 24 GAN trials of one architecture instead.")
flags.DEFINE_enum("executor", "ray", ["ray", "inline"], "--grid_subset: where trials run.")
flags.DEFINE_integer("max_pack", 12, "--grid_subset: trials per pack (12: one pack per core).")
flags.DEFINE_string("data_dir", os.environ.get("EBGAN_TF_DATA_DIR"), "--grid_subset: MNIST.")
flags.DEFINE_bool("json", False, "Print one JSON line per measurement.")
FLAGS = flags.FLAGS


def _config():
    from ebgan_tf import step_cost

    if FLAGS.preset == "smallest":
        return step_cost.config_from_spec("nLayerG=2,nLayerD=2,sizeG=400,sizeD=128", FLAGS.model,
                                          64)
    return step_cost.config_from_spec(FLAGS.preset, FLAGS.model, 64)


def _pack_configs(cfg, k: int) -> list:
    """K trials as a grid's: learning rates 1e-2, 1e-3, 1e-4 and, for GANs, both optimizers."""
    optimizers = [("adam", "adam"), ("sgd", "adam"), ("adam", "sgd"), ("sgd", "sgd")]
    configs = []
    for i in range(k):
        lr = (1e-2, 1e-3, 1e-4)[i % 3]
        d, g = optimizers[(i // 3) % 4] if not cfg.is_ebgan else ("adam", "adam")
        configs.append(cfg.replace(lr=lr if not cfg.is_ebgan else 1e-3, optim_d=d, optim_g=g,
                                   dropout_d=bool(i // 12 % 2)))
    return configs


def _seconds_per_step(model, stream) -> float:
    import statistics

    model.fit(stream, steps_per_epoch=FLAGS.steps, epochs=1, verbose=0)  # trace, warm up
    times = []
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        model.fit(stream, steps_per_epoch=FLAGS.steps, epochs=1, verbose=0)
        times.append(time.perf_counter() - start)
    return statistics.median(times) / FLAGS.steps


def time_pack_sizes() -> list[dict]:
    import keras
    import tensorflow as tf

    from ebgan_tf import models
    from ebgan_tf.data import streams
    from ebgan_tf.data.mnist import synthetic_images
    from ebgan_tf.packed import PackedAdversarialModel

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    cfg = _config()
    images = tf.constant(synthetic_images(60_000 // 4, 32, 32, 1, seed=0))
    stream = streams.array_stream(images, 64, seed=0, noise_dim=cfg.noise_dim)
    keras.utils.set_random_seed(0)
    unpacked = models.build_model(cfg, steps_per_execution=FLAGS.steps)
    base = 64 / _seconds_per_step(unpacked, stream)
    lines = [{"preset": FLAGS.preset, "model": cfg.kind, "pack_size": 0, "jit_compile": False,
              "images_per_sec": round(base, 1), "per_trial_images_per_sec": round(base, 1),
              "speedup": 1.0, "what": "one unpacked model (the grid's trial)"}]
    for jit in (bool(int(j)) for j in FLAGS.jit_compile):
        for k in (int(s) for s in FLAGS.pack_sizes):
            model = PackedAdversarialModel(_pack_configs(cfg, k))
            model.compile(jit_compile=jit, steps_per_execution=FLAGS.steps)
            rate = k * 64 / _seconds_per_step(model, stream)
            lines.append({"preset": FLAGS.preset, "model": cfg.kind, "pack_size": k,
                          "jit_compile": jit, "images_per_sec": round(rate, 1),
                          "per_trial_images_per_sec": round(rate / k, 1),
                          "speedup": round(rate / base, 2)})
            del model
    return lines


def time_grid_subset() -> dict:
    from ebgan_tf.experiments import mnist_grid
    from ebgan_tf.runs import engine

    scale = mnist_grid.SCALES["cpu"]
    scale = scale.replace(subset={**scale.subset, "n_layer_g": (2,), "n_layer_d": (2,)})
    experiment = mnist_grid.GridExperiment(scale)
    trials = [t for t in experiment.specs() if t.config.kind == "gan"]
    from ebgan_tf.experiments.mnist_trials import TrialSet

    subset = TrialSet(tuple(trials))
    runtime = engine.Runtime(data_dir=FLAGS.data_dir, save_generators="none")
    seconds = {}
    for pack in (False, True):
        execution = engine.Execution(executor=FLAGS.executor, pack=pack, max_pack=FLAGS.max_pack)
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            engine.run_all(subset, folder, runtime, execution, print_fn=lambda line: None)
            seconds[pack] = time.perf_counter() - start
    return {"trials": len(trials), "executor": FLAGS.executor, "max_pack": FLAGS.max_pack,
            "steps": scale.train_steps, "unpacked_s": round(seconds[False], 1),
            "packed_s": round(seconds[True], 1),
            "speedup": round(seconds[False] / seconds[True], 2)}


def main(argv):
    del argv
    from ebgan_tf.reporting import provenance

    lines = [time_grid_subset()] if FLAGS.grid_subset else time_pack_sizes()
    hardware = provenance.cpu_description()
    for line in lines:
        line["hardware"] = hardware
        print(json.dumps(line) if FLAGS.json else
              "  ".join(f"{k}={v}" for k, v in line.items() if k != "hardware"))
    sys.stdout.flush()


if __name__ == "__main__":
    app.run(main)
