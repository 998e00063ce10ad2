"""``--executor slurm``: the planned runs that are not done, as one SLURM job array, one run per job (submitit);
with ``--ddp``, as one job of N ranks that runs them all under torchrun, each data-parallel.

The way clusters run sweeps (TorchBench through submitit, fairseq and Hydra's launcher, MLPerf's sbatch): every run
is queued, timed and ended on its own. Each job runs exactly what an isolated run's child runs
(``benchmarks.run.slurm_jobs``), so it writes its own record into the same folder, atomically, never over a
finished one. The submitting command watches the jobs (one ``squeue`` a poll, and ``scontrol`` for a job that has
left the queue: no accounting database is needed) until they end, or returns at once with ``--no-wait``. A
preempted job is requeued (submitit's checkpointing) and starts its run again; a job that ends without a record
(cancelled, killed for time, a node failure, preempted where the cluster cancels rather than requeues) gets a
``timeout`` or ``crashed`` record from here, with SLURM's state and reason and the job's last lines; the same
command again submits only what is not done.

The command plans on the machine it runs on (the compute path, the machine's folder of records): submit from a
machine like the partition's nodes. A job on a node that is not that machine refuses to run (``MachineMismatch``)
rather than file its record under the wrong machine."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import time
from pathlib import Path

from benchmarks import records
from benchmarks.errors import UsageError
from benchmarks.run import isolation
from benchmarks.run.config import RunConfig
from benchmarks.run.options import RunOptions

POLL_SECONDS = 2.0
TAIL_LINES = 20
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
    for flag, value in (("--slurm-time", args.slurm_time), ("--slurm-gpus-per-job", args.slurm_gpus_per_job),
                        ("--slurm-cpus-per-job", args.slurm_cpus_per_job)):  # fmt: skip
        if value is not None and not value > 0:
            raise UsageError(f"{flag} must be positive, not {value}")
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


def _states(job_ids: list[str]) -> dict[str, tuple[str, str]]:
    """(state, reason) of each job: one ``squeue`` for those queued or running, ``scontrol`` for a job that has left
    the queue (finished jobs stay in the controller for MinJobAge); ("UNKNOWN", "") where neither knows it."""
    states = {}
    queued = subprocess.run(["squeue", "-h", "-r", "-j", ",".join(job_ids), "-o", "%i|%T|%r"], capture_output=True,
                            text=True)  # fmt: skip
    for line in queued.stdout.splitlines():
        job, _, rest = line.strip().partition("|")
        state, _, reason = rest.partition("|")
        if job in job_ids:
            states[job] = (state, reason)
    for job in job_ids:
        if job not in states:
            shown = subprocess.run(["scontrol", "-o", "show", "job", job], capture_output=True, text=True)
            fields = dict(part.split("=", 1) for part in shown.stdout.split() if "=" in part)
            states[job] = (fields.get("JobState", "UNKNOWN"), fields.get("Reason", ""))
    return states


ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "STAGE_OUT"}


def _tail(job) -> list[str]:
    text = ""
    for read in (job.stdout, job.stderr):
        try:
            text += read() or ""
        except Exception:  # a job that never started has no log
            pass
    return text.splitlines()[-TAIL_LINES:]


def ddp_ranks(args: RunOptions, device: str) -> int:
    """The ranks of a ``--ddp`` job: its GPUs on CUDA, its CPUs on a CPU (torchrun gives each one thread)."""
    gpu = device.startswith("cuda")
    flag, ranks = ("--slurm-gpus-per-job", args.slurm_gpus_per_job) if gpu else ("--slurm-cpus-per-job",
                                                                              args.slurm_cpus_per_job)  # fmt: skip
    if not ranks or ranks < 2:
        raise UsageError(f"--executor slurm --ddp on {device}: one job of N ranks, one per {'GPU' if gpu else 'CPU'}, "
                         f"needs {flag} N with N >= 2 (it is {ranks})")  # fmt: skip
    return ranks


SUBMISSION_ONLY = {"executor", "no_wait", "slurm_partition", "slurm_time", "slurm_gpus_per_job", "slurm_cpus_per_job",
                   "slurm_options"}  # fmt: skip
FLAG = {"recipe_parts": "--recipe-set", "imports": "--import"}


def suite_argv(args: RunOptions) -> list[str]:
    """``args`` as the ``python -m benchmarks run`` arguments that ask for the same suite in one process (what a
    ``--ddp`` job runs under torchrun): every option but the submission's, the paths made absolute."""
    import dataclasses

    argv = []
    for f in dataclasses.fields(RunOptions):
        value, flag = getattr(args, f.name), FLAG.get(f.name, "--" + f.name.replace("_", "-"))
        if f.name in SUBMISSION_ONLY or value is None or value is False or value == ():
            continue
        if f.name == "compute":
            for name, part in value.items():
                if isinstance(part, bool):
                    argv.append(f"--{'' if part else 'no-'}{name.replace('_', '-')}")
                elif part is not None:
                    argv += [f"--{name.replace('_', '-')}", str(part)]
        elif f.name in ("out", "data_dir"):
            argv += [flag, str(Path(value).resolve())]
        elif f.name in FLAG:  # repeatable: the flag before each value
            for item in value:
                argv += [flag, isolation.import_spec(item) if f.name == "imports" else item]
        elif isinstance(value, tuple):
            argv += [flag, *map(str, value)]
        elif value is True:
            argv.append(flag)
        else:
            argv += [flag, str(value)]
    if args.isolate is False:
        argv.append("--no-isolate")
    return argv


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


