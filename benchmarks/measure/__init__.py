"""Measurements every stage above may take: the machine, memory, FLOPs (vendor peaks and time to accuracy are plain
data, in ``benchmarks.schema``; the resource card measures a training step, in ``benchmarks.train``)."""
