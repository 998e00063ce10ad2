"""The command line: ``python -m benchmarks {list,run,leaderboard,plots,compare,gpu-check,import-bundle,describe}``.

Each subcommand is a module with ``add_arguments(parser)`` and ``main(args)``, listed with its help in ``COMMANDS``.
Bad input ends in one line on stderr and a non-zero exit, never a traceback. Ctrl-C and SIGTERM stop a suite
between records: finished records stay, no partial one is written, and the exit status is 130 or 143.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import signal
import sys

from benchmarks.errors import EXIT_SIGINT, EXIT_SIGTERM, EXIT_USAGE, Terminated, on_sigterm  # noqa: F401 (EXIT_USAGE: used by callers)

DESCRIPTION = "The CNN benchmark suite: train and time the registry's networks, and report what the records say."
COMMANDS = {  # name -> (module, help)
    "list": ("benchmarks.commands.list", "the registry as a table: params, input size, GFLOPs"),
    "run": ("benchmarks.commands.run", "train and time architectures, writing run records"),
    "leaderboard": ("benchmarks.commands.leaderboard", "regenerate the leaderboard (and its plots) from the records"),
    "plots": ("benchmarks.commands.plots", "render the plots from the records"),
    "compare": ("benchmarks.commands.compare",
                "two records folders, machines or commits side by side: accuracy and throughput, changes flagged"),
    "gpu-check": ("benchmarks.commands.gpu_check",
                  "a short GPU slot, planned: the chapter at d2l's budget, NiN's time to 0.90, step throughput; one "
                  "bundle back"),
    "import-bundle": ("benchmarks.commands.import_bundle",
                      "a GPU slot's bundle into results/, then the leaderboard regenerates"),
    "describe": ("benchmarks.commands.describe",
                 "the resource card of one entry: per-layer params, FLOPs and memory, predicted and measured"),
}  # fmt: skip


class HelpFormatter(argparse.HelpFormatter):
    """Each option's default after its help, where it has one and the help does not already say it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if not action.option_strings or action.default in (None, False, [], (), argparse.SUPPRESS) or "default" in text:
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


class Parser(argparse.ArgumentParser):
    """argparse, with bad input in one line: a misspelt flag names the closest valid one of its subcommand."""

    chosen: argparse.ArgumentParser | None = None  # the subcommand's parser, once known

    def add_argument(self, *args, **kwargs):
        if kwargs.get("help") is None and kwargs.get("default") not in (None, False, [], ()):
            kwargs["help"] = "default: %(default)s"  # an option with no help of its own still shows its default
        return super().add_argument(*args, **kwargs)

    def error(self, message: str):
        words = message.split()
        if message.startswith("unrecognized arguments:") and len(words) > 2:
            unknown = next((w for w in words[2:] if w.startswith("-")), words[2])
            where = Parser.chosen or self
            flags = [f for f in where._option_string_actions if f.startswith("--")]
            close = difflib.get_close_matches(unknown.split("=")[0], flags, n=1, cutoff=0.6)
            message = f"unrecognized argument {unknown}" + (f"; did you mean {close[0]}?" if close else "")
            self.exit(2, f"error: {where.prog}: {message} (see {where.prog} --help)\n")
        if "invalid choice:" in message and self.prog == "python -m benchmarks":
            wrong = message.split("invalid choice: ")[1].split("'")[1]
            close = difflib.get_close_matches(wrong, list(COMMANDS), n=1)
            message = f"no command {wrong!r}" + (f"; did you mean {close[0]}?" if close else "")
            message += f" Commands: {', '.join(COMMANDS)}"
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the subcommand named in ``argv`` (all of them without ``argv``) is imported, so that a
    command works without what the others need (the leaderboard without the registry, for one)."""
    chosen = None if argv is None else next((a for a in argv if not a.startswith("-")), "")
    parser = Parser(prog="python -m benchmarks", description=DESCRIPTION, allow_abbrev=False,
                    formatter_class=HelpFormatter)  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text, allow_abbrev=False,
                                  formatter_class=HelpFormatter)  # fmt: skip
        if chosen is None or name == chosen:
            Parser.chosen = sub if name == chosen else None
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(main=module.main)
    return parser


def main(argv=None) -> int:
    from benchmarks.data.fashion_mnist import DataError
    from benchmarks.errors import UsageError

    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    registry = sys.modules.get("archs")  # imported by the chosen command, if it needs the registry
    for problem in getattr(registry, "IMPORT_ERRORS", []):  # a broken file in archs/: one line each
        print(f"warning: {problem}", file=sys.stderr)
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return args.main(args)
    except (UsageError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader went away (`| head`): end quietly, as the tools of a shell do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the interpreter's own flush at exit says nothing either
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted: finished records are kept, none partial; the same command resumes (a stopped run "
              "from its last saved epoch)",
              file=sys.stderr)  # fmt: skip
        return EXIT_SIGINT
    except Terminated:
        print("terminated: finished records are kept, none partial; the same command resumes (a stopped run from "
              "its last saved epoch)",
              file=sys.stderr)  # fmt: skip
        return EXIT_SIGTERM
