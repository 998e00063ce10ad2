"""Fashion-MNIST from disk: find the four IDX files, verify them, parse them with numpy.

Places tried, in order: an explicit folder (``--data-dir``), ``$FASHION_MNIST_DIR``, the project's cache folder,
Debian's ``/usr/share/datasets/fashion-mnist`` (package ``dataset-fashion-mnist``), then a download of the
official files into the cache. Each file may be gzipped or raw. The *decompressed* bytes are checked against
sha256 sums, since Debian recompresses the ``.gz`` files; a verified file is remembered by path, size and mtime.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.atomic import write_atomically

FILES = {  # name: (decompressed bytes, sha256 of the decompressed bytes)
    "train-images-idx3-ubyte": (47_040_016, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train-labels-idx1-ubyte": (60_008, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "t10k-images-idx3-ubyte": (7_840_016, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "t10k-labels-idx1-ubyte": (10_008, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DOWNLOAD_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
ENV_DATA_DIR = "FASHION_MNIST_DIR"
ENV_CACHE_DIR = "CNN_BENCH_CACHE"


class DataError(Exception):
    """The data set cannot be found, read or trusted; the message names the file and the fix."""


@dataclass(frozen=True)
class RawFashionMNIST:
    train_images: np.ndarray  # (60000, 28, 28) uint8
    train_labels: np.ndarray  # (60000,) uint8
    test_images: np.ndarray  # (10000, 28, 28) uint8
    test_labels: np.ndarray  # (10000,) uint8
    location: str
    sha256: dict[str, str]


def cache_dir() -> Path:
    base = os.environ.get(ENV_CACHE_DIR) or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cnn-bench"
    return Path(base)


# --- the IDX format -------------------------------------------------------------------------------------------
# magic: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions; then one big-endian
# uint32 per dimension; then the values, row-major.


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse one IDX file's (decompressed) bytes into a uint8 array."""
    if len(data) < 4:
        raise DataError(f"{name}: truncated: {len(data)} bytes, too short for an IDX header")
    zero, dtype_code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or dtype_code != 0x08 or not 1 <= ndim <= 4:
        raise DataError(f"{name}: not an unsigned-byte IDX file (magic {data[:4].hex()}, expected 000008 + ndim)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated header: {len(data)} bytes, expected at least {header}")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "trailing bytes"
        raise DataError(f"{name}: {what}: {len(data)} bytes, dimensions {dims} need {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_bytes(path: Path) -> bytes:
    """The decompressed bytes of ``path`` (``.gz`` or raw)."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"{path}: cannot read: {err}") from None


# --- finding and verifying -------------------------------------------------------------------------------------


def _file_in(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _complete(folder: Path) -> dict[str, Path] | None:
    found = {name: _file_in(folder, name) for name in FILES}
    return found if all(found.values()) else None


def what_is_there(folder: Path) -> str:
    """What ``folder`` holds, said plainly: why it is not a usable copy of the four files."""
    if not folder.exists():
        return "no such folder"
    if not folder.is_dir():
        return "a file, not a folder"
    nested = folder / "FashionMNIST" / "raw"
    have = [name for name in FILES if _file_in(folder, name) or _file_in(nested, name)]
    if not have:
        entries = sum(1 for _ in folder.iterdir())
        return "an empty folder" if not entries else f"a folder with none of the four files ({entries} other entries)"
    missing = [name for name in FILES if name not in have]
    return f"{len(have)} of the four files; missing {', '.join(missing)}"


def _download(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        target = folder / f"{name}.gz"
        if target.is_file():
            continue
        with urllib.request.urlopen(f"{DOWNLOAD_URL}{name}.gz", timeout=30) as response:
            write_atomically(target, response.read())
    return _complete(folder)


def locate(data_dir: str | os.PathLike | None = None, download: bool = True) -> dict[str, Path]:
    """The four files, from the first place that has all of them; DataError naming every place tried."""
    tried: list[str] = []
    places = []
    if data_dir is not None:
        places.append((Path(data_dir), "--data-dir"))
    elif os.environ.get(ENV_DATA_DIR):
        places.append((Path(os.environ[ENV_DATA_DIR]), f"${ENV_DATA_DIR}"))
    places += [(cache_dir() / "fashion-mnist", "cache"), (DEBIAN_DIR, "Debian package dataset-fashion-mnist")]
    for folder, label in places:
        # torchvision's layout, which d2l's load_data_fashion_mnist leaves: <root>/FashionMNIST/raw/*.gz
        found = _complete(folder) or _complete(folder / "FashionMNIST" / "raw")
        if found:
            return found
        there = what_is_there(folder)
        tried.append(f"{folder} ({label}): {there}")
        if label in ("--data-dir", f"${ENV_DATA_DIR}"):  # an explicit choice is not silently replaced by another copy
            raise DataError(f"{label} {folder}: {there}; it needs the four IDX files "
                            f"({', '.join(FILES)}, gzipped or not), e.g. those of {DEBIAN_DIR}")  # fmt: skip
    if download and data_dir is None:
        try:
            return _download(cache_dir() / "fashion-mnist")
        except OSError as err:
            tried.append(f"download from {DOWNLOAD_URL}: {err}")
    raise DataError(
        "Fashion-MNIST not found; tried " + "; ".join(tried) + ". Fix: `apt-get install dataset-fashion-mnist`, "
        "or pass --data-dir (or set $FASHION_MNIST_DIR) to a folder holding the four IDX files, or go online"
    )


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def _load_verified() -> dict:
    try:
        return json.loads((cache_dir() / "verified.json").read_text())
    except (OSError, ValueError):
        return {}


def _save_verified(verified: dict) -> None:
    try:  # a cache that cannot be written costs a re-check next time, nothing more
        write_atomically(cache_dir() / "verified.json", json.dumps(verified, indent=1, sort_keys=True))
    except OSError:
        pass


def load(data_dir: str | os.PathLike | None = None, download: bool = True, verify: bool = True) -> RawFashionMNIST:
    """Find, verify and parse the four files."""
    paths = locate(data_dir, download)
    verified = _load_verified()
    arrays, sums, changed = {}, {}, False
    for name, path in paths.items():
        data = read_idx_bytes(path)
        size, sha = FILES[name]
        if verify:
            stamp = _stamp(path)
            if verified.get(stamp) != sha:
                actual = hashlib.sha256(data).hexdigest()
                if actual != sha:
                    raise DataError(
                        f"{path}: checksum mismatch: sha256 of the decompressed bytes is {actual[:16]}..., "
                        f"expected {sha[:16]}... (a corrupt or different file; delete it or point --data-dir elsewhere)"
                    )
                verified[stamp], changed = sha, True
        arrays[name] = parse_idx(data, str(path))
        sums[name] = sha
    if changed:
        _save_verified(verified)
    for split in ("train", "t10k"):
        images, labels = arrays[f"{split}-images-idx3-ubyte"], arrays[f"{split}-labels-idx1-ubyte"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"{paths[f'{split}-images-idx3-ubyte']}: shape {images.shape} does not match labels {labels.shape}"
            )
    return RawFashionMNIST(
        arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"],
        arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"],
        str(next(iter(paths.values())).parent), sums,
    )  # fmt: skip
