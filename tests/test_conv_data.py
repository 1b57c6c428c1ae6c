"""RGB image data: local folders of JPEG/PNG, mocked TFDS, preprocessing, resumable streams, errors."""

import time

import numpy as np
import pytest
import tensorflow as tf

from ebgan_tf.data import DataError
from ebgan_tf.data import images as image_data
from ebgan_tf.data.images import Preprocessing


def _write(path, array, fmt):
    path.parent.mkdir(parents=True, exist_ok=True)
    encode = tf.io.encode_png if fmt == "png" else tf.io.encode_jpeg
    path.write_bytes(encode(tf.constant(array, tf.uint8)).numpy())


def _framed(height, width, inner):
    """Black image with a white central inner×inner square."""
    img = np.zeros((height, width, 3), np.uint8)
    top, left = (height - inner) // 2, (width - inner) // 2
    img[top:top + inner, left:left + inner] = 255
    return img


@pytest.fixture
def lsun_dir(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(6):
        h, w = int(rng.integers(60, 120)), int(rng.integers(60, 120))
        _write(tmp_path / "lsun_bedroom" / f"sub{i % 2}" / f"img{i}.{'png' if i % 2 else 'JPG'}",
               rng.integers(0, 256, (h, w, 3)), "png" if i % 2 else "jpg")
    (tmp_path / "lsun_bedroom" / "notes.txt").write_text("not an image")
    return tmp_path


def _batches(ds, n):
    return [(x.numpy(), z.numpy()) for x, z in ds.take(n)]


def test_local_folder_stream_shapes_range_and_noise(lsun_dir):
    ds = image_data.image_stream("lsun_bedroom", Preprocessing(64), batch_size=4, seed=1,
                                  noise_dim=7, data_dir=lsun_dir, data_source="local")
    (x, z), = _batches(ds, 1)
    assert x.shape == (4, 64, 64, 3) and x.dtype == np.float32
    assert x.min() >= -1.0 and x.max() <= 1.0 and x.std() > 0.1
    assert z.shape == (4, 7)
    assert len(image_data.list_image_files(lsun_dir / "lsun_bedroom")) == 6  # notes.txt skipped


def test_central_square_crop_and_fixed_crop():
    # The central square of a 60×100 image is its white 60×60 middle: all pixels become 1.
    wide = tf.constant(_framed(60, 100, 60))
    out = image_data.preprocess(wide, Preprocessing(32), seed=tf.constant([0, 0], tf.int64))
    np.testing.assert_allclose(out.numpy(), 1.0, atol=1e-5)
    # CelebA-style central 40×40 crop of a 100×80 image whose white centre is 40×40.
    face = tf.constant(_framed(100, 80, 40))
    out = image_data.preprocess(face, Preprocessing(16, crop_size=40), seed=tf.constant([0, 0], tf.int64))
    np.testing.assert_allclose(out.numpy(), 1.0, atol=1e-5)
    # Without the crop, the black border shows.
    out = image_data.preprocess(face, Preprocessing(16), seed=tf.constant([0, 0], tf.int64))
    assert out.numpy().min() < -0.9


def test_patches_are_random_64_crops_of_96():
    image = tf.constant(np.random.default_rng(0).integers(0, 256, (120, 150, 3)), tf.uint8)
    prep = Preprocessing(64, load_size=96)
    a = image_data.preprocess(image, prep, tf.constant([1, 0], tf.int64)).numpy()
    b = image_data.preprocess(image, prep, tf.constant([1, 1], tf.int64)).numpy()
    a_again = image_data.preprocess(image, prep, tf.constant([1, 0], tf.int64)).numpy()
    assert a.shape == (64, 64, 3)
    np.testing.assert_array_equal(a, a_again)
    assert not np.array_equal(a, b)
    # Each patch is a window of the 96×96 resize.
    full = image_data.preprocess(image, Preprocessing(96), tf.constant([0, 0], tf.int64)).numpy()
    windows = [full[i:i + 64, j:j + 64] for i in range(33) for j in range(33)]
    assert min(np.abs(w - a).max() for w in windows) < 1e-5
    assert "random 64×64 crop" in prep.describe()


def test_resumed_stream_equals_the_uninterrupted_one(lsun_dir):
    def stream(start):
        return image_data.image_stream("lsun_bedroom", Preprocessing(32, load_size=48), 4, seed=3,
                                        noise_dim=5, data_dir=lsun_dir, data_source="local",
                                        start_batch=start)

    full = _batches(stream(0), 5)  # 20 examples: over three epochs of 6 files, reshuffled.
    resumed = _batches(stream(3), 2)
    for (xa, za), (xb, zb) in zip(full[3:], resumed):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(za, zb)
    assert not np.array_equal(full[0][1], full[1][1])


def test_synthetic_source_needs_no_data():
    ds = image_data.image_stream("synthetic", Preprocessing(64), 2, seed=0, noise_dim=3,
                                  data_dir=None, num_synthetic=8)
    (x, z), = _batches(ds, 1)
    assert x.shape == (2, 64, 64, 3) and z.shape == (2, 3)


def test_dog_wnids_shipped():
    wnids, indices = image_data.dog_wnids(), image_data.dog_label_indices()
    assert len(wnids) == len(set(wnids)) == 118
    assert wnids[0] == "n02085620" and wnids[-1] == "n02113978"  # Chihuahua .. Mexican hairless
    assert indices == list(range(151, 269))


def test_dog_subset_from_an_imagenet_training_folder(tmp_path):
    rng = np.random.default_rng(0)
    for wnid in ("n02085620", "n02113978", "n01440764"):  # two dogs, one tench
        _write(tmp_path / "imagenet2012" / wnid / f"{wnid}_1.JPEG", rng.integers(0, 256, (40, 50, 3)), "jpg")
    assert image_data.choose_source(image_data.SOURCES["imagenet_dogs"], "auto", tmp_path) == "local"
    files = image_data.local_files(image_data.SOURCES["imagenet_dogs"], tmp_path)
    assert sorted(p.split("/")[-2] for p in files) == ["n02085620", "n02113978"]


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "no LSUN bedroom folder at"),
    (lambda d: (d / "lsun_bedroom").mkdir(), "holds no JPEG/PNG images"),
    (lambda d: (d / "lsun_bedroom").mkdir() or (d / "lsun_bedroom" / "a.jpg").write_bytes(b"junk"),
     "a.jpg: not a readable JPEG/PNG image"),
])
def test_local_errors_are_one_line(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(DataError, match=message) as info:
        image_data.image_stream("lsun_bedroom", Preprocessing(64), 4, 0, 3, data_dir=tmp_path,
                                 data_source="local")
    assert "\n" not in str(info.value)


def test_unset_data_dir_and_unknown_source(monkeypatch):
    monkeypatch.delenv("EBGAN_TF_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="set --data_dir"):
        image_data.image_stream("celeb_a", Preprocessing(64), 4, 0, 3, data_source="local")
    with pytest.raises(DataError, match="unknown data set"):
        image_data.image_stream("cifar10", Preprocessing(64), 4, 0, 3)


def test_tfds_offline_fails_fast_and_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(image_data, "reachable", lambda host, timeout=3.0: False)
    start = time.monotonic()
    with pytest.raises(DataError, match="cannot reach the internet.*--data_source=local"):
        image_data.image_stream("lsun_bedroom", Preprocessing(64), 4, 0, 3, data_dir=tmp_path,
                                 data_source="tfds")
    assert time.monotonic() - start < 30


def test_imagenet_without_manual_download_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="TFDS could not prepare imagenet2012.*manual") as info:
        image_data.image_stream("imagenet2012", Preprocessing(128), 4, 0, 3, data_dir=tmp_path,
                                 data_source="tfds")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name, size", [("lsun_bedroom", 64), ("celeb_a", 64), ("imagenet2012", 128)])
def test_tfds_path_with_mock_data(tmp_path, monkeypatch, name, size):
    import tensorflow_datasets as tfds

    monkeypatch.setattr(image_data, "reachable", lambda host, timeout=3.0: True)
    prep = Preprocessing(size, crop_size=108 if name == "celeb_a" else None)
    with tfds.testing.mock_data(num_examples=6):
        ds = image_data.image_stream(name, prep, 3, seed=0, noise_dim=4, data_dir=tmp_path,
                                      data_source="tfds", shuffle_buffer=6)
        (x, z), = _batches(ds, 1)
    assert x.shape == (3, size, size, 3) and x.dtype == np.float32
    assert -1.0 <= x.min() and x.max() <= 1.0 and z.shape == (3, 4)


def test_tfds_dog_subset_keeps_only_dog_labels(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=300):
        everything = [int(ex["label"]) for ex in
                      image_data.tfds_examples(image_data.SOURCES["imagenet2012"], tmp_path)]
        dogs = [int(ex["label"]) for ex in
                image_data.tfds_examples(image_data.SOURCES["imagenet_dogs"], tmp_path)]
    assert any(not 151 <= label <= 268 for label in everything)
    # About 118/1000 of the mocked random labels are dogs; only those are kept.
    assert 5 <= len(dogs) <= 80 and all(151 <= label <= 268 for label in dogs)
