"""The jobs of ``--executor slurm`` once submitted: the ledger that names them, their states, and each run's status
when its job has ended.

Every job submitted for a records folder is kept in ``<out>/.slurm/jobs.tsv``, so that a later command (after
``--no-wait``, or after the watching one was stopped) watches the runs whose jobs are still queued or running
rather than submitting them twice. The watcher polls with one ``squeue`` (and ``scontrol`` for a job that has left
the queue: finished jobs stay in the controller for MinJobAge; no accounting database is needed). A job that ended
without a record gets a ``timeout`` or ``crashed`` record here, with SLURM's state and reason and its last lines.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from benchmarks.schema import records
from benchmarks.schema.config import RunConfig

POLL_SECONDS = 2.0
TAIL_LINES = 20


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


# the states of squeue(1) in which a job has not ended: SIGNALING is a preempted job in its grace time (submitit's
# signal sent; the requeue follows), STOPPED a suspended one, REQUEUE_* and RESV_DEL_HOLD held for a later start
RUNNING = {"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT"}
ACTIVE = {*RUNNING, "PENDING", "CONFIGURING", "SUSPENDED", "STOPPED", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD",
          "RESV_DEL_HOLD", "RESIZING", "POWER_UP_NODE"}  # fmt: skip


def _tail(job) -> list[str]:
    text = ""
    for read in (job.stdout, job.stderr):
        try:
            text += read() or ""
        except Exception:  # a job that never started has no log
            pass
    return text.splitlines()[-TAIL_LINES:]


LEDGER = "jobs.tsv"  # in <out>/.slurm: lines "record path (relative to <out>) TAB job id", the newest line winning
# (not .json: a folder of records is read as every .json under it)


def _ledger(out: Path) -> dict[str, str]:
    """Each record path -> the SLURM job last submitted to write it."""
    try:
        lines = (out / ".slurm" / LEDGER).read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split("\t", 1) for line in lines if "\t" in line)


def remember(out: Path, jobs: dict[str, str]) -> None:
    """Append ``jobs`` (record path -> job id) to the ledger, in one write: a later command finds them there."""
    folder = out / ".slurm"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LEDGER, "a") as ledger:
        ledger.write("".join(f"{path}\t{job}\n" for path, job in jobs.items()))


def run_label(config: RunConfig) -> str:
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
            running.append((run_label(config), job, (config, path)))
        else:
            settle(run_label(config), job, config, path, state, reason, failed_record, say)
    return running


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
            if seen.get(job, ("",))[0] in RUNNING and state in ("PENDING", "REQUEUED", "REQUEUE_HOLD"):
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
