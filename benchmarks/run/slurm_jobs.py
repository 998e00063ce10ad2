"""What a SLURM job runs (``--executor slurm``): one run of a sweep's job array, or one data-parallel suite under
torchrun. Imported by the submitting command and unpickled in the job, both with submitit installed.

Both are submitit ``Checkpointable``s, so a preempted job is requeued by submitit (its signal handler calls
``scontrol requeue``) rather than lost. Its checkpoint is the submission itself, and the run's own: the requeued
run goes on from the last epoch it saved (``benchmarks.train.checkpoint``; a run saves at most every 30 s), its
step clock and time to accuracy the sums of its processes' steps, and its record says after which epochs it
resumed and how many times SLURM restarted the job (``env["scheduler"]``, from ``SLURM_RESTART_COUNT``). A job at
its time limit is not requeued (the executor's ``max_num_timeout`` is 0): it would only reach the limit again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import submitit

PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # where ``python -m benchmarks`` finds the package


class MachineMismatch(RuntimeError):
    """The job's node is not the machine the submitting command planned for."""


def check_machine(planned: str, device: str) -> None:
    """Refuse a node that is not the machine the submitting command planned for: its records would be filed, and
    compared, under the wrong machine."""
    from benchmarks.measure import machine

    here = machine.machine_slug(device)
    if here != planned:
        raise MachineMismatch(
            f"this node is {here}, the runs were planned on the submitting machine, {planned}: submit from a machine "
            "like the partition's nodes (e.g. inside `srun -p PARTITION ...`), with --slurm-cpus-per-job matching its "
            "threads"
        )


class OneRun(submitit.helpers.Checkpointable):
    """One job of a sweep's array: exactly an isolated run's child, its record written by it, never over a finished
    one; refused where the node is not the machine the run was planned for (its record would be filed under the
    wrong machine)."""

    def __call__(self, config_json: str, record: str, device: str, flags: list[str]) -> int:
        import json

        from benchmarks.run import isolation

        check_machine(json.loads(config_json)["machine"], device)
        return isolation.child_main(["--config", config_json, "--record", record, "--device", device, *flags])


class DataParallelSuite(submitit.helpers.Checkpointable):
    """One multi-GPU (or multi-CPU) job: the suite under torchrun with ``--ddp``, every planned run data-parallel
    over the job's ranks, rank 0 writing each record."""

    def __call__(self, ranks: int, suite_argv: list[str], planned: str, device: str) -> int:
        if device == "cpu":
            import torch

            torch.set_num_threads(1)  # what torchrun gives each rank on a CPU: the machine its records name
        check_machine(planned, device)
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(ranks),
                   "-m", "benchmarks", "run", *suite_argv]  # fmt: skip
        print("running: " + " ".join(command), flush=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_PARENT),
                                                                          os.environ.get("PYTHONPATH")]))}  # fmt: skip
        return subprocess.run(command, cwd=PACKAGE_PARENT, env=env).returncode
