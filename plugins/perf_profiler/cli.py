"""Command line: ``perf-profiler probe URL...`` and ``perf-profiler demo-services``."""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

from perf_profiler.targets import Endpoint, LoadSettings, Service

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """'500ms', '10s', '2m', '1h' or a bare number of seconds → seconds (> 0)."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: expected e.g. 500ms, 10s, 2m")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def services_from_urls(urls: Sequence[str], load: LoadSettings) -> list[Service]:
    """Group URLs by scheme://host:port into services, one endpoint per path (order kept)."""
    grouped: dict[str, list[str]] = {}
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SystemExit(f"perf-profiler: invalid URL {url!r}: expected http(s)://host[:port]/path")
        if parts.username or parts.password:
            raise SystemExit(f"perf-profiler: URL {url!r} embeds credentials; refusing to send them")
        base = f"{parts.scheme}://{parts.netloc}"
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        grouped.setdefault(base, [])
        if path not in grouped[base]:
            grouped[base].append(path)
    return [
        Service(name=urlsplit(base).netloc, base_url=base,
                endpoints=tuple(Endpoint(path=p) for p in paths), load=load)
        for base, paths in grouped.items()
    ]


def _probe(args: argparse.Namespace) -> int:
    from perf_profiler.metrics import summarize_results
    from perf_profiler.probe import run_probe
    from perf_profiler.report import probe_summary

    load = LoadSettings(
        requests=args.requests, duration_s=args.duration, concurrency=args.concurrency,
        warmup=args.warmup, timeout_s=args.timeout,
        connect_timeout_s=min(args.timeout, LoadSettings.connect_timeout_s),
    )
    results = [run_probe(service, use_uvloop=args.uvloop) for service in services_from_urls(args.urls, load)]
    summaries = summarize_results(results)
    if args.json:
        print(json.dumps({"results": results, "summaries": [s.to_dict() for s in summaries]}, indent=2))
    else:
        bases = {r["service"]: r["base_url"] for r in results}
        print("\n\n".join(probe_summary(s, bases.get(s.service, "")) for s in summaries))
    all_failed = all(s.ok_count == 0 for s in summaries)
    return 1 if all_failed else 0


def _demo_services(args: argparse.Namespace) -> int:
    from perf_profiler.demo import serve_forever

    serve_forever(host=args.host, port_offset=args.port_offset, seed=args.seed)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from perf_profiler.demo_job import run

    return run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perf-profiler", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    probe = sub.add_parser("probe", help="probe URLs with a closed-loop load and print a summary")
    probe.add_argument("urls", nargs="+", metavar="URL")
    probe.add_argument("-n", "--requests", type=int, default=200, help="counted requests per URL")
    probe.add_argument("-c", "--concurrency", type=int, default=10, help="requests in flight")
    probe.add_argument("--duration", type=parse_duration, default=None,
                       help="run each URL for this long instead of -n (e.g. 10s)")
    probe.add_argument("--warmup", type=int, default=10, help="uncounted warm-up requests per URL")
    probe.add_argument("--timeout", type=parse_duration, default=5.0, help="per-request timeout (e.g. 5s)")
    probe.add_argument("--json", action="store_true", help="print results and summaries as JSON")
    probe.add_argument("--no-uvloop", dest="uvloop", action="store_false", default=None,
                       help="use the stock asyncio loop even when uvloop is installed")
    probe.set_defaults(func=_probe)

    demo = sub.add_parser("demo-services", help="serve the simulated services of the demo")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port-offset", type=int, default=0, help="added to every demo port")
    demo.add_argument("--seed", type=int, default=6)
    demo.set_defaults(func=_demo_services)

    sub.add_parser("demo", help="run the demo end to end (what `make demo` does)").set_defaults(func=_demo)
    return parser


def _check_positive(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for name in ("requests", "concurrency"):
        value = getattr(args, name, None)
        if value is not None and value <= 0:
            parser.error(f"--{name} must be a positive integer, got {value}")
    if getattr(args, "warmup", 0) < 0:
        parser.error(f"--warmup must be zero or more, got {args.warmup}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_positive(parser, args)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
