"""Muon's optimizer step on an entry's filters, this tree's ``MuonWithAdamW`` against a commit's, side by side in
one process: the operations one step dispatches (a GPU launches a kernel for nearly each; a small model's step there
is bound by them), the step's median seconds on this device, and how far the two commits' parameters move apart.

    python perf/muon_step.py --against 4f0d44e [--arch nin] [--resolution 67] [--batch 64] [--repeats 15]

The step runs as the fast recipe runs it: bf16 Newton-Schulz where the machine has native bf16, channels-last
parameters, the gradients of one real batch.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import inspect
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import archs  # noqa: E402
from benchmarks.measure import machine  # noqa: E402
from benchmarks.schema.recipe import FAST  # noqa: E402
from benchmarks.train import harness  # noqa: E402
from benchmarks.train.compute import DTYPES, compute_defaults  # noqa: E402
from perf.dispatch import dispatched  # noqa: E402


def muon_at(commit: str):
    """The ``benchmarks/train/muon.py`` of ``commit``, loaded as a module of its own."""
    text = subprocess.run(["git", "show", f"{commit}:benchmarks/train/muon.py"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "muon_at_commit.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("muon_at_commit", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", required=True, help="the commit whose muon.py is the baseline")
    parser.add_argument("--arch", default="nin")
    parser.add_argument("--resolution", type=int, default=67)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import benchmarks.train.muon as here

    path = compute_defaults(machine.capability(args.device))[0]
    ns_dtype = DTYPES[path.muon_precision]
    torch.manual_seed(0)
    model = archs.get_entry(args.arch).build().to(args.device, memory_format=torch.channels_last)
    x = torch.randn(args.batch, 1, args.resolution, args.resolution, device=args.device)
    y = torch.randint(0, 10, (args.batch,), device=args.device)
    nn.functional.cross_entropy(model(x.to(memory_format=torch.channels_last)), y).backward()
    contenders = {}
    for name, module in ((args.against, muon_at(args.against)), ("this tree", here)):
        m = copy.deepcopy(model)
        for mine, theirs in zip(m.parameters(), model.parameters()):  # a deep copy leaves the gradients behind
            mine.grad = theirs.grad.clone()
        newer = "adamw_impl" in inspect.signature(module.MuonWithAdamW).parameters  # the compute path's fused AdamW
        kwargs = {"adamw_impl": {"fused": True}} if newer else {}
        opt = module.MuonWithAdamW(harness.param_groups(m, FAST.parts, "muon"), lr=0.001, weight_decay=0.05,
                                   ns_dtype=ns_dtype, **kwargs)  # fmt: skip
        contenders[name] = (m, opt)
    moved = {}
    for name, (m, opt) in contenders.items():
        opt.step()  # the state's first allocation, off the clock
        moved[name] = [p.detach().clone() for p in m.parameters()]
    diff = max(((a - b).abs().max() / a.abs().max()).item() for a, b in zip(*moved.values()))
    times = {name: [] for name in contenders}
    for _ in range(args.repeats):  # interleaved, so that the machine's drift falls on both alike
        for name, (_, opt) in contenders.items():
            harness.synchronize(args.device)
            start = time.perf_counter()
            opt.step()
            harness.synchronize(args.device)
            times[name].append(time.perf_counter() - start)
    print(f"{machine.machine_slug(args.device)}, torch {torch.__version__}, {args.arch} at {args.resolution} px, "
          f"batch {args.batch}, Newton-Schulz in {path.muon_precision}, {args.repeats} steps each, interleaved")  # fmt: skip
    print("| muon.py | operations a step | median step ms | min ms |")
    print("|---|---:|---:|---:|")
    for name, (_, opt) in contenders.items():
        ts = times[name]
        print(f"| {name} | {dispatched(opt.step)} | {1e3 * statistics.median(ts):.1f} | {1e3 * min(ts):.1f} |")
    print(f"largest parameter difference after one step, relative to the parameter's largest value: {diff:.1e}")


if __name__ == "__main__":
    main()
