"""What one train step costs: its FLOP count (MNIST study and convolutional figures), and the
machine's matmul peak.

    flops = step_cost.train_step_flops(config.preset("fig9"))   # 5.50e9 at batch 64
    peak = step_cost.measure_matmul_gflops("float32")             # GFLOP/s of this machine
    fraction_of_peak = flops / seconds_per_step / 1e9 / peak
    hours = step_cost.conv_accelerator_hours(conv_config)         # an estimate, not a measurement

Only the dense layers' matrix products (and the PT's Gram matrix) are counted, or for the
convolutional models the convolutions: they are nearly all the arithmetic. Batch norm,
activations, losses and the Adam updates are memory-bound element-wise work, left out of the
count (that is the usual convention for "fraction of peak", and why a step cannot reach 100 % of
it). Counting needs no TensorFlow: the convolutional counts come from the layer specs.
"""

from __future__ import annotations

import math
import time

from ebgan_tf.configs.conv import (Architecture, ConvConfig, generator_input_sizes, hidden_width,
                                   parse_spec)
from ebgan_tf.configs.mlp import MLPConfig

# Sustained training throughput assumed for the convolutional figures' accelerator-hour estimates
# (no accelerator was measured): GAN convolutions at small spatial sizes typically reach a small
# fraction of an accelerator's peak.
ASSUMED_ACCELERATOR_TFLOPS = 10.0


