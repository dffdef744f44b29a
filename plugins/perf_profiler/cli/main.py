"""The ``perf-profiler`` command line: the parser, its subcommands, and the entry point.

Subcommands live in their own modules: ``probe`` (``probe_args`` its flags, ``probe_services``
what it measures, ``probe_run`` the run, ``live`` its progress line, ``thresholds`` and exit
codes, ``json_output`` the ``--json`` document), ``validate``, ``install-dags``, ``outbox``.
Each subcommand reports its own usage errors (exit 2) with its own usage line.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from perf_profiler import __version__
from perf_profiler.cli.probe_services import services_from_urls
from perf_profiler.cli.values import parse_duration

__all__ = ["build_parser", "main", "parse_duration", "services_from_urls"]

DESCRIPTION = """\
Benchmark HTTP services the way the perf_profiler Airflow DAG does, from a terminal or CI.

  perf-profiler probe URL [URL...]         measure, print a summary (like hey, oha, k6)
  perf-profiler validate targets.json      check a targets file (every error, exit 0/2)
  perf-profiler demo                       the demo end to end

'perf-profiler COMMAND --help' shows a command's flags.
"""


def _demo_services(args: argparse.Namespace) -> int:
    from perf_profiler.demo.services import serve_forever

    serve_forever(host=args.host, port_offset=args.port_offset, seed=args.seed)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from perf_profiler.demo.job import run

    return run()


def _probe(args: argparse.Namespace) -> int:
    from perf_profiler.cli.probe_run import run_probe_command

    return run_probe_command(args)


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="perf-profiler", description=DESCRIPTION, formatter_class=formatter)
    parser.add_argument("--version", action="version", version=f"perf-profiler {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from perf_profiler.cli import install_dags, outbox, probe_args, regressions, validate  # each in its module

    probe_args.register(sub, formatter).set_defaults(func=_probe)
    validate.register(sub)
    demo = sub.add_parser("demo-services", help="serve the simulated services of the demo")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port-offset", type=int, default=0, help="added to every demo port")
    demo.add_argument("--seed", type=int, default=6)
    demo.set_defaults(func=_demo_services)
    sub.add_parser("demo", help="run the demo end to end (what `make demo` does)").set_defaults(func=_demo)
    install_dags.register(sub)
    outbox.register(sub)
    regressions.register(sub)
    for command in sub.choices.values():  # a subcommand's own usage on its errors
        command.set_defaults(usage_error=command.error)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # reported by the subcommand, with its usage (not the top level's)
        args.usage_error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(args.func(args))
    except KeyboardInterrupt:  # Ctrl-C outside a probe (start-up, between steps): no traceback
        print(f"perf-profiler {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
