"""Stage 3, running: the profiles, the plan, one run to its record, the suite, isolation, torchrun, the time budget."""
