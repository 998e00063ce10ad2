"""One way to launch the suite's runs: a ``Launcher``, chosen once per suite from ``--executor`` (``EXECUTORS``).

A launcher says whether a run's code runs in a process of its own (``isolated``: the suite's parent then sizes no
user entry itself), checks what it can before anything is planned (``check``), and starts the planned runs,
returning each run's status (``launch``). Those that start one run at a time (``OneAtATime``: in this process, or
an isolated child) share the resume rule, the ``--max-minutes`` budget and the printing; each says only how one
run is started (``start``). torchrun is no launcher of its own: it starts the processes, and each rank's suite
runs its share (or, with ``--ddp``, every run data-parallel) in process.

A new executor is one module with a ``launcher(args, device)`` function, and its line in ``EXECUTORS``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

EXECUTORS = {  # --executor NAME -> the module whose ``launcher(args, device)`` makes its launcher
    "local": "benchmarks.run.local",  # this process, or each run in a child process of its own (--isolate)
    "slurm": "benchmarks.run.cluster",  # one SLURM job per run, as a job array (or one --ddp job of N ranks)
}


@dataclass
class Suite:
    """What every launcher is handed: the plan, where the records go, the options, the clock, the world."""

    plan: object  # benchmarks.run.plan.Plan
    out: Path
    args: object  # RunOptions
    started: float  # time.monotonic() at the suite's start
    world: object  # benchmarks.train.distributed.World
    estimates: list = field(default_factory=list)  # each planned run's seconds by the records (or None)
    finished: list = field(default_factory=list)  # the records read and written so far


class Launcher:
    isolated = False  # True: a run's code runs in a process of its own
    ranks = 1  # the ranks one run trains on, where the launcher decides it (a SLURM --ddp job)

    def check(self, args) -> None:
        """What is wrong with ``args`` for this launcher, before anything is planned: UsageError."""

    def launch(self, suite: Suite) -> list[tuple[str, str]]:
        """Start the planned runs; (run, status) of each."""
        raise NotImplementedError


def launcher_for(args, device: str) -> Launcher:
    """The suite's launcher, from ``--executor``: decided here, once."""
    return importlib.import_module(EXECUTORS[args.executor]).launcher(args, device)
