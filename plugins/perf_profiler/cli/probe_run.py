"""``perf-profiler probe``: run the probe with live progress, print the summary, judge the thresholds.

Ctrl-C / SIGTERM go through the engine's one cancellation path (``engine.cancel``) with
``on_cancel="partial"``: the first stops sending and lets in-flight requests finish, then the
summary of what was measured is printed, marked interrupted (exit 130); a second exits at once.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from perf_profiler.cli.thresholds import EXIT_USAGE, exit_code, file_thresholds, flag_thresholds, judge
from perf_profiler.model.errors import TargetsError
from perf_profiler.model.result import BenchmarkResult
from perf_profiler.model.targets import Service, state_changing


def run_probe_command(args: argparse.Namespace) -> int:
    """The ``probe`` subcommand (exit codes: ``cli.thresholds``)."""
    from perf_profiler.cli.probe_services import probe_services

    try:
        services = probe_services(args)
    except TargetsError as error:  # bad flags or a bad file: the model's message, as a usage error
        args.usage_error(str(error))  # exits
        return EXIT_USAGE
    for service in services:
        writes = state_changing(service)
        if writes:
            print(f"warning: {service.name}: probing with state-changing methods ({', '.join(writes)}); "
                  "the target's data may change", file=sys.stderr)
    results = _measure(services, args)
    if results is None:
        return EXIT_USAGE
    return _report(results, services, args)


def _measure(services: list[Service], args: argparse.Namespace) -> list[BenchmarkResult] | None:
    """Probe the services one after another; a stop ends the run with what was measured."""
    from perf_profiler.cli.live import display_mode, live_progress
    from perf_profiler.engine.fd_limits import FdLimitError
    from perf_profiler.engine.runner import run_probe

    results: list[BenchmarkResult] = []
    mode = display_mode(args.quiet, sys.stderr)
    try:
        with live_progress(mode, args.progress_every):
            for service in services:
                result = run_probe(service, use_uvloop=args.uvloop, on_cancel="partial")
                results.append(result)
                if "interrupted" in result:
                    break
    except FdLimitError as error:  # refused before sending: the numbers and what to do, no traceback
        print(f"perf-profiler probe: error: {error}", file=sys.stderr)
        return None
    except KeyboardInterrupt:  # Ctrl-C between two services, outside the engine's handlers
        if not results:
            raise
        results[-1] = {**results[-1], "interrupted": "SIGINT"}
    return results


def _report(results: list[BenchmarkResult], services: list[Service], args: argparse.Namespace) -> int:
    from perf_profiler.analysis.reduce import summarize_results
    from perf_profiler.analysis.report import probe_summary
    from perf_profiler.cli import json_output
    from perf_profiler.cli.thresholds import Outcome

    interrupted = next((r["interrupted"] for r in results if "interrupted" in r), None)
    summaries = summarize_results(results)
    budgets = file_thresholds(services) if args.targets else {}
    outcomes = judge(summaries, flag_thresholds(args), budgets)
    code = exit_code(summaries, outcomes, interrupted)
    doc = json_output.document(results, summaries, outcomes, interrupted, code)
    if args.output:
        json_output.write(doc, args.output)
    if args.json:
        print(json.dumps(doc, indent=2))
        return code
    bases = {r["service"]: r["base_url"] for r in results}
    by_endpoint: dict[tuple[str, str], list[Outcome]] = {}
    for outcome in outcomes:
        by_endpoint.setdefault((outcome.service, outcome.endpoint), []).append(outcome)
    blocks = []
    for summary in summaries:
        text = probe_summary(summary, bases.get(summary.service, ""), interrupted)
        judged = by_endpoint.get((summary.service, summary.endpoint), [])
        if judged:
            text += "\n  thresholds    " + "\n                ".join(o.text() for o in judged)
        blocks.append(text)
    if not summaries:
        blocks.append(f"nothing measured: interrupted by {interrupted} before a counted request"
                      if interrupted else "nothing measured")
    print("\n\n".join(blocks))
    _say_why(code, interrupted, outcomes)
    return code


def _say_why(code: int, interrupted: str | None, outcomes: Any) -> None:
    """One stderr line for a non-zero exit code (scripts read the code, people read this)."""
    if interrupted:
        print(f"perf-profiler probe: interrupted by {interrupted}: the summary covers what was measured "
              "until then (exit 130)", file=sys.stderr)
    elif code == 1:
        print("perf-profiler probe: every request failed (exit 1)", file=sys.stderr)
    elif code == 3:
        failed = sum(1 for o in outcomes if not o.passed)
        print(f"perf-profiler probe: {failed} threshold(s) failed (exit 3)", file=sys.stderr)
