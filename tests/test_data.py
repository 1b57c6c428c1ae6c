"""MNIST loading from the real IDX files, from corrupted copies, from mocked TFDS; the array stream."""

import gzip
import shutil
import time

import numpy as np
import pytest
import tensorflow as tf

from ebgan_tf.data import mnist as data
from ebgan_tf.data import streams

# Published class counts of the MNIST training and test sets.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_mnist_padded_train(mnist_data_dir):
    images, labels = data.load_mnist_arrays("train", data_dir=mnist_data_dir)
    assert images.shape == (60_000, 32, 32, 1) and images.dtype == np.float32
    assert labels.shape == (60_000,) and labels.dtype == np.int64
    assert images.min() == -1.0 and images.max() == 1.0
    assert np.bincount(labels).tolist() == TRAIN_COUNTS
    # The 2-pixel padding is background.
    assert np.all(images[:, :2] == -1.0) and np.all(images[:, :, -2:] == -1.0)


def test_real_mnist_unpadded_test_matches_padded_interior(mnist_data_dir):
    raw, labels = data.load_mnist_arrays("test", data_dir=mnist_data_dir, pad=False)
    padded, _ = data.load_mnist_arrays("test", data_dir=mnist_data_dir, pad=True)
    assert raw.shape == (10_000, 28, 28, 1)
    assert np.bincount(labels).tolist() == TEST_COUNTS
    np.testing.assert_array_equal(padded[:, 2:30, 2:30], raw)


def test_data_dir_defaults_to_env(mnist_data_dir, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(mnist_data_dir))
    _, labels = data.load_mnist_arrays("test", data_source="local")
    assert len(labels) == 10_000


@pytest.fixture
def mnist_copy(mnist_data_dir, tmp_path):
    (tmp_path / "mnist").mkdir()
    for split in data.MNIST_FILES.values():
        for name, _ in split.values():
            shutil.copy(mnist_data_dir / "mnist" / name, tmp_path / "mnist" / name)
    data._load_local_uint8.cache_clear()
    yield tmp_path
    data._load_local_uint8.cache_clear()


def test_truncated_file_is_named(mnist_copy):
    path = mnist_copy / "mnist" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(data.DataError, match="t10k-images-idx3-ubyte.gz.*corrupt"):
        data.load_mnist_arrays("test", data_dir=mnist_copy)


def test_altered_file_is_named(mnist_copy):
    path = mnist_copy / "mnist" / "t10k-labels-idx1-ubyte.gz"
    labels = bytearray(gzip.decompress(path.read_bytes()))
    labels[100] = (labels[100] + 1) % 10
    path.write_bytes(gzip.compress(bytes(labels)))
    with pytest.raises(data.DataError, match="t10k-labels-idx1-ubyte.gz.*sha256"):
        data.load_mnist_arrays("test", data_dir=mnist_copy)


def test_missing_file_is_named(mnist_copy):
    (mnist_copy / "mnist" / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.DataError, match="train-labels-idx1-ubyte.gz is missing"):
        data.load_mnist_arrays("train", data_dir=mnist_copy)


def test_missing_folder_says_how_to_fix(tmp_path):
    with pytest.raises(data.DataError, match="EBGAN_TF_DATA_DIR"):
        data.load_mnist_arrays("train", data_dir=tmp_path, data_source="local")


def test_idx_parser_rejects_wrong_header(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 20))
    with pytest.raises(data.DataError, match="not an MNIST images file"):
        data._read_idx(path, "images", 10_000)


def test_unknown_split_and_source_are_errors(tmp_path):
    with pytest.raises(data.DataError, match="split"):
        data.load_mnist_arrays("validation", data_dir=tmp_path)
    with pytest.raises(data.DataError, match="data_source"):
        data.load_mnist_arrays("train", data_dir=tmp_path, data_source="web")


def test_auto_source_prefers_local(mnist_data_dir, tmp_path):
    assert data._choose_source("auto", mnist_data_dir) == "local"
    assert data._choose_source("auto", tmp_path) == "tfds"
    assert data._choose_source("auto", None) == "tfds"


def test_tfds_offline_fails_fast_and_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "reachable", lambda host, timeout=3.0: False)
    start = time.monotonic()
    with pytest.raises(data.DataError, match="cannot reach the internet.*--data_dir"):
        data.load_mnist_arrays("test", data_dir=tmp_path, data_source="tfds")
    assert time.monotonic() - start < 30


