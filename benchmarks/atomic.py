"""Write a file whole or not at all: a temporary file in the same folder, flushed to disk, then moved into place."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: str | os.PathLike, data: str | bytes, replace: bool = True) -> Path:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never half of one.

    With ``replace=False`` the file is linked into place, which fails with FileExistsError when ``path`` exists:
    an existing file is never overwritten, even by a concurrent writer.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
