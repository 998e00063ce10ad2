"""The aten operations one call dispatches, counted with torch's profiler: a GPU launches a kernel for nearly each,
so a step whose kernels are small is bound by their number, not by its FLOPs."""

from __future__ import annotations

from torch.profiler import ProfilerActivity, profile


def dispatched(fn) -> int:
    """The outermost aten operations of one ``fn()`` (those no other aten operation called)."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()

    def outermost(event) -> bool:
        parent = event.cpu_parent
        while parent is not None:
            if parent.name.startswith("aten::"):
                return False
            parent = parent.cpu_parent
        return True

    return sum(1 for e in prof.events() if e.name.startswith("aten::") and outermost(e))