LEDGER = "jobs.tsv"  # in <out>/.slurm: lines "record path (relative to <out>) TAB job id", the newest line winning
# (not .json: a folder of records is read as every .json under it)


def _ledger(out: Path) -> dict[str, str]:
    """Each record path -> the SLURM job last submitted to write it."""
    try:
        lines = (out / ".slurm" / LEDGER).read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split("\t", 1) for line in lines if "\t" in line)


def _remember(out: Path, jobs: dict[str, str]) -> None:
    """Append ``jobs`` (record path -> job id) to the ledger, in one write: a later command finds them there."""
    folder = out / ".slurm"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LEDGER, "a") as ledger:
        ledger.write("".join(f"{path}\t{job}\n" for path, job in jobs.items()))


def _label(config: RunConfig) -> str:
    return f"{config.arch} seed {config.seed}"


def in_flight(pending: list[tuple[RunConfig, Path]], out: Path, failed_record, say=print) -> list:
    """The runs of ``pending`` that an earlier command's job (the ledger's) still holds, queued or running, as
    watch entries; a run whose earlier job has ended without a finished record is settled here (its failed record
    written, as the watcher would have), so that it is submitted again."""
    import submitit

    ledger = _ledger(out)
    known = [(config, path, ledger[str(path.relative_to(out))]) for config, path in pending
             if str(path.relative_to(out)) in ledger]  # fmt: skip
    states = _states(sorted({job for _, _, job in known})) if known else {}
    running = []
    for config, path, job_id in known:
        job = submitit.SlurmJob(folder=out / ".slurm" / "%j", job_id=job_id)
        state, reason = states[job_id]
        if state in ACTIVE:
            running.append((_label(config), job, (config, path)))
        else:
            settle(_label(config), job, config, path, state, reason, failed_record, say)
    return running


