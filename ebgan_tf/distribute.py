"""Distribution strategies and mixed precision, chosen by name from the command line.

`--strategy`:
  default       TF's default strategy (one device, no wrapping).
  one_device    OneDeviceStrategy on the first GPU if there is one, else the CPU.
  mirrored      MirroredStrategy over all local GPUs (or logical CPUs): synchronous data parallel.
  multi_worker  MultiWorkerMirroredStrategy; workers are described by the TF_CONFIG env variable.
  tpu           TPUStrategy; `tpu_address` names the TPU ("" = the local/colab TPU).

`--mixed_precision`: bfloat16 compute on CPU/TPU (same exponent range as float32, so no loss
scaling), float16 with dynamic loss scaling on GPU. Variables, losses, energies and logits stay
float32 (the networks' output layers are float32).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from ebgan_tf.runs.execute import STRATEGIES


def configure_logical_cpus(count: int) -> None:
    """Splits the CPU into `count` logical devices, so MirroredStrategy can run on a laptop.

    Must run before TensorFlow initialises its devices (before any op runs).
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])


def make_strategy(name: str = "default", tpu_address: str | None = None) -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = None if gpus else [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"--strategy must be one of {STRATEGIES}, got {name!r}")


def set_mixed_precision(enabled: bool) -> str:
    """Sets Keras's global dtype policy; returns its name."""
    if not enabled:
        policy = "float32"
    elif tf.config.list_logical_devices("GPU"):
        policy = "mixed_float16"
    else:
        policy = "mixed_bfloat16"
    keras.mixed_precision.set_global_policy(policy)
    return policy
