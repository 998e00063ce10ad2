"""The errors every subcommand may raise for bad input (each ends in one line on stderr and exit status 2), and the
way a process of the suite is stopped: the bottom layer, beside ``benchmarks.schema``."""


class UsageError(Exception):
    """A bad argument: reported in one line before any work starts."""


EXIT_USAGE, EXIT_SIGINT, EXIT_SIGTERM = 2, 130, 143  # the exit statuses of bad input, Ctrl-C and SIGTERM


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that no half-finished work is kept."""


def on_sigterm(signum, frame):
    """The SIGTERM handler of every process of the suite (the command line's, an isolated run's)."""
    raise Terminated()