def submit(pending: list[tuple[RunConfig, Path]], device: str, args: RunOptions, out: Path, failed_record,
           say=print, ranks: int = 1) -> list[tuple[str, str]]:  # fmt: skip
    """Submit ``pending`` as one job array, or (``--ddp``) as one job of ``ranks`` ranks that runs them all, less
    the runs an earlier command's jobs still hold; watch them all to the end (unless ``--no-wait``); (run, status)
    of each."""
    import dataclasses

    import submitit

    from benchmarks.run.slurm_jobs import DataParallelSuite, OneRun

    running = in_flight(pending, out, failed_record, say)
    if running:
        held = sorted({job.job_id for _, job, _ in running})
        say(f"{len(running)} run(s) still queued or running in SLURM job(s) {', '.join(held)}: not submitted again"
            + ("" if args.no_wait else ", watched"))  # fmt: skip
    busy = {path for _, _, (_, path) in running}
    fresh = [(config, path) for config, path in pending if path not in busy]
    entries = list(running)
    if fresh:
        executor = _executor(args, out / ".slurm")
        labels = [_label(c) for c, _ in fresh]
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
        _remember(out, {str(path.relative_to(out)): job.job_id for (_, path), job in zip(fresh, jobs)})
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
    return watch(entries, device, failed_record, say)


def watch(entries, device: str, failed_record, say=print) -> list[tuple[str, str]]:
    """Poll the jobs until none is queued or running, printing the counts when they change; then each run's
    status, from its record, or the failed record written here for a job that left none."""
    seen, last = {}, None
    names = {}  # job id -> the runs it holds (a --ddp job holds them all)
    for label, job, _ in entries:
        names.setdefault(job.job_id, []).append(label)
    while True:
        polled = [job for job in names if seen.get(job, ("",))[0] in ("", *ACTIVE)]
        for job, (state, reason) in _states(polled).items():
            if seen.get(job, ("",))[0] in ("RUNNING", "COMPLETING") and state in ("PENDING", "REQUEUED"):
                say(f"  {', '.join(names[job])}: SLURM requeued job {job} (preempted, or requeued by hand); it starts "
                    "again from its first step", flush=True)  # fmt: skip
            seen[job] = (state, reason)
        counts = {}
        for state, _ in seen.values():
            counts[state] = counts.get(state, 0) + 1
        text = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
        if text != last:
            say(f"  slurm: {text}", flush=True)
            last = text
        if not any(state in ACTIVE for state, _ in seen.values()):
            break
        time.sleep(POLL_SECONDS)
    return [(label, settle(label, job, config, path, *seen[job.job_id], failed_record, say))
            for label, job, (config, path) in entries]  # fmt: skip


def settle(label: str, job, config: RunConfig, path: Path, state: str, reason: str, failed_record, say) -> str:
    """The status of a run whose job has ended: its record's, or that of the ``timeout`` or ``crashed`` record
    written here, with SLURM's state and reason and the job's last lines, for a job that left none."""
    record, _ = records.read_record(path) if path.exists() else (None, None)
    # submitit ends a job near its time limit itself (SIGUSR2: "timed-out too many times", as max_num_timeout is
    # 0), raising in whatever the job was doing: SLURM then says FAILED, and a run caught mid-training records it
    # as an error; the log or that error says why
    ended_by_submitit = record is not None and "timed-out" in (record.error or "")
    if record is not None and record.status in (*records.DONE, "oom", "error") and not ended_by_submitit:
        return record.status
    tail = _tail(job)
    timed_out = (state.startswith("TIMEOUT") or reason == "TimeLimit" or ended_by_submitit
                 or any("timed-out" in t for t in tail))  # fmt: skip
    status = "timeout" if timed_out else "crashed"
    if state == "UNKNOWN":  # a task cancelled before the scheduler split it off its array leaves no trace
        detail = (f"SLURM job {job.job_id} ended, and SLURM no longer knows it (cancelled before it started, or "
                  "forgotten after the controller's MinJobAge)")  # fmt: skip
    else:
        detail = f"SLURM job {job.job_id} ended {state}" + (f" ({reason})" if reason and reason != "None" else "")
    if timed_out and not state.startswith("TIMEOUT"):
        detail += ": its time limit (--slurm-time) was reached"
    say(f"  {label}: {status}: {detail}")
    if not records.write_first(path, failed_record(config, status, detail, tail)):
        record, _ = records.read_record(path)  # a finished record appeared meanwhile: it stays
        return record.status if record else status
    return status
