"""The errors every subcommand may raise for bad input: each ends in one line on stderr and exit status 2."""


class UsageError(Exception):
    """A bad argument: reported in one line before any work starts."""
