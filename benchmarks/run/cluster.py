"""``--executor slurm``: the planned runs that are not done, as one SLURM job array, one run per job (submitit);
with ``--ddp``, as one job of N ranks that runs them all under torchrun, each data-parallel.

The way clusters run sweeps (TorchBench through submitit, fairseq and Hydra's launcher, MLPerf's sbatch): every run
is queued, timed and ended on its own. Each job runs exactly what an isolated run's child runs
(``benchmarks.run.slurm_jobs``), so it writes its own record into the same folder, atomically, never over a
finished one. The submitting command watches the jobs until they end (``benchmarks.run.slurm_watch``), or returns
at once with ``--no-wait``. A preempted job is requeued (submitit's checkpointing) and starts its run again; a job
that ends without a record (cancelled, killed for time, a node failure, preempted where the cluster cancels rather
than requeues) gets a ``timeout`` or ``crashed`` record with SLURM's state and reason and the job's last lines; the
same command again submits only what is not done, and watches what an earlier one submitted that still runs.

The command plans on the machine it runs on (the compute path, the machine's folder of records): submit from a
machine like the partition's nodes. A job on a node that is not that machine refuses to run (``MachineMismatch``)
rather than file its record under the wrong machine."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

from benchmarks.errors import UsageError
from benchmarks.run import isolation, options, slurm_watch
from benchmarks.run.launcher import Launcher, Suite
from benchmarks.run.options import RunOptions
from benchmarks.schema import records
from benchmarks.schema.config import RunConfig

DEFAULT_MINUTES = 60


def _sinfo(*fields: str) -> list[str]:
    done = subprocess.run(["sinfo", "-h", "-o", " ".join(fields)], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise UsageError(f"--executor slurm: sinfo failed: {(done.stderr or done.stdout).strip().splitlines()[:1]}")
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def check(args: RunOptions) -> None:
    """Everything that can be wrong with a submission, before anything is submitted; UsageError (exit 2) else."""
    if importlib.util.find_spec("submitit") is None:
        raise UsageError("--executor slurm needs submitit: pip install submitit (or the project's [cluster] extra)")
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        raise UsageError("--executor slurm: no SLURM here (sbatch and sinfo are not on PATH)")
    if args.run_timeout:
        raise UsageError("--run-timeout limits a local isolated run; on SLURM each job's limit is --slurm-time")
    if args.ddp and args.isolate:
        raise UsageError("--ddp runs every rank in the one process torchrun started; it cannot be --isolate'd")
    try:
        options.check(args)  # each option's own check, --slurm-time and the job sizes among them
    except ValueError as err:
        raise UsageError(str(err)) from None
    for option in args.slurm_options:
        key, sep, _ = option.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--slurm-option {option!r}: expected KEY=VALUE (an sbatch option without its dashes)")
    if args.slurm_partition:
        partitions = [p.rstrip("*") for p in _sinfo("%P")]
        if args.slurm_partition not in partitions:
            raise UsageError(f"--slurm-partition {args.slurm_partition}: no such partition; this cluster has "
                             f"{', '.join(partitions) or 'none'}")  # fmt: skip


def over_time_limit(pending: list[tuple[RunConfig, Path]], estimates: list[float | None], args: RunOptions) -> str:
    """A warning where this machine's records say a job needs more than its ``--slurm-time`` (a run each, or all of
    them in one ``--ddp`` job): it would queue, run and end as ``timeout``. "" where nothing is known to exceed it."""
    limit = (args.slurm_time or DEFAULT_MINUTES) * 60
    flag = f"--slurm-time {args.slurm_time or DEFAULT_MINUTES:g} min" + ("" if args.slurm_time else " (the default)")
    if args.ddp:
        known = [e for e in estimates if e is not None]
        if known and sum(known) > limit:
            return (f"warning: the one --ddp job needs about {sum(known) / 60:,.0f} min for its {len(known)} "
                    f"estimated run(s) by this machine's records, over {flag}: it would end as timeout; raise "
                    "--slurm-time")  # fmt: skip
        return ""
    over = [(c, e) for (c, _), e in zip(pending, estimates) if e is not None and e > limit]
    if not over:
        return ""
    named = ", ".join(f"{c.arch} seed {c.seed} (about {e / 60:,.0f} min)" for c, e in over)
    return (f"warning: {len(over)} run(s) need more than {flag} by this machine's records: {named}; they would end "
            "as timeout; raise --slurm-time")  # fmt: skip


def ddp_ranks(args: RunOptions, device: str) -> int:
    """The ranks of a ``--ddp`` job: its GPUs on CUDA, its CPUs on a CPU (torchrun gives each one thread)."""
    gpu = device.startswith("cuda")
    flag, ranks = ("--slurm-gpus-per-job", args.slurm_gpus_per_job) if gpu else ("--slurm-cpus-per-job",
                                                                              args.slurm_cpus_per_job)  # fmt: skip
    if not ranks or ranks < 2:
        raise UsageError(f"--executor slurm --ddp on {device}: one job of N ranks, one per {'GPU' if gpu else 'CPU'}, "
                         f"needs {flag} N with N >= 2 (it is {ranks})")  # fmt: skip
    return ranks


def suite_argv(args: RunOptions) -> list[str]:
    """``args`` as the ``python -m benchmarks run`` arguments that ask for the same suite in one process (what a
    ``--ddp`` job runs under torchrun): every option but the submission's, the paths made absolute."""
    return options.to_argv(args)


