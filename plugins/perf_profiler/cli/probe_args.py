"""The flags of ``perf-profiler probe`` (grouped as ``--help`` shows them)."""
from __future__ import annotations

import argparse
from typing import Any

from perf_profiler.cli.values import parse_duration, parse_header, parse_latency_ms, parse_rate

DESCRIPTION = """\
Probe URLs (or the services of a targets file) and print a summary like hey's.

A closed loop by default: -n counted requests per URL (or --duration) with -c in flight, after
--warmup requests that are not counted. --rate R --duration D makes it an open loop (R arrivals
per second per URL on a fixed timeline; -c is then the cap on requests in flight). Read-only by
default (policy P-3): POST/PUT/PATCH/DELETE need --allow-writes.
"""

EPILOG = """\
examples:
  perf-profiler probe http://127.0.0.1:8001/healthz -n 1000 -c 10
  perf-profiler probe URL --duration 30s --p95-max 800ms --max-error-rate 1%
  perf-profiler probe URL -m POST --allow-writes -H "Content-Type: application/json" -d '{"q": 1}'
  perf-profiler probe --targets targets.json --service registry --rate 200 --duration 10s

exit codes: 0 ok, 1 every request failed, 2 usage or config error, 3 a threshold failed,
130 interrupted (Ctrl-C / SIGTERM; the summary of what was measured is printed).
"""


def register(sub: Any, formatter: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    """Add the ``probe`` subcommand to ``sub`` (an ``add_subparsers`` result)."""
    probe = sub.add_parser("probe", help="probe URLs (closed or open loop) and print a summary",
                           description=DESCRIPTION, epilog=EPILOG, formatter_class=formatter)
    probe.add_argument("urls", nargs="*", metavar="URL")
    _load(probe.add_argument_group("load"))
    _request(probe.add_argument_group("request (every URL)"))
    _thresholds(probe.add_argument_group("thresholds (exit 3 when one fails)"))
    _output(probe.add_argument_group("output"))
    return probe


def _load(group: Any) -> None:
    group.add_argument("-n", "--requests", type=int, default=None, help="counted requests per URL (default 200)")
    group.add_argument("-c", "--concurrency", type=int, default=None,
                       help="requests in flight (default 10); with --rate: the cap on requests in flight "
                            "(default rate x timeout, at most 1000)")
    group.add_argument("--duration", type=parse_duration, default=None,
                       help="run each URL for this long instead of -n (e.g. 10s)")
    group.add_argument("--rate", type=float, default=None,
                       help="open loop: this many requests per second per URL on a fixed timeline "
                            "(needs --duration); latency is measured from each intended send time")
    group.add_argument("--model", choices=("closed", "open"), default=None,
                       help="load model (default: open with --rate, else closed; or the targets file's)")
    group.add_argument("--processes", type=int, default=None,
                       help="spread each service's load over this many processes (default 1)")
    group.add_argument("--warmup", type=int, default=None, help="uncounted warm-up requests per URL (default 10)")
    group.add_argument("--timeout", type=parse_duration, default=None, help="per-request timeout (default 5s)")
    group.add_argument("--targets", default=None, metavar="FILE",
                       help="probe the services of this targets file (the load flags given override theirs; "
                            "its budgets are the default thresholds)")
    group.add_argument("--service", action="append", default=None, metavar="NAME",
                       help="with --targets: only this service (repeatable)")
    group.add_argument("--engine", choices=("auto", "fast", "aiohttp"), default=None,
                       help="the probe engine (default auto: the fast engine for plain http://, aiohttp for "
                            "https://; or the targets file's)")
    group.add_argument("--no-uvloop", dest="uvloop", action="store_false", default=None,
                       help="use the stock asyncio loop even when uvloop is installed")


def _request(group: Any) -> None:
    group.add_argument("-H", "--header", dest="headers", action="append", type=parse_header, default=None,
                       metavar='"NAME: VALUE"',
                       help="add a header (repeatable; also with --targets). Secret-looking ones "
                            "(Authorization, *key*, *token*, cookies) are sent to the URL's own origin only "
                            "and never printed")
    group.add_argument("-m", "--method", default=None, type=str.upper,
                       choices=("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"),
                       help="HTTP method (default GET); POST/PUT/PATCH/DELETE need --allow-writes")
    group.add_argument("-d", "--body", default=None, metavar="TEXT", help="request body")
    group.add_argument("--body-file", default=None, metavar="FILE", help="request body from a UTF-8 file")
    group.add_argument("--allow-writes", action="store_true", default=False,
                       help="allow state-changing methods (-m POST/PUT/PATCH/DELETE, or such endpoints of "
                            "a targets file; read-only otherwise, unless a service sets "
                            "allow_state_changing_methods)")


def _thresholds(group: Any) -> None:
    for label in ("p50", "p90", "p95", "p99"):
        group.add_argument(f"--{label}-max", type=parse_latency_ms, default=None, metavar="LATENCY",
                           help=f"fail when an endpoint's {label} exceeds this (e.g. 800ms, 1.5s)")
    group.add_argument("--max-error-rate", type=parse_rate, default=None, metavar="RATE",
                       help="fail when an endpoint's error rate exceeds this (e.g. 1%% or 0.01)")


def _output(group: Any) -> None:
    group.add_argument("--json", action="store_true", help="print the JSON document (schema 1) instead of the summary")
    group.add_argument("-o", "--output", default=None, metavar="FILE",
                       help="also write the JSON document (schema 1) to FILE")
    group.add_argument("-q", "--quiet", action="store_true", help="no live progress on stderr")
    group.add_argument("--progress-every", type=parse_duration, default=10.0, metavar="DURATION",
                       help="when stderr is not a terminal: a progress line this often (default 10s)")