def test_tfds_path_with_mock_data(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    # Pretend to be online; mock_data replaces the download and the records themselves.
    monkeypatch.setattr(data, "reachable", lambda host, timeout=3.0: True)
    with tfds.testing.mock_data(num_examples=12):
        images, labels = data.load_mnist_arrays("train", data_dir=tmp_path, data_source="tfds")
    assert images.shape == (12, 32, 32, 1) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert labels.dtype == np.int64 and np.all((labels >= 0) & (labels < 10))


def test_synthetic_images_any_shape_in_range():
    images = data.synthetic_images(7, 64, 48, 3, seed=1)
    assert images.shape == (7, 64, 48, 3) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, data.synthetic_images(7, 64, 48, 3, seed=1))
    assert not np.array_equal(images, data.synthetic_images(7, 64, 48, 3, seed=2))


def test_array_stream_is_seeded_and_carries_noise():
    images = data.synthetic_images(40, 8, 8, 1)

    def first_batches(seed):
        ds = streams.array_stream(images, 8, seed=seed, noise_dim=5)
        return [(x.numpy(), z.numpy()) for x, z in ds.take(6)]

    a, b, c = first_batches(3), first_batches(3), first_batches(4)
    for (xa, za), (xb, zb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(za, zb)
    assert a[0][0].shape == (8, 8, 8, 1) and a[0][1].shape == (8, 5)
    assert not np.array_equal(a[0][0], c[0][0])
    # Each batch gets its own noise; and shuffling covers the whole set within an epoch.
    assert not np.array_equal(a[0][1], a[1][1])
    epoch = np.concatenate([x for x, _ in a[:5]])
    assert len(np.unique(epoch.reshape(40, -1), axis=0)) == 40


def test_array_stream_without_noise_yields_images():
    ds = streams.array_stream(data.synthetic_images(10, 4, 4, 1), 5, seed=0, repeat=False)
    batches = list(ds)
    assert len(batches) == 2 and isinstance(batches[0], tf.Tensor)


def test_array_stream_yields_the_batches_of_shuffling_the_images_themselves():
    # The pipeline shuffles indices and gathers (fast start-up); its batches must be exactly those
    # of shuffling the images (the formulation the committed reference results were made with).
    images = data.synthetic_images(50, 4, 4, 1, seed=5)

    def reference(seed):
        ds = tf.data.Dataset.from_tensor_slices(images)
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).repeat()
        return ds.batch(8, drop_remainder=True)

    for seed in (0, 7):
        tf.random.set_seed(1)
        expected = [x.numpy() for x in reference(seed).take(14)]  # > 2 epochs: reshuffles too
        tf.random.set_seed(1)
        got = [x.numpy() for x, _ in streams.array_stream(images, 8, seed=seed, noise_dim=3).take(14)]
        assert len(got) == 14
        for e, g in zip(expected, got):
            np.testing.assert_array_equal(e, g)
    tf.random.set_seed(1)
    unshuffled = list(streams.array_stream(tf.constant(images), 25, seed=0, shuffle=False,
                                         repeat=False))
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in unshuffled]), images)


def test_array_stream_started_at_a_batch_continues_the_stream_exactly():
    # A run resumed at step k must see the batches and noise an uninterrupted run sees from k on.
    images = data.synthetic_images(24, 4, 4, 1, seed=2)
    whole = [(x.numpy(), z.numpy()) for x, z in streams.array_stream(images, 5, seed=3,
                                                                      noise_dim=2).take(12)]
    resumed = [(x.numpy(), z.numpy()) for x, z in streams.array_stream(
        images, 5, seed=3, noise_dim=2, start_batch=7).take(5)]
    for (xa, za), (xb, zb) in zip(whole[7:], resumed):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(za, zb)


def test_batch_noise_depends_on_seed_and_batch_index_only():
    a = streams.batch_noise(tf.constant(4, tf.int64), 3, 2, seed=9).numpy()
    np.testing.assert_array_equal(a, streams.batch_noise(tf.constant(4, tf.int64), 3, 2, 9).numpy())
    assert not np.array_equal(a, streams.batch_noise(tf.constant(5, tf.int64), 3, 2, 9).numpy())
    assert not np.array_equal(a, streams.batch_noise(tf.constant(4, tf.int64), 3, 2, 8).numpy())
