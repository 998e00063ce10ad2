"""The pytest-benchmark results as a leaderboard table: steady-state step throughput and MFU.

Reads the JSON files that ``pytest --benchmark-autosave --benchmark-storage results/benchmarks`` writes; for each
device, the newest file holding ``bench_throughput.py`` results. MFU is the model's FLOPs per second (a training
step counted as 3 forward passes) over the matrix-product rate measured on the same device in the same run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def _load(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        return None
    return data


def latest_per_device(folder: Path, warn=None) -> dict[str, dict]:
    """machine -> the newest saved run with throughput results (by its ``datetime``, then file name). The machine
    is the slug the suite saves in ``machine_info``; runs saved before it existed are keyed by their device name."""
    newest: dict[str, tuple[str, str, dict]] = {}
    for path in sorted(Path(folder).rglob("*.json")):
        data = _load(path)
        if data is None:
            if warn:
                warn(f"skipping unreadable benchmark file {path}")
            continue
        kinds = {b.get("extra_info", {}).get("kind") for b in data["benchmarks"]}
        if not kinds & {"train_step", "inference"}:
            continue
        info = data.get("machine_info", {})
        device = info.get("machine") or info.get("device_name", "?")
        stamp = (str(data.get("datetime", "")), path.name)
        if device not in newest or stamp > newest[device][:2]:
            newest[device] = (*stamp, data)
    return {device: entry[2] for device, entry in sorted(newest.items())}


def table(data: dict) -> tuple[str, str]:
    """The markdown table of one saved run, and a one-line note on how it was measured."""
    infos = [b.get("extra_info", {}) for b in data["benchmarks"]]
    peak = next((i.get("flops_per_sec") for i in infos if i.get("kind") == "matmul_peak"), None)
    rows: dict[str, dict] = {}
    for info in infos:
        if info.get("kind") not in ("train_step", "inference"):
            continue
        row = rows.setdefault(info["arch"], {
            "architecture": info["arch"], "input": f"{info['resolution']} px", "batch": str(info["batch_size"]),
            "precision": info.get("precision", "?"),
        })  # fmt: skip
        eps, flops = info.get("examples_per_sec"), info.get("model_flops_per_sec")
        prefix = "train" if info["kind"] == "train_step" else "inference"
        row[f"{prefix} examples/s"] = f"{eps:,.0f}" if eps else ""
        if info["kind"] == "train_step":
            row["train TFLOP/s"] = f"{flops / 1e12:.2f}" if flops else ""
            row["MFU"] = f"{100 * flops / peak:.1f}%" if flops and peak else ""
    columns = ["architecture", "input", "batch", "precision", "train examples/s", "inference examples/s",
               "train TFLOP/s", "MFU"]  # fmt: skip
    frame = pd.DataFrame([rows[k] for k in sorted(rows)], columns=columns).fillna("")
    machine = data.get("machine_info", {})
    note = (
        f"pytest-benchmark run of {str(data.get('datetime', '?'))[:10]}, torch {machine.get('torch', '?')}; "
        f"matrix-product peak measured in the same run: "
        + (f"{peak / 1e12:.2f} TFLOP/s" if peak else "not measured")
        + ". MFU = 3 x forward FLOPs per example x examples/s over that peak."
    )
    return frame.to_markdown(index=False, disable_numparse=True), note
