"""Measurements every stage may take: the machine, vendor peaks, memory, FLOPs, time to accuracy, the resource card."""
