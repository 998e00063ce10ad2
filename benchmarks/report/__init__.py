"""Stage 4, the report: the records summarised once, statistics, the leaderboard's tables and the plots. It reads run
records and nothing else: not the registry, not the profiles."""