def dense_shapes(config: MLPConfig) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(fan_in, fan_out) of every dense layer of G and of D, input layer first (see networks.py)."""
    pixels = config.image_size * config.image_size
    g_widths = [config.noise_dim] + [config.size_g] * (config.n_layer_g - 1) + [pixels]
    if config.is_ebgan:  # n_layer_d - 1 encoder layers, then the one-layer decoder.
        d_widths = [pixels] + [config.size_d] * (config.n_layer_d - 1) + [pixels]
    else:  # n_layer_d - 1 hidden layers, then one logit.
        d_widths = [pixels] + [config.size_d] * (config.n_layer_d - 1) + [1]
    pairs = lambda widths: list(zip(widths[:-1], widths[1:]))  # noqa: E731
    return pairs(g_widths), pairs(d_widths)


def train_step_flops(config: MLPConfig, batch_size: int | None = None) -> int:
    """Matmul FLOPs of one `train_step` (one D update, then one G update) at `batch_size`.

    A dense layer of fan-in I and fan-out O costs 2·B·I·O FLOPs forward, as much again for the
    weight gradient and as much for the input gradient. One step does (see models.py):
      G forward once;
      D on the real batch and on the fake batch, forward + weight gradients + input gradients
        below the first layer (D's update needs no gradient into its inputs);
      D on the fake batch again, forward + input gradients through every layer, no weight
        gradients (G's update);
      G backward: weight gradients, input gradients below its first layer;
      EBGAN-PT only: the B×B Gram matrix of the codes, forward and the two operand gradients.
    """
    batch = config.batch_size if batch_size is None else batch_size
    g_layers, d_layers = dense_shapes(config)
    g_macs = sum(i * o for i, o in g_layers)
    d_macs = sum(i * o for i, o in d_layers)
    g_first = g_layers[0][0] * g_layers[0][1]
    d_first = d_layers[0][0] * d_layers[0][1]
    macs = (3 * g_macs - g_first) + 2 * (3 * d_macs - d_first) + 2 * d_macs
    if config.effective_pt_weight:
        macs += 3 * batch * config.size_d
    return 2 * batch * macs


def measure_matmul_gflops(dtype: str = "float32", size: int = 2048, min_seconds: float = 1.0,
                          shape: tuple[int, int, int] | None = None, trials: int = 3) -> float:
    """Measured TensorFlow matmul throughput, GFLOP/s, in this process's thread settings.

    Times a graph-mode loop of [m, k] x [k, n] products (default: square `size`), each on a
    slightly different left operand so that no product can be reused, after one warm-up call:
    `trials` timings of `min_seconds / trials` each, the best returned. `dtype` is "float32" or
    "bfloat16".
    """
    import tensorflow as tf

    m, k, n = shape or (size, size, size)
    tf_dtype = tf.as_dtype(dtype)
    rng = tf.random.Generator.from_seed(0)
    a = tf.cast(rng.normal((m, k)), tf_dtype)
    b = tf.cast(rng.normal((k, n)), tf_dtype)
    products = 10

    @tf.function
    def run(a, b):
        def body(i, total):
            # Scaling the left operand (m·k elements, small next to m·k·n FLOPs) defeats CSE.
            scaled = a * tf.cast(1.0 + 1e-3 * tf.cast(i, tf.float32), tf_dtype)
            product = tf.matmul(scaled, b)
            return i + 1, total + tf.cast(product[0, 0], tf.float32)
        return tf.while_loop(lambda i, _: i < products, body, (0, tf.zeros([])))[1]

    run(a, b).numpy()
    best = 0.0
    for _ in range(trials):  # A peak: the best of a few, so that a moment's contention is not it.
        calls, start = 0, time.perf_counter()
        while True:
            run(a, b).numpy()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds / trials:
                break
        best = max(best, 2.0 * m * k * n * products * calls / elapsed / 1e9)
    return best


def largest_grid_config(kind: str = "ebgan") -> MLPConfig:
    """The most expensive configuration of Table 1 for `kind` (the widest, deepest G and D)."""
    from ebgan_tf.configs import mlp as config_lib

    table = config_lib.TABLE1
    return MLPConfig(kind=kind, n_layer_g=max(table["n_layer_g"]), n_layer_d=max(table["n_layer_d"]),
                     size_g=max(table["size_g"]), size_d=max(table["size_d"]), dropout_d=False)


# The Table 1 settings that fix a step's cost (the optimizer and lr do not), paper names.
ARCHITECTURE_SETTINGS = {"nLayerG": "n_layer_g", "nLayerD": "n_layer_d", "sizeG": "size_g",
                         "sizeD": "size_d", "dropoutD": "dropout_d"}


def config_from_spec(spec: str, kind: str, batch_size: int = 64) -> MLPConfig:
    """A configuration from a benchmark's `--preset`: a `config.PRESETS` name, "largest", or Table 1
    settings under the paper's names, e.g. "nLayerG=5,nLayerD=2,sizeG=1600,sizeD=1024".

    Raises ValueError (one line) for anything else."""
    from ebgan_tf.configs import mlp as config_lib

    if spec == "largest":
        cfg = largest_grid_config(kind)
    elif "=" in spec:
        settings = {}
        for item in spec.split(","):
            name, _, value = item.partition("=")
            if name not in ARCHITECTURE_SETTINGS or not value.isdigit():
                raise ValueError(f"{item!r} is not one of {'/'.join(ARCHITECTURE_SETTINGS)}"
                                 "=<integer>")
            field = ARCHITECTURE_SETTINGS[name]
            settings[field] = bool(int(value)) if field == "dropout_d" else int(value)
        cfg = MLPConfig(kind=kind, **settings)
    elif spec in config_lib.PRESETS:
        cfg = config_lib.preset(spec, kind=kind)
    else:
        raise ValueError(f"must be one of {sorted(config_lib.PRESETS)}, 'largest' or Table 1 "
                         f"settings such as nLayerG=5,sizeG=1600; got {spec!r}")
    return cfg.replace(batch_size=batch_size)


def fraction_of_peak(flops_per_step: float, seconds_per_step: float, peak_gflops: float) -> float:
    if not (seconds_per_step > 0 and peak_gflops > 0):
        return math.nan
    return flops_per_step / seconds_per_step / 1e9 / peak_gflops


# --- the convolutional figures ---------------------------------------------------------------

def conv_forward_flops(architecture: Architecture, network: str, width_divisor: int = 1,
                       channels: int = 3) -> int:
    """Forward FLOPs of one image through a network, from its layer specs alone (no model built):
    `network` is "generator", "autoencoder" or "dcgan_discriminator". Agrees with
    `ebgan_tf.networks.conv.conv_flops` of the built network (tests/test_conv_networks.py)."""
    total = 0
    if network == "generator":
        sizes = generator_input_sizes(architecture.generator)
        c_prev = 0
        for i, (spec_text, size) in enumerate(zip(architecture.generator, sizes)):
            spec = parse_spec(spec_text)
            planes = architecture.noise_planes
            c_in = c_prev + (planes[i] if i < len(planes) else 0)
            c_out = hidden_width(spec.filters, i == len(architecture.generator) - 1, width_divisor)
            # A transposed conv costs per input pixel; the final stride-1 conv keeps the size.
            total += 2 * size * size * c_in * spec.kernel ** 2 * c_out
            c_prev = c_out
        return total
    if network == "autoencoder":
        layers = ([(s, False) for s in architecture.encoder]
                  + [(s, True) for s in architecture.decoder])
    elif network == "dcgan_discriminator":
        layers = [(s, False) for s in architecture.dcgan_discriminator]
    else:
        raise ValueError(f"unknown network {network!r}")
    size, c_in = architecture.image_size, channels
    for i, (spec_text, transposed) in enumerate(layers):
        spec = parse_spec(spec_text)
        last = i == len(layers) - 1
        c_out = hidden_width(spec.filters, last, width_divisor)
        if transposed:
            total += 2 * size * size * c_in * spec.kernel ** 2 * c_out
            size *= spec.stride
        else:
            valid_logit = network == "dcgan_discriminator" and last
            size = 1 if valid_logit else size // spec.stride
            total += 2 * size * size * c_out * spec.kernel ** 2 * c_in
        c_in = c_out
    return total


def conv_train_step_flops(config: ConvConfig) -> int:
    """Convolution FLOPs of one `train_step` of a convolutional model (one D, then one G update).

    With G and D the forward FLOPs of one image, a step costs, per image: G forward, and its
    weight and input gradients (3 G); D forward, weight and input gradients on the real and on
    the fake batch (D's update, 2 × 3 D); D forward and input gradients on the fake batch again
    (G's update, 2 D): 3 G + 8 D. An upper bound by each network's first layer's input gradient,
    which no update needs; the PT's Gram matrix (B² × code size) is left out as negligible.
    """
    arch = config.arch
    g = conv_forward_flops(arch, "generator", config.width_divisor)
    d = conv_forward_flops(arch, "autoencoder" if config.is_ebgan else "dcgan_discriminator",
                           config.width_divisor)
    return config.batch_size * (3 * g + 8 * d)


def conv_accelerator_hours(config: ConvConfig,
                           tflops: float = ASSUMED_ACCELERATOR_TFLOPS) -> float:
    """Estimated accelerator-hours of a whole run at a sustained `tflops` (not a measurement)."""
    return config.train_steps * conv_train_step_flops(config) / (tflops * 1e12) / 3600.0
