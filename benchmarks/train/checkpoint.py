"""A run's state after its last saved epoch, so that a run stopped part-way (a GPU slot's command at its limit,
Ctrl-C, a SLURM job preempted) goes on from there when the same command runs it again, not from its first step.

The file sits beside the run's record (``<record stem>.partial.pt``), is replaced atomically, and is removed once
the run has an outcome. It holds everything a step changes and everything the run has measured so far (the
trainer's state, the random generators, the epochs' logs, the evaluation points and the step clock: ``harness``
says what), so that a resumed run trains exactly as the run would have unstopped (tested). It is read back only
by the same configuration at the same batch size from the same code (``key``): anything else starts afresh, and
counts for nothing in the time a run has left (``resumable``).

A 129 M-parameter VGG-11 is half a gigabyte to write, so a run saves after an epoch only when ``EVERY_SECONDS``
have passed since its start or its last save, and never after its last epoch.
"""

from __future__ import annotations

import dataclasses
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from benchmarks.atomic import write_atomically
from benchmarks.measure import machine
from benchmarks.schema.config import RunConfig

SUFFIX = ".partial.pt"
EVERY_SECONDS = 30.0


def path_for(record: Path) -> Path:
    """The checkpoint of the run whose record goes to ``record``."""
    record = Path(record)
    return record.with_name(record.name.removesuffix(".json") + SUFFIX)


def key(config: RunConfig, batch_size: int, git: dict | None) -> dict:
    """What a saved state must match to be resumed: the run's configuration, the batch it trains at (an
    out-of-memory retry trains at half), the code (``git``: the commit and whether the tree had changes, as the
    run's fingerprint read them)."""
    return {"config": dataclasses.asdict(config), "batch_size": batch_size, "git": git}


@dataclass
class Checkpoint:
    path: Path
    key: dict  # what a checkpoint must match to be resumed: the configuration, the batch, the code
    every: float | None = None  # seconds between saves (None: EVERY_SECONDS)
    last: float = field(default_factory=time.monotonic)  # the run's start, then its last save

    def due(self) -> bool:
        return time.monotonic() - self.last >= (EVERY_SECONDS if self.every is None else self.every)

    def save(self, state: dict) -> float:
        """Write ``state`` (with the key) whole or not at all; the seconds it took."""
        start = time.monotonic()
        buffer = io.BytesIO()
        torch.save({"key": self.key, **state}, buffer)
        write_atomically(self.path, buffer.getvalue())
        self.last = time.monotonic()
        return self.last - start

    def load(self) -> dict | None:
        """The saved state where there is one of this run (on the CPU; the caller moves it), else None."""
        state = read(self.path)
        return state if state is not None and state.get("key") == self.key else None


def read(path: Path, mmap: bool = False) -> dict | None:
    """A checkpoint's contents (``mmap``: tensors left on disk, for its epoch count); None where it is missing or
    unreadable (a file cut short by a full disk is no state to resume from), or holds anything but tensors and
    plain values: loaded with ``weights_only``, a file in the records' folder runs no code of its own."""
    if not Path(path).is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception:  # noqa: BLE001 - whatever broke it, the run starts afresh
        return None


def discard(record: Path) -> None:
    """Remove the checkpoint of the run whose record goes to ``record``, where there is one."""
    path_for(record).unlink(missing_ok=True)


def resumable(record: Path, config: RunConfig) -> dict | None:
    """The saved state of ``config``'s run, whose record goes to ``record``, where the run would resume from it
    (tensors left on disk: for what it measured, its ``epochs`` and ``segments``); None where there is none, or it
    is another configuration's or another commit's. At whatever batch it saved: a run retried at half its batch
    after running out of memory resumes at that batch."""
    state = read(path_for(record), mmap=True)
    saved = state.get("key") if state else None
    if not isinstance(saved, dict) or saved != key(config, saved.get("batch_size"), machine.git_state()):
        return None
    return state
