"""The benchmark side of the suite: data pipeline, training harness, runner, run records and reports.

Data flows one way: ``archs`` (the registry) -> harness -> run records -> leaderboard and plots.
"""
