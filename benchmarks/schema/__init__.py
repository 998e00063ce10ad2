"""The bottom layer: the run record and everything in it as plain data (its configuration, the recipe, the compute
path, the report facts), time to accuracy and vendor peaks. It imports nothing of the project but the base
(``benchmarks.atomic``) and no torch, so that the report reads records with it alone."""
