"""Trains the MNIST score classifier and writes its weights with a provenance JSON.

    python -m ebgan_tf.tools.train_classifier --data_dir ../shared/data \
        --output ebgan_tf/metrics/mnist_classifier.keras

Trains `mnist_classifier.build_mnist_classifier()` on the whole MNIST training set (60,000 images;
the paper's classifier is "trained off-line on the whole MNIST training set", §2.4), 32x32 padded,
in [-1, 1], for a fixed number of epochs: no model selection on the test set, which is used once, at
the end, to report the accuracy. About 5-6 minutes on 2 CPU cores. Beside `--output` it writes
`<stem>.json`: seed, versions, command, test accuracy and the weights' sha256.

Reproducibility: a fixed seed, `tf.config.experimental.enable_op_determinism()`, and NumPy-side
shuffling and augmentation make a rerun on the same machine and versions bitwise identical. Other
CPUs (other oneDNN kernels) or a GPU may round differently; the committed file is the reference.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ebgan_tf.data import DATA_DIR_ENV
from ebgan_tf.data import mnist as data
from ebgan_tf.metrics import mnist_classifier

DEFAULT_SEED = 0
DEFAULT_EPOCHS = 6  # Chosen for ~99.5 % with margin over the 99.3 % target in ~5 min on 2 cores.
DEFAULT_BATCH_SIZE = 128
DEFAULT_LEARNING_RATE = 1e-3  # Adam, cosine-decayed to 0 over the run.
# Random translations of up to 2 pixels: the padded digit stays inside the 32x32 frame, and the
# classifier tolerates generators whose digits are not centred exactly like MNIST's.
DEFAULT_MAX_SHIFT = 2


def shift_images(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Translates each image by a random integer offset in [-max_shift, max_shift]^2.

    Args:
      images: float32 [N, H, W, 1] in [-1, 1], background -1.
      max_shift: largest offset, in pixels; 0 returns the images unchanged.
      rng: the source of the offsets.

    Returns:
      float32 [N, H, W, 1]; pixels shifted in from outside are background (-1).
    """
    if max_shift == 0:
        return images
    n, height, width, _ = images.shape
    padded = np.pad(images, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)),
                    constant_values=-1.0)
    offsets = rng.integers(0, 2 * max_shift + 1, size=(n, 2))
    shifted = np.empty_like(images)
    # One slice per distinct offset (at most 25) instead of one per image.
    for dy in range(2 * max_shift + 1):
        for dx in range(2 * max_shift + 1):
            chosen = np.flatnonzero((offsets[:, 0] == dy) & (offsets[:, 1] == dx))
            shifted[chosen] = padded[chosen, dy:dy + height, dx:dx + width]
    return shifted


def train(images: np.ndarray, labels: np.ndarray, seed: int = DEFAULT_SEED,
          epochs: int = DEFAULT_EPOCHS, batch_size: int = DEFAULT_BATCH_SIZE,
          learning_rate: float = DEFAULT_LEARNING_RATE, max_shift: int = DEFAULT_MAX_SHIFT,
          verbose: int = 0) -> tuple[keras.Model, list[dict]]:
    """Trains a fresh classifier.

    Args:
      images: float32 [N, 32, 32, 1] in [-1, 1].
      labels: int [N] in 0..9.
      seed: seeds weights, dropout, shuffling and augmentation.
      epochs: passes over `images`.
      batch_size: images per step (the last step of an epoch takes the remainder).
      learning_rate: Adam's initial rate, cosine-decayed to 0 over all steps.
      max_shift: augmentation translation range in pixels (0 disables it).
      verbose: Keras `fit` verbosity.

    Returns:
      The trained model (uncompiled copy, no optimizer state) and one dict per epoch with the
      training loss and accuracy.

    For bitwise reproducible weights across runs, enable `tf.config.experimental.
    enable_op_determinism()` first, as `main` does; it is a process-wide switch, so this function
    leaves it to the caller.
    """
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model = mnist_classifier.build_mnist_classifier()
    steps_per_epoch = -(-len(images) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, epochs * steps_per_epoch)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    history = []
    for epoch in range(epochs):
        # Shuffling and augmentation in NumPy keep the whole input stream a function of `seed`.
        order = rng.permutation(len(images))
        epoch_images = shift_images(images[order], max_shift, rng)
        result = model.fit(epoch_images, labels[order], batch_size=batch_size, epochs=1,
                           shuffle=False, verbose=verbose)
        history.append({"epoch": epoch + 1,
                        **{k: float(v[-1]) for k, v in result.history.items()}})
    # Saved without the optimizer: the file holds only what inference needs.
    inference_model = mnist_classifier.build_mnist_classifier()
    inference_model.set_weights(model.get_weights())
    return inference_model, history


