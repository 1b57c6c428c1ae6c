"""RGB image data for the convolutional experiments: LSUN bedroom, CelebA, ImageNet (and its dog
subset), from TFDS or a local folder of JPEG/PNG files, and MNIST upsampled (the one real data set
on a machine without the others, scored by the suite's MNIST classifier), as `tf.data` pipelines
of `(images [B, S, S, 3] float32 in [-1, 1], noise [B, noise_dim])` batches.

Sources (`--data_source`):
  local  `<data_dir>/<name>/`, searched recursively for *.jpg / *.jpeg / *.png (any case), read in
         sorted order. The ImageNet dog subset also accepts the ILSVRC training layout
         `<data_dir>/imagenet2012/<wnid>/*.JPEG`, keeping the 118 dog wnids.
  tfds   TensorFlow Datasets `lsun/bedroom`, `celeb_a`, `imagenet2012` under `<data_dir>` (the TFDS
         data dir). LSUN and CelebA download when online; offline they fail in seconds.
         ImageNet needs TFDS's manual download.
  auto   local when `<data_dir>/<name>/` exists, else TFDS.
MNIST is read by `ebgan_tf.data.mnist` (the IDX files under `<data_dir>/mnist/`, checked, or TFDS,
by the same `--data_source` rule) and held in memory.

Preprocessing (`ebgan_tf.configs.conv.Preprocessing`; the paper gives only the sizes, so the rest
follows DCGAN practice):
  LSUN whole images   the largest central square, resized to 64×64.
  LSUN patches        the central square resized to 96×96, then a random 64×64 crop of it per
                      example, drawn anew each time (paper Appendix F: "patches of size 64×64
                      cropped from 96×96 original images").
  CelebA              the aligned 178×218 images, a central 108×108 crop (the face), resized to
                      64×64 (DCGAN-tensorflow's CelebA convention; a choice).
  ImageNet            the largest central square, resized to 128×128 or 256×256.
  MNIST               the 60,000 training digits padded to 32×32 (the MNIST classifier's input),
                      grey repeated in 3 channels, resized to 64×64 or 128×128: an exact 2× or 4×
                      upsampling, which a 2×2 (4×4) mean and a channel mean undo up to a blur.
                      Three channels, not a 1-channel variant of the networks, so that the runs
                      train exactly the networks a user points at CelebA or ImageNet.
Resizing is bilinear with antialiasing; pixels map linearly from [0, 255] to [-1, 1].

Determinism and resumption: the file order is shuffled by a seeded shuffle, each example's random
crop and each batch's noise come from stateless generators keyed by its position in the stream,
and `start_batch` skips the stream at the (cheap) encoded level. A run resumed at step k therefore
sees exactly the batches an uninterrupted run sees from step k on.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from ebgan_tf.configs.conv import Preprocessing  # noqa: F401  (a setting; re-exported here)
from ebgan_tf.data import DATA_DIR_ENV, DATA_SOURCES, reachable, resolve_data_dir
from ebgan_tf.data import mnist
from ebgan_tf.data.mnist import synthetic_images
from ebgan_tf.data.streams import with_noise
from ebgan_tf.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
DOG_WNIDS_FILE = Path(__file__).with_name("imagenet_dog_wnids.txt")


@dataclasses.dataclass(frozen=True)
class ImageSource:
    """One data set: its local folder name, its TFDS name, and an optional class subset."""

    name: str  # Also the folder under --data_dir.
    title: str
    tfds_name: str | None
    download_host: tuple[str, int] | None = None  # Probed before a TFDS download.
    classes: str | None = None  # "imagenet_dogs": keep the 118 dog classes.
    in_memory: str | None = None  # "synthetic" or "mnist": arrays, not files.


SOURCES = {
    "lsun_bedroom": ImageSource("lsun_bedroom", "LSUN bedroom", "lsun/bedroom", ("dl.yf.io", 80)),
    "celeb_a": ImageSource("celeb_a", "CelebA (aligned)", "celeb_a", ("drive.google.com", 443)),
    "imagenet2012": ImageSource("imagenet2012", "ImageNet-1k (ILSVRC 2012)", "imagenet2012"),
    "imagenet_dogs": ImageSource("imagenet_dogs", "ImageNet dog subset (118 classes)",
                                 "imagenet2012", classes="imagenet_dogs"),
    "mnist": ImageSource("mnist", "MNIST training digits (28×28 padded to 32×32, grey repeated "
                         "in 3 channels)", None, in_memory="mnist"),
    "synthetic": ImageSource("synthetic", "synthetic blobs (smoke tests)", None,
                             in_memory="synthetic"),
}


def preprocess(image, preprocessing: Preprocessing, seed):
    """uint8 [H, W, 3] -> float32 [S, S, 3] in [-1, 1]; `seed` int [2] keys the random crop."""
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    side = tf.minimum(height, width)
    if preprocessing.crop_size:
        side = tf.minimum(side, preprocessing.crop_size)
    top, left = (height - side) // 2, (width - side) // 2
    image = tf.image.crop_to_bounding_box(image, top, left, side, side)
    target = preprocessing.load_size or preprocessing.image_size
    image = tf.image.resize(tf.cast(image, tf.float32), [target, target], method="bilinear",
                            antialias=True)
    if preprocessing.load_size:
        size = preprocessing.image_size
        image = tf.image.stateless_random_crop(image, [size, size, 3], seed=seed)
    image = tf.clip_by_value(image, 0.0, 255.0) * (2.0 / 255.0) - 1.0
    return tf.ensure_shape(image, [preprocessing.image_size, preprocessing.image_size, 3])


def decode(encoded):
    """JPEG/PNG bytes -> uint8 [H, W, 3] (grey images are repeated to three channels)."""
    return tf.io.decode_image(encoded, channels=3, expand_animations=False)


def mnist_digits(data_dir=None, data_source: str = "auto") -> np.ndarray:
    """The 60,000 MNIST training digits as uint8 [N, 32, 32, 1], padded with background (0).

    Raises `DataError` (one line) for missing, altered or unreachable files."""
    digits, _ = mnist.load_mnist_arrays("train", data_dir, pad=True, data_source=data_source)
    # The loader's [-1, 1] floats are u * 2/255 - 1 for uint8 u: rounding recovers u exactly.
    return np.round((digits + 1.0) * 127.5).astype(np.uint8)


def dog_wnids() -> list[str]:
    """The 118 WordNet ids of the ImageNet dog subset (shipped with the package)."""
    lines = DOG_WNIDS_FILE.read_text(encoding="utf-8").splitlines()
    return [line.split("\t")[0] for line in lines if line and not line.startswith("#")]


def dog_label_indices() -> list[int]:
    lines = DOG_WNIDS_FILE.read_text(encoding="utf-8").splitlines()
    return [int(line.split("\t")[1]) for line in lines if line and not line.startswith("#")]


# --- local folders ----------------------------------------------------------------------------

def list_image_files(folder: Path, wnids: list[str] | None = None) -> list[str]:
    """Every JPEG/PNG below `folder`, sorted; with `wnids`, only those in `folder/<wnid>/`."""
    roots = [folder / w for w in wnids] if wnids else [folder]
    files = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            files.extend(os.path.join(dirpath, f) for f in sorted(filenames)
                         if f.lower().endswith(IMAGE_EXTENSIONS))
    return files


def local_files(source: ImageSource, data_dir: Path | None) -> list[str]:
    """The image files of `source` under `data_dir`, checked: a clear DataError if there are none."""
    if data_dir is None:
        raise DataError(f"no data folder for {source.title}: set --data_dir or ${DATA_DIR_ENV} to a "
                        f"folder containing {source.name}/ (JPEG/PNG images).")
    folder = data_dir / source.name
    wnids = None
    if not folder.is_dir() and source.classes == "imagenet_dogs" and (data_dir / "imagenet2012").is_dir():
        folder, wnids = data_dir / "imagenet2012", dog_wnids()
    if not folder.is_dir():
        raise DataError(f"no {source.title} folder at {folder}; put its JPEG/PNG images there "
                        f"(set --data_dir or ${DATA_DIR_ENV}), or use --data_source=tfds.")
    files = list_image_files(folder, wnids)
    if not files:
        what = "dog-class subfolders (<wnid>/)" if wnids else "files"
        raise DataError(f"{folder} holds no JPEG/PNG images in its {what}.")
    try:
        decode(tf.io.read_file(files[0]))
    except tf.errors.OpError as e:
        raise DataError(f"{files[0]}: not a readable JPEG/PNG image ({e.message.splitlines()[0]}).") from None
    return files


# --- TFDS ---------------------------------------------------------------------------------------

def tfds_examples(source: ImageSource, data_dir: Path | None) -> tf.data.Dataset:
    """Examples {"image": encoded bytes (scalar tf.string)[, "label": int64]} of the TFDS train
    split, in the stored order, restricted to the dog classes for the dog subset."""
    import tensorflow_datasets as tfds  # Lazily: slow to import, and only this path needs it.

    try:
        builder = tfds.builder(source.tfds_name, data_dir=str(data_dir) if data_dir else None)
    except Exception as e:  # TFDS raises many types; all mean the same thing to the user.
        raise DataError(f"TFDS has no usable {source.tfds_name}: {type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''}") from None
    if not builder.is_prepared():
        manual = bool(getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None))
        if not manual and source.download_host and not reachable(source.download_host):
            raise DataError(
                f"{source.title} is not in the TFDS cache and TFDS cannot reach the internet; point "
                f"--data_dir (or ${DATA_DIR_ENV}) at a folder holding {source.name}/ with JPEG/PNG "
                "images, with --data_source=local.")
        try:
            builder.download_and_prepare()
        except Exception as e:
            hint = (f" (TFDS needs the ILSVRC-2012 archives in its manual download folder; or put "
                    f"images under <data_dir>/{source.name}/ and use --data_source=local)"
                    if manual else "")
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise DataError(f"TFDS could not prepare {source.tfds_name}: {type(e).__name__}: "
                            f"{first[:200]}{hint}") from None
    features = {"image": True, "label": True} if source.name.startswith("imagenet") else {"image": True}
    decoders = tfds.decode.PartialDecoding(features, decoders={"image": tfds.decode.SkipDecoding()})
    ds = builder.as_dataset(split="train", shuffle_files=False, decoders=decoders)
    if source.classes == "imagenet_dogs":
        dogs = tf.constant(dog_label_indices(), tf.int64)
        ds = ds.filter(lambda ex: tf.reduce_any(tf.equal(ex["label"], dogs)))
    return ds


# --- the pipeline -------------------------------------------------------------------------------

def choose_source(source: ImageSource, data_source: str, data_dir: Path | None) -> str:
    if data_source not in DATA_SOURCES:
        raise DataError(f"--data_source must be one of {DATA_SOURCES}, got {data_source!r}.")
    if data_source != "auto":
        return data_source
    if data_dir is not None and ((data_dir / source.name).is_dir() or (
            source.classes == "imagenet_dogs" and (data_dir / "imagenet2012").is_dir())):
        return "local"
    return "tfds"


def image_stream(source_name: str, preprocessing: Preprocessing, batch_size: int, seed: int,
                 noise_dim: int, data_dir=None, data_source: str = "auto", start_batch: int = 0,
                 shuffle_buffer: int = 100_000, num_synthetic: int = 512) -> tf.data.Dataset:
    """An endless stream of `(images [B, S, S, 3] float32 in [-1, 1], noise [B, noise_dim])`.

    Args:
      source_name: a key of `SOURCES` ("synthetic" needs no data: `num_synthetic` Gaussian blobs;
        "mnist" reads `<data_dir>/mnist/`).
      preprocessing: crop/resize settings (module docstring).
      batch_size: the global batch size.
      seed: shuffles the files and keys each example's crop and each batch's noise.
      noise_dim: length of the generator's flat noise input.
      data_dir: `--data_dir` (default `$EBGAN_TF_DATA_DIR`).
      data_source: "local", "tfds" or "auto".
      start_batch: the first batch to yield, for resuming at a step.
      shuffle_buffer: the TFDS shuffle buffer (local file lists are shuffled whole).

    Raises:
      DataError: the data set is missing, empty, unreadable or unreachable (one-line message).
    """
    if source_name not in SOURCES:
        raise DataError(f"unknown data set {source_name!r}; choose one of {sorted(SOURCES)}.")
    source = SOURCES[source_name]
    folder = resolve_data_dir(data_dir)
    if source.in_memory == "mnist":
        digits = mnist_digits(folder, data_source)
        encoded = tf.data.Dataset.from_tensor_slices(digits)
        decode_fn, buffer = tf.image.grayscale_to_rgb, len(digits)
    elif source.in_memory == "synthetic":
        side = preprocessing.load_size or preprocessing.image_size
        images = synthetic_images(num_synthetic, side, side, 3, seed=seed)
        encoded = tf.data.Dataset.from_tensor_slices(
            np.round((images + 1.0) * 127.5).astype(np.uint8))
        decode_fn, buffer = (lambda x: x), num_synthetic
    elif choose_source(source, data_source, folder) == "local":
        files = local_files(source, folder)
        encoded = tf.data.Dataset.from_tensor_slices(files)
        decode_fn, buffer = (lambda path: decode(tf.io.read_file(path))), len(files)
    else:
        encoded = tfds_examples(source, folder).map(lambda ex: ex["image"])
        decode_fn, buffer = decode, shuffle_buffer
    ds = encoded.shuffle(buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    # Positions are counted before the skip, so a resumed stream is the same stream.
    ds = ds.enumerate().skip(start_batch * batch_size)
    seed64 = tf.constant(seed, tf.int64)

    def load(index, element):
        return preprocess(decode_fn(element), preprocessing, tf.stack([seed64, index]))

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=True).enumerate(start=start_batch)
    # A different key from the crops' (seed + 1): noise and crops never share keys.
    return with_noise(ds, batch_size, noise_dim, seed64 + 1).prefetch(tf.data.AUTOTUNE)
