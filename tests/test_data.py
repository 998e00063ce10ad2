import gzip
import hashlib

import numpy as np
import pytest
import torch

from benchmarks.data import fashion_mnist
from benchmarks.data.device_data import DeviceLoader, prepare_batch, real_fashion_mnist, synthetic_fashion_mnist
from benchmarks.data.fashion_mnist import DataError, parse_idx


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_tiny_set(folder, n_train=12, n_test=6, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            with gzip.open(folder / f"{name}.gz", "wb") as f:
                f.write(data)
        else:
            (folder / name).write_bytes(data)
    return arrays


@pytest.fixture
def tiny_sums(monkeypatch, tmp_path):
    """Make the checksum table that of the tiny files the test writes, and keep the cache in tmp_path."""
    monkeypatch.setenv(fashion_mnist.ENV_CACHE_DIR, str(tmp_path / "cache"))

    def install(arrays):
        table = {n: (len(idx_bytes(a)), hashlib.sha256(idx_bytes(a)).hexdigest()) for n, a in arrays.items()}
        monkeypatch.setattr(fashion_mnist, "FILES", table)

    return install


# --- the parser -------------------------------------------------------------------------------------------------


def test_parse_images_and_labels():
    images = np.arange(2 * 3 * 4).reshape(2, 3, 4) % 256
    assert (parse_idx(idx_bytes(images)) == images).all()
    assert parse_idx(idx_bytes(np.array([3, 1, 4]))).tolist() == [3, 1, 4]


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda b: b[:-1], "truncated"),
        (lambda b: b[:6], "truncated header"),
        (lambda b: b[:2], "truncated: 2 bytes, too short"),
        (lambda b: b + b"\x00", "trailing bytes"),
        (lambda b: b"\x00\x00\x0d" + b[3:], "not an unsigned-byte IDX"),
        (lambda b: b"\x01" + b[1:], "not an unsigned-byte IDX"),
    ],
)
def test_parse_rejects_corrupt_bytes_naming_the_file(mangle, message):
    good = idx_bytes(np.zeros((2, 28, 28)))
    with pytest.raises(DataError, match=f"some-file: {message}"):
        parse_idx(mangle(good), "some-file")


def test_load_reads_gz_and_raw_files(tmp_path, tiny_sums):
    for gz, folder in ((True, tmp_path / "gz"), (False, tmp_path / "raw")):
        arrays = write_tiny_set(folder, gz=gz)
        tiny_sums(arrays)
        raw = fashion_mnist.load(folder, download=False)
        assert (raw.train_images == arrays["train-images-idx3-ubyte"]).all()
        assert raw.test_labels.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()


def test_checksum_mismatch_names_the_file(tmp_path, tiny_sums):
    arrays = write_tiny_set(tmp_path / "d")
    tiny_sums(arrays)
    write_tiny_set(tmp_path / "d", seed=1)  # same shapes, other bytes
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: checksum mismatch"):
        fashion_mnist.load(tmp_path / "d", download=False)


def test_corrupt_gzip_names_the_file(tmp_path, tiny_sums):
    tiny_sums(write_tiny_set(tmp_path / "d"))
    (tmp_path / "d" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: cannot read"):
        fashion_mnist.load(tmp_path / "d", download=False)


def test_verification_is_cached_and_a_changed_file_is_checked_again(tmp_path, tiny_sums, monkeypatch):
    tiny_sums(write_tiny_set(tmp_path / "d"))
    fashion_mnist.load(tmp_path / "d", download=False)
    calls = []
    real_sha = hashlib.sha256
    monkeypatch.setattr(fashion_mnist.hashlib, "sha256", lambda b: calls.append(1) or real_sha(b))
    fashion_mnist.load(tmp_path / "d", download=False)
    assert calls == []  # every file verified already
    write_tiny_set(tmp_path / "d", seed=1)
    with pytest.raises(DataError, match="checksum mismatch"):
        fashion_mnist.load(tmp_path / "d", download=False)


def test_missing_data_names_every_place_tried_and_the_fixes(tmp_path, monkeypatch):
    monkeypatch.setenv(fashion_mnist.ENV_CACHE_DIR, str(tmp_path / "cache"))
    monkeypatch.delenv(fashion_mnist.ENV_DATA_DIR, raising=False)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "debian")
    with pytest.raises(DataError) as err:
        fashion_mnist.load(download=False)
    message = str(err.value)
    for expected in (
        str(tmp_path / "cache"),
        str(tmp_path / "debian"),
        "apt-get install dataset-fashion-mnist",
        "--data-dir",
    ):
        assert expected in message


