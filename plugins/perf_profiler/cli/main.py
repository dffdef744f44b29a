"""Command line: ``perf-profiler probe URL...``, ``demo``, ``demo-services`` and ``install-dags DIR``.

``probe`` runs a closed loop by default (``-n``/``--duration`` with ``-c`` in flight), an open
loop with ``--rate R --duration D`` (R arrivals per second per URL on a fixed timeline; ``-c``
is then the cap on requests in flight). ``--targets FILE`` probes the services of a targets
config instead of URLs; any load flag given on the command line overrides their ``load``.
Probing is read-only by default (policy P-3): a targets file's POST/PUT/PATCH/DELETE endpoints
need the service's ``allow_state_changing_methods: true`` or ``--allow-writes``, and every probe
with such a method prints a warning.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from perf_profiler.model.caps import MAX_CONCURRENCY
from perf_profiler.model.errors import TargetsError
from perf_profiler.model.targets import LoadSettings, Service, state_changing

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """'500ms', '10s', '2m', '1h' or a bare number of seconds → seconds (> 0)."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: expected e.g. 500ms, 10s, 2m")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _split(url: str) -> tuple[str, str]:
    """(base URL, path with query); a URL without a host stays whole, for the model to refuse."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, "/"
    if not parts.netloc:
        return url, "/"
    path = parts.path or "/"
    return f"{parts.scheme}://{parts.netloc}", f"{path}?{parts.query}" if parts.query else path


def services_from_urls(urls: Sequence[str], load: LoadSettings) -> list[Service]:
    """Group URLs by scheme://host:port into services, one endpoint per path (order kept).

    The services are validated like a targets file's (http(s) only, no credentials in the URL);
    each is named by its host and port, never by the URL's user info.
    """
    grouped: dict[str, list[str]] = {}
    for url in urls:
        base, path = _split(url)
        paths = grouped.setdefault(base, [])
        if path not in paths:
            paths.append(path)
    return [
        Service.model_validate({"name": base.partition("//")[2].rpartition("@")[2] or "url", "base_url": base,
                                "endpoints": [{"path": p} for p in paths], "load": load})
        for base, paths in grouped.items()
    ]


def _open_loop_concurrency(rate: float | None, timeout: float) -> int:
    """Room for ``rate`` arrivals that all wait up to the timeout (a bad rate is the model's to refuse)."""
    if rate is None or not math.isfinite(rate) or rate <= 0:
        return 10
    return min(MAX_CONCURRENCY, max(10, math.ceil(min(rate * timeout, MAX_CONCURRENCY))))


def _url_load(args: argparse.Namespace) -> LoadSettings:
    """The load of ``probe URL...``: the flags, with the CLI's defaults for those not given."""
    timeout = 5.0 if args.timeout is None else args.timeout
    model = args.model or ("open" if args.rate is not None else "closed")
    concurrency = args.concurrency
    if concurrency is None:
        concurrency = 10 if model == "closed" else _open_loop_concurrency(args.rate, timeout)
    connect_timeout = LoadSettings.model_fields["connect_timeout_s"].default
    return LoadSettings.model_validate({
        "model": model, "requests": 200 if args.requests is None else args.requests, "duration_s": args.duration,
        "concurrency": concurrency, "warmup": 10 if args.warmup is None else args.warmup, "timeout_s": timeout,
        "connect_timeout_s": min(timeout, connect_timeout), "rate": args.rate,
        "processes": 1 if args.processes is None else args.processes,
    })


def _override(load: LoadSettings, args: argparse.Namespace) -> dict[str, Any]:
    """A targets file's load with the load flags given on the command line put over it."""
    changes: dict[str, Any] = {}
    if args.requests is not None:
        changes.update(requests=args.requests, duration_s=None)
    if args.duration is not None:
        changes["duration_s"] = args.duration
    if args.rate is not None:
        changes.update(model="open", rate=args.rate)
    if args.model is not None:
        changes["model"] = args.model
    if args.model == "closed" and args.rate is None:
        changes["rate"] = None  # the file's open loop becomes a closed one
    for flag, field in (("concurrency", "concurrency"), ("warmup", "warmup"), ("processes", "processes"),
                        ("timeout", "timeout_s")):
        if getattr(args, flag) is not None:
            changes[field] = getattr(args, flag)
    if args.timeout is not None:
        changes["connect_timeout_s"] = min(args.timeout, load.connect_timeout_s)
    return {**load.model_dump(), **changes}


def _services(args: argparse.Namespace) -> list[Service]:
    """What to probe, validated like a targets file (safety caps, open loop needs a duration)."""
    from perf_profiler.model.targets_file import load_targets_file

    if args.targets:
        services = [s for s in load_targets_file(args.targets, allow_writes=args.allow_writes)
                    if not args.service or s.name in args.service]
        missing = set(args.service or ()) - {s.name for s in services}
        if missing:
            raise TargetsError(f"no service named {', '.join(sorted(missing))} in {args.targets}")
        return [s.revised(load=_override(s.load, args)) for s in services]
    if args.urls:
        return services_from_urls(args.urls, _url_load(args))
    raise TargetsError("give URLs to probe or --targets FILE")


def _probe(args: argparse.Namespace) -> int:
    from perf_profiler.analysis.reduce import summarize_results
    from perf_profiler.analysis.report import probe_summary
    from perf_profiler.engine.cancel import ProbeCancelled
    from perf_profiler.engine.fd_limits import FdLimitError
    from perf_profiler.engine.runner import run_probe

    try:
        services = _services(args)
    except TargetsError as error:  # bad flags or a bad file: the model's message, as a usage error
        args.usage_error(str(error))  # exits
        return 2
    for service in services:
        writes = state_changing(service)
        if writes:
            print(f"warning: {service.name}: probing with state-changing methods ({', '.join(writes)}); "
                  "the target's data may change", file=sys.stderr)
    try:
        results = [run_probe(service, use_uvloop=args.uvloop) for service in services]
    except FdLimitError as error:  # refused before sending: the numbers and what to do, no traceback
        print(f"perf-profiler probe: error: {error}", file=sys.stderr)
        return 2
    except ProbeCancelled as error:  # Ctrl-C / SIGTERM: the engine's one cancellation path, no traceback
        print(f"perf-profiler probe: {error}", file=sys.stderr)
        return 130
    summaries = summarize_results(results)
    if args.json:
        print(json.dumps({"results": results, "summaries": [s.to_dict() for s in summaries]}, indent=2))
    else:
        bases = {r["service"]: r["base_url"] for r in results}
        print("\n\n".join(probe_summary(s, bases.get(s.service, "")) for s in summaries))
    all_failed = all(s.ok_count == 0 for s in summaries)
    return 1 if all_failed else 0


def _demo_services(args: argparse.Namespace) -> int:
    from perf_profiler.demo.services import serve_forever

    serve_forever(host=args.host, port_offset=args.port_offset, seed=args.seed)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from perf_profiler.demo.job import run

    return run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perf-profiler", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    probe = sub.add_parser("probe", help="probe URLs (closed or open loop) and print a summary")
    probe.add_argument("urls", nargs="*", metavar="URL")
    probe.add_argument("-n", "--requests", type=int, default=None, help="counted requests per URL (default 200)")
    probe.add_argument("-c", "--concurrency", type=int, default=None,
                       help="requests in flight (default 10); with --rate: the cap on requests in flight "
                            "(default rate x timeout, at most 1000)")
    probe.add_argument("--duration", type=parse_duration, default=None,
                       help="run each URL for this long instead of -n (e.g. 10s)")
    probe.add_argument("--rate", type=float, default=None,
                       help="open loop: this many requests per second per URL on a fixed timeline "
                            "(needs --duration); latency is measured from each intended send time")
    probe.add_argument("--model", choices=("closed", "open"), default=None,
                       help="load model (default: open with --rate, else closed; or the targets file's)")
    probe.add_argument("--processes", type=int, default=None,
                       help="spread each service's load over this many processes (default 1)")
    probe.add_argument("--targets", default=None, metavar="FILE",
                       help="probe the services of this targets file (the load flags given override theirs)")
    probe.add_argument("--allow-writes", action="store_true", default=False,
                       help="with --targets: allow POST/PUT/PATCH/DELETE endpoints in every service "
                            "(read-only otherwise, unless a service sets allow_state_changing_methods)")
    probe.add_argument("--service", action="append", default=None, metavar="NAME",
                       help="with --targets: only this service (repeatable)")
    probe.add_argument("--warmup", type=int, default=None, help="uncounted warm-up requests per URL (default 10)")
    probe.add_argument("--timeout", type=parse_duration, default=None, help="per-request timeout (default 5s)")
    probe.add_argument("--json", action="store_true", help="print results and summaries as JSON")
    probe.add_argument("--no-uvloop", dest="uvloop", action="store_false", default=None,
                       help="use the stock asyncio loop even when uvloop is installed")
    probe.set_defaults(func=_probe, usage_error=probe.error)

    demo = sub.add_parser("demo-services", help="serve the simulated services of the demo")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port-offset", type=int, default=0, help="added to every demo port")
    demo.add_argument("--seed", type=int, default=6)
    demo.set_defaults(func=_demo_services)

    sub.add_parser("demo", help="run the demo end to end (what `make demo` does)").set_defaults(func=_demo)
    from perf_profiler.cli import install_dags, outbox  # their own modules: deployment, outbox admin

    install_dags.register(sub)
    outbox.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