def _executor(args: RunOptions, folder: Path):
    import submitit

    # max_num_timeout 0: a job at its time limit is not requeued (it would only reach it again); a preempted one is
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm", slurm_max_num_timeout=0)
    parameters = {"name": "cnn-bench", "timeout_min": int(args.slurm_time or DEFAULT_MINUTES),
                  "stderr_to_stdout": True}  # fmt: skip
    if args.slurm_partition:
        parameters["slurm_partition"] = args.slurm_partition
    if args.slurm_cpus_per_job:
        parameters["cpus_per_task"] = args.slurm_cpus_per_job
    if args.slurm_gpus_per_job:
        parameters["gpus_per_node"] = args.slurm_gpus_per_job
    extra = dict(option.split("=", 1) for option in args.slurm_options)
    if extra:
        parameters["slurm_additional_parameters"] = extra
    executor.update_parameters(**parameters)
    return executor


def submit(pending: list[tuple[RunConfig, Path]], device: str, args: RunOptions, out: Path, failed_record,
           say=print, ranks: int = 1) -> list[tuple[str, str]]:  # fmt: skip
    """Submit ``pending`` as one job array, or (``--ddp``) as one job of ``ranks`` ranks that runs them all, less
    the runs an earlier command's jobs still hold; watch them all to the end (unless ``--no-wait``); (run, status)
    of each."""
    import dataclasses

    import submitit

    from benchmarks.run.slurm_jobs import DataParallelSuite, OneRun

    running = slurm_watch.in_flight(pending, out, failed_record, say)
    if running:
        held = sorted({job.job_id for _, job, _ in running})
        say(f"{len(running)} run(s) still queued or running in SLURM job(s) {', '.join(held)}: not submitted again"
            + ("" if args.no_wait else ", watched"))  # fmt: skip
    busy = {path for _, _, (_, path) in running}
    fresh = [(config, path) for config, path in pending if path not in busy]
    entries = list(running)
    if fresh:
        executor = _executor(args, out / ".slurm")
        labels = [slurm_watch.run_label(c) for c, _ in fresh]
        try:
            if args.ddp:
                executor.update_parameters(nodes=1, tasks_per_node=1)  # one torchrun, which starts the ranks
                job = executor.submit(DataParallelSuite(), ranks, suite_argv(args), fresh[0][0].machine, device)
                jobs = [job] * len(fresh)
            else:
                flags = isolation.child_flags(args, replace=args.force)
                configs = [json.dumps(dataclasses.asdict(c)) for c, _ in fresh]
                jobs = executor.map_array(OneRun(), configs, [str(p) for _, p in fresh], [device] * len(fresh),
                                          [flags] * len(fresh))  # fmt: skip
        except submitit.core.utils.FailedJobError as err:
            what = "job" if args.ddp else "array"
            raise UsageError(f"sbatch refused the {what}: {str(err).strip().splitlines()[-1]}") from None
        slurm_watch.remember(out, {str(path.relative_to(out)): job.job_id for (_, path), job in zip(fresh, jobs)})
        first = jobs[0].job_id.split("_")[0]
        if args.ddp:
            say(f"submitted {len(fresh)} run(s) as one SLURM job {first}, each run data-parallel over its {ranks} "
                f"ranks (torchrun): {', '.join(labels)}")  # fmt: skip
        else:
            say(f"submitted {len(jobs)} run(s) as SLURM job array {first}: "
                + ", ".join(f"{label} = {job.job_id}" for label, job in zip(labels, jobs)))  # fmt: skip
        entries += list(zip(labels, jobs, fresh))
    if args.no_wait:
        ids = ",".join(sorted({job.job_id.split("_")[0] for _, job, _ in entries}))
        say(f"not waiting: `squeue -j {ids}` shows them; the same command again watches those still running, records "
            "any that ended without a record and submits only what is not done")  # fmt: skip
        return [(label, "submitted") for label, _, _ in entries]
    return slurm_watch.watch(entries, device, failed_record, say)


class SlurmLauncher(Launcher):
    """The runs not done as one SLURM job array, or (``--ddp``) one job of ``ranks`` ranks that runs them all."""

    isolated = True  # a job is a process of its own: the parent sizes no user entry itself

    def __init__(self, device: str) -> None:
        self.device = device

    def check(self, args: RunOptions) -> None:
        check(args)
        if args.ddp:
            self.ranks = ddp_ranks(args, self.device)
            if self.device == "cpu":
                import torch

                torch.set_num_threads(1)  # torchrun gives each rank one thread: the machine its records will name

    def launch(self, suite: Suite) -> list[tuple[str, str]]:
        """The same statuses as a local suite: skipped where done, else what the jobs ended as (or submitted)."""
        from benchmarks.run.one import failed_record, load_data

        p, args, out = suite.plan, suite.args, suite.out
        outcomes, pending, pending_estimates = [], [], []
        for config, estimate in zip(p.configs, suite.estimates):
            path = out / config.file_name()
            if not args.force and path.exists() and records.is_done(path, config):
                print(f"{config.arch} seed {config.seed}: done already on {p.machine} ({path.name}), not submitted")
                outcomes.append((f"{config.arch} seed {config.seed}", "skipped"))
            else:
                pending.append((config, path))
                pending_estimates.append(estimate)
        warning = over_time_limit(pending, pending_estimates, args)
        if warning:
            print(warning, flush=True)
        data = {}

        def failed(config, status, detail, tail):
            if "set" not in data:  # the data only where a record must be written here: its sizes go in it
                data["set"] = load_data(args.synthetic, args.data_dir, "cpu")
            return failed_record(config, data["set"], p.device, status, detail, output_tail=tail)

        if pending:
            outcomes += submit(pending, p.device, args, out, failed, ranks=self.ranks)
        else:
            print("nothing to submit: every planned run is done")
        return outcomes


def launcher(args: RunOptions, device: str) -> SlurmLauncher:
    return SlurmLauncher(device)
