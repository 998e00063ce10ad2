"""The run record: one typed definition, JSON in and out, one file per (machine, architecture, config, seed).

The dataclasses below are the schema. ``to_json`` writes one; ``from_json`` reads one back and checks every field
against its annotation (``decode``), so validation is derived from the types rather than listed by hand. Reading
never migrates: a record of schema 1 (before records named their machine) is refused with the command that
rewrites it (``python -m benchmarks.upgrade_records``).

A record is written to a temporary file in the same folder, flushed to disk, then linked to its final name:
``os.link`` fails when the name exists, so a finished run is never overwritten by accident, and a reader never
sees half a file. ``replace=True`` (``--force``) swaps the old record out with an atomic ``os.replace``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.atomic import write_atomically
from benchmarks.schema.config import RunConfig

SCHEMA_VERSION = 2
STATUSES = ("ok", "diverged", "oom", "error", "crashed", "timeout")
DONE = ("ok", "diverged")  # a resumed suite skips these; oom, error, crashed and timeout runs are tried again


@dataclass(frozen=True)
class EpochLog:
    """One epoch: its training metrics, the test accuracy after it, and its clocks."""

    epoch: int
    train_loss: float  # mean over the epoch's examples
    train_acc: float
    test_acc: float
    timed_examples: int  # training examples inside the steady-state clock (the run's first step is warm-up)
    timed_seconds: float  # that clock: training steps only, evaluation excluded
    train_examples_per_sec: float | None  # timed_examples / timed_seconds; None when nothing was timed
    eval_examples_per_sec: float | None
    wall_seconds: float  # the epoch's training and evaluation
    eval_seconds: float | None = None  # the test-set evaluation after the epoch


@dataclass(frozen=True)
class EvalPoint:
    """One evaluation of the test set, off the training clock: the evidence for time to accuracy."""

    epoch: float  # epochs done when it was taken (1.5: half-way through the second)
    examples: int  # training examples seen
    train_seconds: float  # training seconds so far, evaluation excluded (warm-up: see Final.tta_clock)
    test_acc: float


LN10 = math.log(10)  # the cross-entropy of a uniform guess over ten classes, label smoothing or not
PLATEAU_TOLERANCE = 0.01  # |loss - ln 10| below this: on the plateau (a uniform guess gives ln 10 on every batch)


@dataclass(frozen=True)
class Plateau:
    """Whether a run sat on the ln 10 plateau (a uniform guess: NiN's failure mode, ``harness.PLATEAU_*``)."""

    check_step: int  # the step after which it was checked
    loss_at_check: float  # the mean training loss over the steps just before it
    final_train_loss: float  # the last epoch's mean training loss

    @property
    def at_check(self) -> bool:
        return _at_ln10(self.loss_at_check)

    @property
    def at_end(self) -> bool:
        return _at_ln10(self.final_train_loss)


def _at_ln10(loss: float) -> bool:
    return abs(loss - LN10) < PLATEAU_TOLERANCE


@dataclass(frozen=True)
class Final:
    """The run's result: the last epoch's accuracies and the run's rates and clocks."""

    test_acc: float
    train_acc: float
    train_loss: float
    train_examples_per_sec: float | None  # steady state: all timed examples over all timed seconds
    eval_examples_per_sec: float | None
    train_seconds: float  # time to train: the timed seconds plus the warm-up, evaluation excluded
    warmup_seconds: float | None  # each batch shape and mode run once before the clock: compilation, autotuning
    wall_seconds: float  # warm-up, training and evaluation
    graphs_compiled_in_timed: int | None = None  # torch.compile graphs built inside the timed loop: 0 expected
    time_to_accuracy: dict[str, float | None] = field(default_factory=dict)  # target -> seconds (None: not reached)
    plateau: Plateau | None = None  # the ln 10 check (None in records from before it)
    graphs_compiled_in_warmup: int | None = None  # torch.compile graphs built in the warm-up (None: records before it)
    compile_cache: str | None = None  # "cold" or "warm" (inductor's cache had this run's graphs); None: not compiled
    # the clock of time_to_accuracy and the evals: "steps" (training steps only, the warm-up beside it in
    # warmup_seconds); None in records from before it, whose clock included the warm-up
    tta_clock: str | None = None
    # the epochs after which the run was stopped and resumed from its checkpoint in a new process (empty: never);
    # its clocks and warm-up are the sums of its processes', and its peak memory the highest of theirs
    resumed_after_epochs: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class TrainResult:
    """What ``harness.train`` returns."""

    epochs: list[EpochLog]
    final: Final
    peak_memory_bytes: int | None
    evals: list[EvalPoint] = field(default_factory=list)
    rank_examples_per_sec: float | None = None  # with ddp: rank 0's own training rate


@dataclass(frozen=True)
class DataParallel:
    """How a --ddp run was spread (RunConfig.world_size > 1)."""

    world_size: int
    backend: str  # gloo (CPU) or nccl (CUDA)
    per_rank_batch: int
    global_batch: int
    lr_rule: str  # how the learning rate follows the global batch
    aggregate_examples_per_sec: float | None  # all ranks' examples over the slowest rank's seconds
    rank0_examples_per_sec: float | None  # rank 0's own examples over its own seconds


@dataclass(frozen=True)
class DataInfo:
    source: str  # "real" or "synthetic"
    location: str
    train_examples: int  # the size of the training split the run used (after --train-subset)
    test_examples: int
    sha256: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportFacts:
    """What the report needs to know about a run beyond its numbers, decided once when the run is made, so that
    the leaderboard reads records and nothing else (not the registry, not today's profiles)."""

    design_note: str  # "" or where the input makes the network another one ("its adaptive pool upsamples 1x1 -> 5x5")
    class_map_side: int | None  # the side of the map the last adaptive pool reads (NiN's class maps); None: no pool
    accuracy_is_result: bool  # real data and a profile long enough to converge: the accuracy is a result
    against_d2l: bool  # d2l's published 10-epoch ranges are a verdict on this budget


@dataclass(frozen=True)
class Reference:
    """d2l's published numbers for the entry's recipe, copied into the record from the registry's ``archs.Published``
    (the same fields, a test holds them equal), so that a record is read without the registry (and the registry,
    which imports nothing of ``benchmarks``, declares its own)."""

    test_acc_low: float
    test_acc_high: float
    examples_per_sec_low: float
    examples_per_sec_high: float
    builds: int | None = None
    single_builds: bool = False
    not_converged: tuple[float, ...] = ()
    device: str = "Tesla V100, fp32 eager (d2l build machine)"


@dataclass(frozen=True)
class RunRecord:
    arch: str
    description: str
    tags: list[str]
    config: RunConfig
    params: int | None  # None only for a crashed or timeout run, whose process never reported it
    flops: int | None  # forward FLOPs of one example at the run's resolution (torch.utils.flop_counter); idem
    reference: Reference | None
    env: dict  # benchmarks.measure.machine.fingerprint: the machine, software, settings in force, commit, command line
    data: DataInfo
    status: str  # one of STATUSES
    epochs: list[EpochLog] = field(default_factory=list)  # on a diverged run, the epochs finished before it
    evals: list[EvalPoint] = field(default_factory=list)  # every test evaluation, for time to accuracy
    final: Final | None = None  # None unless status is "ok"
    # CUDA allocator peak, or the process's resident high-water mark (CPU), reset at the run's start; an isolated run
    # (--isolate) has a process of its own, so the peak is its own by construction, no earlier run's allocations in it
    peak_memory_bytes: int | None = None
    error: str | None = None
    diverged_epoch: int | None = None
    oom_retries: list[int] = field(default_factory=list)  # the batch sizes that ran out of memory
    batch_size_used: int | None = None  # set when an OOM retry trained at a smaller batch than config.batch_size
    data_parallel: DataParallel | None = None  # --ddp runs
    run_seconds: float | None = None  # crashed or timeout: how long its process ran
    output_tail: list[str] = field(default_factory=list)  # crashed or timeout: the last lines its process printed
    report: ReportFacts | None = None  # None only in records from before it (``upgrade-records`` adds it)
    # the optimizer's own FLOPs a step (Muon's Newton-Schulz iterations; 0 for SGD and AdamW), for the time budget;
    # None where the process never built the model, and in records from before the field (2026-12-04)
    optimizer_flops: int | None = None
    schema: int = SCHEMA_VERSION

    def __post_init__(self):
        if self.status not in STATUSES:
            raise RecordError(f"unknown status {self.status!r}")
        if self.status == "ok" and self.final is None:
            raise RecordError("an ok record without its final numbers")
        if self.final is not None and not 0.0 <= self.final.test_acc <= 1.0:
            raise RecordError("final.test_acc is not a fraction")

    @property
    def machine(self) -> str:
        return self.config.machine

    @property
    def run_id(self) -> str:
        return self.config.run_id()


class RecordError(ValueError):
    """A record that does not match the schema: the message says where."""


class RecordExists(FileExistsError):
    pass


# --- JSON out -----------------------------------------------------------------------------------------------------


def _jsonable(value):
    """Non-finite floats are written as strings: JSON has no NaN, and a diverged loss is exactly that."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def to_json(record: RunRecord) -> str:
    return json.dumps(_jsonable(dataclasses.asdict(record)), indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_record(path: Path, record: RunRecord, replace: bool = False) -> Path:
    try:
        return write_atomically(path, to_json(record), replace=replace)
    except FileExistsError:
        raise RecordExists(f"{path} exists already; not overwritten (--force reruns it)") from None


def write_first(path: Path, record: RunRecord, force: bool = False) -> bool:
    """Write ``record`` unless a finished record (``DONE``) is at ``path``: the first finished record stays.

    ``force`` (``--force``) replaces whatever is there, atomically. Otherwise a new file is linked into place, and a
    failed record there (oom, error, crashed, timeout: a retry's target) is first moved aside, so that a finished
    record another writer puts there meanwhile is never replaced; one moved aside by mistake (it had just become
    finished) is put back. True when ``record`` was written, False when a finished record was kept.
    """
    path = Path(path)
    data = to_json(record)
    if force:
        write_atomically(path, data, replace=True)
        return True
    try:
        write_atomically(path, data, replace=False)
        return True
    except FileExistsError:
        pass
    there, _ = read_record(path)
    if there is not None and there.status in DONE:
        return False
    aside = path.with_name(f".{path.name}.{os.getpid()}.retired")
    try:
        os.rename(path, aside)
    except FileNotFoundError:  # another retry moved it first
        pass
    try:
        retired, _ = read_record(aside) if aside.exists() else (None, None)
        if retired is not None and retired.status in DONE:  # it became finished between the read and the move
            os.link(aside, path)
            return False
        write_atomically(path, data, replace=False)
        return True
    except FileExistsError:  # another writer's record came first: it stays
        return False
    finally:
        if aside.exists():
            aside.unlink()


# --- JSON in: every value checked against its annotation -----------------------------------------------------------


def decode(kind, value, where: str):
    """``value`` (parsed JSON) as an instance of the annotation ``kind``; RecordError naming ``where`` if it is not."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return decode(inner, value, where)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise RecordError(f"{where or 'record'}: expected an object")
        hints = typing.get_type_hints(kind)
        known = {f.name for f in dataclasses.fields(kind)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise RecordError(f"{where or 'record'}: unknown key {unknown[0]!r}")
        values = {}
        for f in dataclasses.fields(kind):
            key = f"{where}.{f.name}" if where else f.name
            if f.name in value:
                values[f.name] = decode(hints[f.name], value[f.name], key)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordError(f"{key}: missing")
        try:
            return kind(**values)
        except RecordError as err:
            raise RecordError(f"{where + ': ' if where else ''}{err}") from None
    if origin is list:
        if not isinstance(value, list):
            raise RecordError(f"{where}: expected a list")
        return [decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:  # tuple[X, ...]: a list in JSON
        if not isinstance(value, list):
            raise RecordError(f"{where}: expected a list")
        return tuple(decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict or kind is dict:
        if not isinstance(value, dict):
            raise RecordError(f"{where}: expected an object")
        return {k: decode(args[1], v, f"{where}.{k}") for k, v in value.items()} if args else value
    if kind is float:
        if isinstance(value, str) and value in ("nan", "inf", "-inf"):
            return float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise RecordError(f"{where}: expected a number")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise RecordError(f"{where}: expected an integer")
    if kind in (str, bool):
        if type(value) is kind:
            return value
        raise RecordError(f"{where}: expected {'text' if kind is str else 'true or false'}")
    raise TypeError(f"no decoder for {kind!r}")  # a schema change that this function does not cover yet


def from_json(data) -> RunRecord:
    if isinstance(data, dict) and data.get("schema", 1) != SCHEMA_VERSION:
        raise RecordError(f"schema {data.get('schema', 1)}: `python -m benchmarks.upgrade_records FOLDER` rewrites "
                          f"it in schema {SCHEMA_VERSION}")  # fmt: skip
    return decode(RunRecord, data, "")


def read_record(path: Path) -> tuple[RunRecord | None, str | None]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return None, f"unreadable JSON ({err.__class__.__name__})"
    try:
        return from_json(data), None
    except (RecordError, KeyError, TypeError) as err:
        return None, str(err)


def read_records(runs_dir: Path, warn=None) -> list[RunRecord]:
    """Every valid record under ``runs_dir``, sorted by path; each malformed one is skipped with a warning."""
    found = []
    for path in sorted(Path(runs_dir).rglob("*.json")):
        record, problem = read_record(path)
        if problem:
            if warn:
                warn(f"skipping malformed record {path}: {problem}")
            continue
        found.append(record)
    return found


def is_done(path: Path, config: RunConfig) -> bool:
    """Whether ``path`` holds a finished record of exactly this run (this machine's, this configuration's)."""
    record, _ = read_record(path) if Path(path).exists() else (None, None)
    return record is not None and record.status in DONE and record.config == config
