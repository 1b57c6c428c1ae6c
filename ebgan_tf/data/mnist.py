"""MNIST from local IDX files or TFDS, and synthetic images for tests.

Every loader returns float32 images in [-1, 1] with a trailing channel axis, the
range a tanh generator produces. The MNIST grid uses the padded 32x32 version
(paper §2.3); the semi-supervised experiment uses the raw 28x28 one.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np

from ebgan_tf.data import DATA_DIR_ENV, DATA_SOURCES, reachable, resolve_data_dir
from ebgan_tf.errors import DataError

SPLITS = ("train", "test")

# sha256 of the original files, as TFDS records them (../shared/data/mnist/README.md).
MNIST_FILES = {
    "train": {
        "images": ("train-images-idx3-ubyte.gz",
                   "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        "labels": ("train-labels-idx1-ubyte.gz",
                   "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    },
    "test": {
        "images": ("t10k-images-idx3-ubyte.gz",
                   "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        "labels": ("t10k-labels-idx1-ubyte.gz",
                   "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    },
}
MNIST_SIZES = {"train": 60_000, "test": 10_000}
_IDX_MAGIC = {"images": 2051, "labels": 2049}
# Host TFDS downloads MNIST from; probed first so an offline machine fails in seconds, not minutes.
_TFDS_PROBE_HOST = ("storage.googleapis.com", 443)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_idx(path: Path, kind: str, expected_count: int) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable gzip file ({e}).") from None
    header = 16 if kind == "images" else 8
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header.")
    magic, count = struct.unpack(">II", raw[:8])
    if magic != _IDX_MAGIC[kind] or count != expected_count:
        raise DataError(f"{path}: not an MNIST {kind} file (magic {magic}, count {count}).")
    shape = (count,) if kind == "labels" else (count, 28, 28)
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path}: expected {np.prod(shape)} bytes of {kind}, found {data.size}.")
    return data.reshape(shape)


@functools.lru_cache(maxsize=4)
def _load_local_uint8(split: str, folder: str) -> tuple[np.ndarray, np.ndarray]:
    mnist_dir = Path(folder)
    arrays = {}
    for kind, (name, sha256) in MNIST_FILES[split].items():
        path = mnist_dir / name
        if not path.is_file():
            raise DataError(
                f"MNIST file {path} is missing; the data folder must contain mnist/{name} "
                f"(set --data_dir or ${DATA_DIR_ENV}).")
        actual = _sha256(path)
        if actual != sha256:
            raise DataError(
                f"MNIST file {path} is corrupt or altered: sha256 {actual[:12]}… "
                f"differs from the published {sha256[:12]}…; replace it with the original.")
        arrays[kind] = _read_idx(path, kind, MNIST_SIZES[split])
    arrays["images"].setflags(write=False)
    arrays["labels"].setflags(write=False)
    return arrays["images"], arrays["labels"]


def _load_tfds_uint8(split: str, tfds_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow_datasets as tfds  # Imported lazily: it is slow and only this path needs it.

    builder = tfds.builder("mnist", data_dir=str(tfds_dir) if tfds_dir else None)
    if not builder.is_prepared():
        if not reachable(_TFDS_PROBE_HOST):
            raise DataError(
                "MNIST is not in the TFDS cache and TFDS cannot reach the internet; point "
                f"--data_dir (or ${DATA_DIR_ENV}) at a folder holding mnist/*-ubyte.gz, "
                "with --data_source=local.")
        try:
            builder.download_and_prepare()
        except Exception as e:  # TFDS raises many types; all mean the same thing to the user.
            raise DataError(f"TFDS could not download MNIST: {type(e).__name__}: {e}") from None
    # One batch larger than the split: the whole split as two arrays.
    ds = builder.as_dataset(split=split, as_supervised=True).batch(1 << 20)
    images, labels = next(iter(tfds.as_numpy(ds)))
    return np.asarray(images, np.uint8)[..., 0], np.asarray(labels, np.int64)


def _choose_source(data_source: str, data_dir: Path | None) -> str:
    if data_source not in DATA_SOURCES:
        raise DataError(f"--data_source must be one of {DATA_SOURCES}, got {data_source!r}.")
    if data_source != "auto":
        return data_source
    return "local" if data_dir is not None and (data_dir / "mnist").is_dir() else "tfds"


def to_model_range(images_uint8: np.ndarray, pad: bool) -> np.ndarray:
    """uint8 [N, 28, 28] -> float32 [N, 28|32, 28|32, 1] in [-1, 1]; padding is background (-1)."""
    images = images_uint8.astype(np.float32) * (2.0 / 255.0) - 1.0
    if pad:
        images = np.pad(images, ((0, 0), (2, 2), (2, 2)), constant_values=-1.0)
    return images[..., None]


def load_mnist_arrays(split: str, data_dir: str | os.PathLike | None = None, pad: bool = True,
                      data_source: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Loads an MNIST split.

    Args:
      split: "train" (60,000 images) or "test" (10,000).
      data_dir: folder holding `mnist/` with the four original `*-ubyte.gz` files; defaults to
        `$EBGAN_TF_DATA_DIR`. With `data_source="tfds"` it is used as the TFDS data dir.
      pad: pad 28x28 to 32x32 (the grid search's input, paper §2.3).
      data_source: "local", "tfds", or "auto" (local when `<data_dir>/mnist/` exists, else TFDS).

    Returns:
      images: float32 [N, 32, 32, 1] (or [N, 28, 28, 1] unpadded) in [-1, 1].
      labels: int64 [N] in 0..9.

    Raises:
      DataError: a missing, corrupt or unreachable data set, with a one-line message.
    """
    if split not in SPLITS:
        raise DataError(f"MNIST split must be one of {SPLITS}, got {split!r}.")
    folder = resolve_data_dir(data_dir)
    source = _choose_source(data_source, folder)
    if source == "local":
        if folder is None or not (folder / "mnist").is_dir():
            raise DataError(
                f"no MNIST folder at {folder / 'mnist' if folder else '<unset>'}; set --data_dir or "
                f"${DATA_DIR_ENV} to a folder containing mnist/*-ubyte.gz.")
        images, labels = _load_local_uint8(split, str((folder / "mnist").resolve()))
    else:
        images, labels = _load_tfds_uint8(split, folder)
    return to_model_range(images, pad), labels.astype(np.int64)


def synthetic_images(num: int, height: int = 32, width: int = 32, channels: int = 1,
                     seed: int = 0) -> np.ndarray:
    """Images of one Gaussian blob each, at random positions and widths, in [-1, 1].

    Structured enough that a generative model has something to learn, cheap to make, and
    of any shape, so tests need no real data set. Returns float32 [num, height, width, channels].
    """
    rng = np.random.default_rng(seed)
    ys = np.arange(height, dtype=np.float32)[None, :, None]
    xs = np.arange(width, dtype=np.float32)[None, None, :]
    cy = rng.uniform(0.3, 0.7, (num, 1, 1)) * height
    cx = rng.uniform(0.3, 0.7, (num, 1, 1)) * width
    sigma = rng.uniform(0.08, 0.16, (num, 1, 1)) * min(height, width)
    blob = np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * sigma ** 2))
    colour = rng.uniform(0.5, 1.0, (num, 1, 1, channels))
    images = blob[..., None] * colour * 2.0 - 1.0
    return images.astype(np.float32)