def test_accuracy(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of `images` [N, 32, 32, 1] whose argmax logit equals `labels` [N]."""
    logits, _ = mnist_classifier.MNISTClassifier(model).logits_and_features(images)
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def parse_args(argv: list[str]) -> argparse.Namespace:
    # argparse, not absl flags: absl's global flag registry would clash with scripts that import
    # this module and define their own --data_dir.
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=None,
                        help=f"folder holding mnist/*-ubyte.gz (default ${DATA_DIR_ENV})")
    parser.add_argument("--output", default=str(mnist_classifier.CLASSIFIER_PATH),
                        help="where to write the .keras file; the JSON goes beside it")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--batch_size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--learning_rate", type=float, default=DEFAULT_LEARNING_RATE)
    parser.add_argument("--max_shift", type=int, default=DEFAULT_MAX_SHIFT)
    return parser.parse_args(argv)


def main(argv: list[str]) -> dict:
    args = parse_args(argv)
    tf.config.experimental.enable_op_determinism()
    output = Path(args.output)
    if output.suffix != ".keras":
        raise ValueError(f"--output must end in .keras, got {output}.")
    train_images, train_labels = data.load_mnist_arrays("train", args.data_dir, pad=True)
    test_images, test_labels = data.load_mnist_arrays("test", args.data_dir, pad=True)

    start = time.perf_counter()
    model, history = train(train_images, train_labels, seed=args.seed, epochs=args.epochs,
                           batch_size=args.batch_size, learning_rate=args.learning_rate,
                           max_shift=args.max_shift, verbose=2)
    wall_time = time.perf_counter() - start
    accuracy = test_accuracy(model, test_images, test_labels)

    output.parent.mkdir(parents=True, exist_ok=True)
    model.save(output)
    provenance = {
        "weights_file": output.name,
        "weights_sha256": file_sha256(output),
        "test_accuracy": accuracy,
        "test_errors": int(round((1.0 - accuracy) * len(test_labels))),
        "test_set": "MNIST t10k, 10,000 images, padded to 32x32, [-1, 1]",
        "train_set": "MNIST train, all 60,000 images, padded to 32x32, [-1, 1]",
        "command": "python -m ebgan_tf.tools.train_classifier " + shlex.join(argv),
        "seed": args.seed,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer": f"Adam({args.learning_rate}) with cosine decay to 0",
        "augmentation": f"random integer shifts in [-{args.max_shift}, {args.max_shift}] px",
        "op_determinism": True,
        "num_parameters": int(model.count_params()),
        "training_wall_time_s": round(wall_time, 1),
        "history": history,
        "mnist_sha256": {split: {kind: sha for kind, (_, sha) in files.items()}
                         for split, files in data.MNIST_FILES.items()},
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__,
                     "keras": keras.__version__, "numpy": np.__version__},
        "machine": {"platform": platform.platform(), "processor": platform.machine(),
                    "devices": [d.device_type for d in tf.config.list_logical_devices()]},
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    output.with_suffix(".json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"test accuracy {accuracy:.4%} after {wall_time:.0f} s; wrote {output} and "
          f"{output.with_suffix('.json')}")
    return provenance


if __name__ == "__main__":
    main(sys.argv[1:])
