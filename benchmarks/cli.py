"""The command line: ``python -m benchmarks {list,run,leaderboard,plots}``.

Bad input ends in one line on stderr and a non-zero exit, never a traceback. Ctrl-C and SIGTERM stop a suite
between records: finished records stay, no partial one is written, and the exit status is 130 or 143.
"""

from __future__ import annotations

import argparse
import signal
import sys

EXIT_USAGE, EXIT_SIGINT, EXIT_SIGTERM = 2, 130, 143


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that no half-finished work is kept."""


def _on_sigterm(signum, frame):
    raise Terminated()


def build_parser() -> argparse.ArgumentParser:
    from benchmarks import leaderboard, runner

    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the registry as a table: params, input size, GFLOPs")
    listing.add_argument("pattern", nargs="?", help="shell-style filter, e.g. 'nin*'")
    listing.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE")
    runner.add_arguments(commands.add_parser("run", help="train and time architectures, writing run records"))
    leaderboard.add_arguments(commands.add_parser("leaderboard", help="regenerate the leaderboard from the records"))
    plots = commands.add_parser("plots", help="render the plots from the records")
    plots.add_argument("--runs", default="results/runs")
    plots.add_argument("--out", default="results")
    return parser


def dispatch(args) -> int:
    if args.command == "list":
        from benchmarks.registry_table import format_registry
        from benchmarks.runner import import_user_modules

        import_user_modules(args.imports)
        print(format_registry(args.pattern))
        return 0
    if args.command == "run":
        from benchmarks import runner

        return runner.main(args)
    if args.command == "leaderboard":
        from benchmarks import leaderboard

        return leaderboard.main(args)
    if args.command == "plots":
        from benchmarks import plots

        return plots.main(args)
    raise AssertionError(args.command)


def main(argv=None) -> int:
    from benchmarks.fashion_mnist import DataError
    from benchmarks.runner import UsageError

    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return dispatch(args)
    except (UsageError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted: finished records are kept, none partial; run the same command to resume",
              file=sys.stderr)  # fmt: skip
        return EXIT_SIGINT
    except Terminated:
        print("terminated: finished records are kept, none partial; run the same command to resume",
              file=sys.stderr)  # fmt: skip
        return EXIT_SIGTERM
