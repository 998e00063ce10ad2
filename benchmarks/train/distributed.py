"""Several processes under torchrun: the sweep split across ranks, or one model trained data-parallel.

torchrun (torch.distributed's elastic launcher) starts the processes and sets RANK, WORLD_SIZE and LOCAL_RANK;
without it the world is one process and nothing here does anything.

- Sweep sharding (the default under torchrun): the planned runs are dealt out by position, run ``i`` to rank
  ``i % world_size``; each rank trains its share on its own device (``cuda:LOCAL_RANK``, or the CPU) and writes its
  records with the usual atomic, never-overwriting writes. Rank 0 prints the summary once every rank is done, and
  every rank exits with the suite's status. A restarted sweep skips what is recorded, rank by rank.
- Data-parallel training (``--ddp``): every rank trains the same run with DistributedDataParallel; each global
  batch of the recipe's size is dealt out across ranks, gradients are averaged, the test set is evaluated in shards
  and the counts summed. Rank 0 writes the record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

# How long a rank waits in a collective for the others: minutes, not NCCL's default of hours, so that a rank that
# died or hangs ends every rank soon (a failed run is re-raised on its rank, and torchrun then stops the others)
COLLECTIVE_TIMEOUT = timedelta(minutes=15)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.size > 1


def world() -> World:
    """The world torchrun set up, or one process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


def backend(device: str) -> str:
    return "nccl" if device.startswith("cuda") else "gloo"


def bind_device(w: World, requested: str | None) -> None:
    """Under torchrun on CUDA, make this rank's GPU the current device before anything touches CUDA (the plan's
    device queries, the data): else every rank opens a context on GPU 0 first."""
    if w.active and (requested is None or requested.startswith("cuda")) and torch.cuda.is_available():
        torch.cuda.set_device(w.local_rank)


def init(w: World, device: str) -> None:
    if w.active and not dist.is_initialized():
        extra = {}
        if device.startswith("cuda"):
            torch.cuda.set_device(device)
            extra["device_id"] = torch.device(device)  # NCCL binds its communicator to this GPU, eagerly
        dist.init_process_group(backend(device), timeout=COLLECTIVE_TIMEOUT, **extra)


def shard(items: list, w: World) -> list:
    """This rank's share of the planned runs: every ``size``-th, from its rank on."""
    return items[w.rank :: w.size]


def gather(obj, w: World) -> list:
    """``obj`` from every rank, in rank order (a barrier too)."""
    if not w.active:
        return [obj]
    out = [None] * w.size
    dist.all_gather_object(out, obj)
    return out


def all_sum(values: list[float], device: str) -> list[float]:
    """Element-wise sums over ranks (metrics: loss sums, correct counts, examples)."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def all_max(value: float, device: str) -> float:
    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def finish() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
