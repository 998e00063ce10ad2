"""The subcommands, a thin layer over the stages: each module has ``add_arguments(parser)`` and ``main(args)``
(``benchmarks.cli.COMMANDS`` names them, with their help), and turns its arguments into typed values before calling
into a stage."""
