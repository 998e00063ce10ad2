"""``--executor slurm``: the planned runs that are not done, as one SLURM job array, one run per job (submitit).

The way clusters run sweeps (TorchBench through submitit, fairseq and Hydra's launcher, MLPerf's sbatch): every run
is queued, timed and ended on its own. Each job runs exactly what an isolated run's child runs
(``benchmarks.run.isolation``), so it writes its own record into the same folder, atomically, never over a finished
one. The submitting command watches the jobs (``squeue``, and ``scontrol`` for a job that has left the queue: no
accounting database is needed) until they end, or returns at once with ``--no-wait``. A job that ends without a
record (cancelled, killed for time, a node failure, preempted) gets a ``timeout`` or ``crashed`` record from here,
with SLURM's state and reason and the job's last lines; the same command again submits only what is not done.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import time
from pathlib import Path

from benchmarks import records
from benchmarks.errors import UsageError
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
    if args.ddp:
        raise UsageError("--executor slurm with --ddp is not supported yet: run torchrun inside one sbatch job")
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


def run_job(config_json: str, record: str, device: str, flags: list[str]) -> int:
    """One SLURM job: exactly an isolated run's child (its record written by it, never over a finished one)."""
    from benchmarks.run import isolation

    return isolation.child_main(["--config", config_json, "--record", record, "--device", device, *flags])


def _state(job_id: str) -> tuple[str, str]:
    """(state, reason) of a job: from squeue while it is queued or running, else from scontrol (finished jobs stay
    in the controller for MinJobAge); ("UNKNOWN", "") when neither knows it."""
    queued = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T|%r"], capture_output=True, text=True)
    line = queued.stdout.strip().splitlines()
    if queued.returncode == 0 and line:
        state, _, reason = line[0].partition("|")
        return state, reason
    shown = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True)
    fields = dict(part.split("=", 1) for part in shown.stdout.split() if "=" in part)
    return fields.get("JobState", "UNKNOWN"), fields.get("Reason", "")


ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "STAGE_OUT"}


def _tail(job) -> list[str]:
    text = ""
    for read in (job.stdout, job.stderr):
        try:
            text += read() or ""
        except Exception:  # a job that never started has no log
            pass
    return text.splitlines()[-TAIL_LINES:]


def submit(pending: list[tuple[RunConfig, Path]], device: str, args: RunOptions, out: Path, failed_record,
           say=print) -> list[tuple[str, str]]:  # fmt: skip
    """Submit ``pending`` as one job array; watch it to the end (unless ``--no-wait``); (run, status) of each."""
    import dataclasses
    import json

    import submitit

    folder = out / ".slurm"
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm")
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
    flags = (["--synthetic"] if args.synthetic else []) + (["--data-dir", args.data_dir] if args.data_dir else [])
    flags += (["--oom-retry"] if args.oom_retry else []) + (["--replace"] if args.force else [])
    for spec in args.imports:
        flags += ["--import", spec]
    configs = [json.dumps(dataclasses.asdict(c)) for c, _ in pending]
    try:
        jobs = executor.map_array(run_job, configs, [str(p) for _, p in pending], [device] * len(pending),
                                  [flags] * len(pending))  # fmt: skip
    except submitit.core.utils.FailedJobError as err:
        raise UsageError(f"sbatch refused the array: {str(err).strip().splitlines()[-1]}") from None
    labels = [f"{c.arch} seed {c.seed}" for c, _ in pending]
    say(f"submitted {len(jobs)} run(s) as SLURM job array {jobs[0].job_id.split('_')[0]}: "
        + ", ".join(f"{label} = {job.job_id}" for label, job in zip(labels, jobs)))  # fmt: skip
    if args.no_wait:
        say(f"not waiting: `squeue -j {jobs[0].job_id.split('_')[0]}` shows them; when they end, the same command "
            "records any that ended without a record and resubmits only what is not done")  # fmt: skip
        return [(label, "submitted") for label in labels]
    return watch(list(zip(labels, jobs, pending)), device, failed_record, say)


def watch(entries, device: str, failed_record, say=print) -> list[tuple[str, str]]:
    """Poll the jobs until none is queued or running, printing the counts when they change; then each run's
    status, from its record, or the failed record written here for a job that left none."""
    seen, last = {}, None
    while True:
        states = {job.job_id: _state(job.job_id) for _, job, _ in entries if seen.get(job.job_id, ("",))[0] in
                  ("", *ACTIVE)}  # fmt: skip
        seen.update(states)
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
    outcomes = []
    for label, job, (config, path) in entries:
        record, _ = records.read_record(path) if path.exists() else (None, None)
        # submitit ends a job near its time limit itself (SIGUSR2: "timed-out and not checkpointable"), raising
        # in whatever the job was doing: SLURM then says FAILED, and a run caught mid-training records it as an
        # error; the log or that error says why
        ended_by_submitit = record is not None and "timed-out" in (record.error or "")
        if (
            record is not None
            and (record.status in records.DONE or record.status in ("oom", "error"))
            and not (ended_by_submitit)
        ):
            outcomes.append((label, record.status))
            continue
        state, reason = seen[job.job_id]
        tail = _tail(job)
        timed_out = (state.startswith("TIMEOUT") or reason == "TimeLimit" or ended_by_submitit
                     or any("timed-out" in t for t in tail))  # fmt: skip
        status = "timeout" if timed_out else "crashed"
        detail = f"SLURM job {job.job_id} ended {state}" + (f" ({reason})" if reason and reason != "None" else "")
        if timed_out and not state.startswith("TIMEOUT"):
            detail += ": its time limit (--slurm-time) was reached"
        say(f"  {label}: {status}: {detail}")
        failed = failed_record(config, status, detail, tail)
        if not records.write_first(path, failed):
            record, _ = records.read_record(path)
            outcomes.append((label, record.status if record else status))
            continue
        outcomes.append((label, status))
    return outcomes
