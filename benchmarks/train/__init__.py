"""Stage 2, training: the harness (d2l's train_ch6, timed properly), the recipes, and the compute path."""
