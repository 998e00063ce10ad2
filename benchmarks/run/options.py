"""``RunOptions``: what ``python -m benchmarks run`` was asked for, typed; the command line turns its arguments into
one of these, and nothing below it sees an argparse ``Namespace``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunOptions:
    arch: tuple[str, ...] = ()  # names or shell patterns; () for the profile's entries
    profile: str | None = None  # None: full on CUDA, cpu on a CPU
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    recipe: str | None = None  # "d2l" or "fast"; None: the profile's
    recipe_parts: tuple[str, ...] = ()  # FIELD=VALUE, --recipe-set
    resolution: int | None = None
    device: str | None = None
    seeds: tuple[int, ...] = ()  # (): the profile's
    train_subset: int | None = None
    test_subset: int | None = None
    compute: dict = field(default_factory=dict)  # ComputePath field -> explicit value (None: not given)
    exact: bool = False
    synthetic: bool = False
    data_dir: str | None = None
    out: str = "results/runs"
    force: bool = False
    oom_retry: bool = False
    ddp: bool = False
    isolate: bool | None = None  # None: on CUDA only
    run_timeout: float | None = None
    max_minutes: float | None = None
    imports: tuple[str, ...] = ()
    executor: str = "local"  # "slurm": the runs not done become one SLURM job array (benchmarks.run.cluster)
    slurm_partition: str | None = None
    slurm_time: float | None = None  # minutes a job may run
    slurm_gpus_per_job: int | None = None
    slurm_cpus_per_job: int | None = None
    slurm_options: tuple[str, ...] = ()  # KEY=VALUE, any other sbatch option
    no_wait: bool = False  # submit, print the job ids, return
