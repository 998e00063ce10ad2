"""The pytest-benchmark results as a leaderboard table: steady-state step throughput and MFU.

Reads the JSON files that ``pytest --benchmark-autosave --benchmark-storage results/benchmarks`` writes; for each
device, the newest file holding ``bench_throughput.py`` results. MFU is the model's FLOPs per second (a training
step counted as 3 forward passes) over the matrix-product rate measured on the same device in the same run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from benchmarks.schema.peaks import TRAIN_PASSES, vendor_peak


def _load(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        return None
    return data


def latest_per_device(folder: Path, warn=None, aliases: dict[str, str] | None = None) -> dict[str, dict]:
    """machine -> the newest saved run with throughput results (by its ``datetime``, then file name). The machine
    is the slug the suite saves in ``machine_info``; runs saved before it existed are keyed by their device name,
    or by the machine ``aliases`` (device name -> machine) ties that name to."""
    newest: dict[str, tuple[str, str, dict]] = {}
    for path in sorted(Path(folder).rglob("*.json")):
        data = _load(path)
        if data is None:
            if warn:
                warn(f"skipping unreadable benchmark file {path}")
            continue
        kinds = {b.get("extra_info", {}).get("kind") for b in data["benchmarks"]}
        if not kinds & {"train_step", "inference", "chapter_step"}:
            continue
        info = data.get("machine_info", {})
        device = info.get("cnn_bench_machine") or (aliases or {}).get(
            info.get("device_name", "?"), info.get("device_name", "?")
        )
        stamp = (str(data.get("datetime", "")), path.name)
        if device not in newest or stamp > newest[device][:2]:
            newest[device] = (*stamp, data)
    return {device: entry[2] for device, entry in sorted(newest.items())}


def chapter_column(seeds: int) -> str:
    return "eager train examples/s" if seeds == 1 else f"eager, {seeds} seeds stacked"


def table(data: dict) -> tuple[str, str]:
    """The markdown table of one saved run, and a note on how it was measured and what MFU divides by."""
    infos = [b.get("extra_info", {}) for b in data["benchmarks"]]
    matmul = next((i for i in infos if i.get("kind") == "matmul_peak"), {})
    measured = matmul.get("flops_per_sec")
    machine = data.get("machine_info", {})
    device_name = machine.get("device_name", "?")
    fast = machine.get("compute_defaults") or {}
    rows: dict[str, dict] = {}
    vendor_notes = set()
    stacked = []  # the chapter's eager step's columns, in the order the seeds were timed
    for info in infos:
        if info.get("kind") not in ("train_step", "inference", "chapter_step"):
            continue
        precision = info.get("precision", "?")
        row = rows.setdefault(info["arch"], {
            "architecture": info["arch"], "input": f"{info['resolution']} px", "batch": str(info["batch_size"]),
            "precision": precision,
        })  # fmt: skip
        eps, flops = info.get("examples_per_sec"), info.get("model_flops_per_sec")
        if info["kind"] == "chapter_step":
            column = chapter_column(info.get("seeds", 1))
            stacked += [column] if column not in stacked else []
            row[column] = f"{eps:,.0f}" if eps else ""
            continue
        prefix = "train" if info["kind"] == "train_step" else "inference"
        row[f"{prefix} examples/s"] = f"{eps:,.0f}" if eps else ""
        if info["kind"] == "train_step" and flops:
            row["train TFLOP/s"] = f"{flops / 1e12:.2f}"
            peak = vendor_peak(device_name, precision, bool(fast.get("tf32")))
            if peak:
                row["MFU (vendor peak)"] = f"{100 * flops / peak[0]:.1f}%"
                vendor_notes.add(peak[1])
            row["% of measured matmul"] = f"{100 * flops / measured:.0f}%" if measured else ""
    columns = ["architecture", "input", "batch", "precision", "train examples/s", "inference examples/s",
               "train TFLOP/s"] + (["MFU (vendor peak)"] if vendor_notes else []) + ["% of measured matmul"]  # fmt: skip
    columns += sorted(stacked, key=lambda c: c != chapter_column(1))
    frame = pd.DataFrame([rows[k] for k in sorted(rows)], columns=columns).fillna("")
    statistic = matmul.get("statistic") or "mean step time, fastest matmul round (saved before the median was used)"
    note = (
        f"pytest-benchmark run of {str(data.get('datetime', '?'))[:10]} on {device_name}, torch "
        f"{machine.get('torch', '?')}; statistic: {statistic}. Train TFLOP/s = {TRAIN_PASSES} x forward FLOPs per "
        "example x examples/s (forward FLOPs from torch.utils.flop_counter: a multiply-add of a convolution or linear layer "
        "counts 2). "
        + (f"MFU divides it by the {', '.join(sorted(vendor_notes))}. " if vendor_notes
           else "No MFU: no vendor peak for this device (a CPU's depends on clocks a VM does not report). ")
        + "% of measured matmul divides it by the square matrix product measured in the same run"
        + (f" ({measured / 1e12:.2f} TFLOP/s), which convolutions can beat." if measured else " (not measured).")
        + (" Eager: the chapter's step, compilation off, one seed and seeds stacked in one step "
           "(benchmarks/train/stacked.py), the examples of all its seeds a second." if stacked else "")
    )  # fmt: skip
    return frame.to_markdown(index=False, disable_numparse=True), note