def test_environment_variable_is_a_place(tmp_path, tiny_sums, monkeypatch):
    tiny_sums(write_tiny_set(tmp_path / "env"))
    monkeypatch.setenv(fashion_mnist.ENV_DATA_DIR, str(tmp_path / "env"))
    assert fashion_mnist.load(download=False).location == str(tmp_path / "env")


# --- serving ----------------------------------------------------------------------------------------------------


def test_batches_are_to_tensor_values_and_resized():
    data = synthetic_fashion_mnist(train=300, test=10)
    x28, _ = next(iter(DeviceLoader(data.train_images, data.train_labels, 64, 28)))
    assert x28.dtype == torch.float32 and x28.shape == (64, 1, 28, 28)
    assert torch.equal((x28 * 255).round().to(torch.uint8).squeeze(1), data.train_images[:64])
    x96, _ = next(iter(DeviceLoader(data.train_images, data.train_labels, 64, 96, channels_last=True)))
    assert x96.shape == (64, 1, 96, 96) and x96.is_contiguous(memory_format=torch.channels_last)
    assert 0.0 <= x96.min() and x96.max() <= 1.0


def test_shuffle_is_seeded_and_covers_every_example_once():
    data = synthetic_fashion_mnist(train=500, test=10)

    def labels_in_order(seed):
        loader = DeviceLoader(data.train_images, data.train_labels, 64, 28, shuffle=True, seed=seed)
        return [torch.cat([y for _, y in loader]) for _ in range(2)]  # two epochs

    first, again, other = labels_in_order(1), labels_in_order(1), labels_in_order(2)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], first[1])  # a new order each epoch
    assert not torch.equal(first[0], other[0])
    assert sorted(first[0].tolist()) == sorted(data.train_labels.tolist())


def test_subset_is_seeded():
    data = synthetic_fashion_mnist(train=500, test=100)
    a, b = data.subset(train=50, test=20, seed=3), data.subset(train=50, test=20, seed=3)
    assert len(a.train_labels) == 50 and len(a.test_labels) == 20
    assert torch.equal(a.train_images, b.train_images)
    assert not torch.equal(a.train_images, data.subset(train=50, seed=4).train_images)


def test_synthetic_is_marked_as_such():
    data = synthetic_fashion_mnist(train=10, test=10)
    assert data.describe()["source"] == "synthetic"
    assert data.train_images.dtype == torch.uint8 and data.train_images.shape[1:] == (28, 28)


# --- the real data ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real():
    try:
        return real_fashion_mnist(download=False)
    except DataError as err:
        pytest.skip(f"real Fashion-MNIST absent: {err}")


def test_real_data_sizes_and_classes(real):
    assert real.train_images.shape == (60_000, 28, 28) and real.test_images.shape == (10_000, 28, 28)
    assert torch.bincount(real.train_labels).tolist() == [6_000] * 10
    assert torch.bincount(real.test_labels).tolist() == [1_000] * 10
    assert real.source == "real" and len(real.sha256) == 4


def test_real_labels_stay_aligned_after_shuffling_and_resizing(real):
    data = real.subset(train=2_000, seed=0)
    label_of = {bytes(img.numpy()): int(lbl) for img, lbl in zip(data.train_images, data.train_labels)}
    plain = DeviceLoader(data.train_images, data.train_labels, 256, 28, shuffle=True, seed=5)
    resized = DeviceLoader(data.train_images, data.train_labels, 256, 64, shuffle=True, seed=5)
    for (x28, y28), (x64, y64) in zip(plain, resized):
        images = (x28 * 255).round().to(torch.uint8).squeeze(1)
        assert [label_of.get(bytes(img.numpy()), -1) for img in images] == y28.tolist()
        assert torch.equal(y28, y64)
        assert torch.allclose(prepare_batch(images, 64), x64)


def test_torchvision_layout_under_data_dir_is_found(tmp_path, tiny_sums):
    """d2l's load_data_fashion_mnist leaves <root>/FashionMNIST/raw/*.gz: --data-dir <root> finds them."""
    arrays = write_tiny_set(tmp_path / "root" / "FashionMNIST" / "raw")
    tiny_sums(arrays)
    found = fashion_mnist.locate(tmp_path / "root", download=False)
    assert set(found) == set(arrays) and all("FashionMNIST/raw" in str(p) for p in found.values())
