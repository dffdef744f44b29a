"""What ``perf-profiler probe`` measures: the services of its URLs or of a targets file, with its flags.

URLs are grouped by scheme://host:port into services (one endpoint per path) and validated like
a targets file's (same caps, same messages). ``-m``/``-d``/``--body-file`` set every URL's
request; ``-H`` adds headers to every endpoint (URLs or targets file). Headers whose names look
like secrets (``Authorization``, ``X-Api-Key``, cookies...) are kept out of the config model and
put on an armed copy of the service (``model.secret_headers``): they are sent only to the
service's own origin and never printed. Policy P-3: a state-changing ``-m`` needs ``--allow-writes``.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from perf_profiler.model.caps import MAX_CONCURRENCY
from perf_profiler.model.errors import TargetsError
from perf_profiler.model.http_values import is_state_changing, looks_secret
from perf_profiler.model.secret_headers import with_secret_headers
from perf_profiler.model.targets import LoadSettings, Service


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


def services_from_urls(urls: Sequence[str], load: LoadSettings, request: dict[str, Any] | None = None,
                       allow_writes: bool = False) -> list[Service]:
    """Group URLs by scheme://host:port into services, one endpoint per path (order kept).

    ``request``: what every endpoint sends (method, headers, body). The services are validated
    like a targets file's (http(s) only, no credentials in the URL); each is named by its host
    and port, never by the URL's user info.
    """
    grouped: dict[str, list[str]] = {}
    for url in urls:
        base, path = _split(url)
        paths = grouped.setdefault(base, [])
        if path not in paths:
            paths.append(path)
    return [
        Service.model_validate({"name": base.partition("//")[2].rpartition("@")[2] or "url", "base_url": base,
                                "endpoints": [{"path": p, **(request or {})} for p in paths], "load": load,
                                "allow_state_changing_methods": allow_writes})
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
        "processes": 1 if args.processes is None else args.processes, "engine": args.engine or "auto",
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
                        ("timeout", "timeout_s"), ("engine", "engine")):
        if getattr(args, flag) is not None:
            changes[field] = getattr(args, flag)
    if args.timeout is not None:
        changes["connect_timeout_s"] = min(args.timeout, load.connect_timeout_s)
    return {**load.model_dump(), **changes}


def _request(args: argparse.Namespace, plain: list[tuple[str, str]]) -> dict[str, Any]:
    """What every URL's endpoint sends: ``-m``, the plain ``-H`` headers, ``-d``/``--body-file``."""
    request: dict[str, Any] = {}
    if args.method is not None:
        method = args.method.upper()
        if is_state_changing(method) and not args.allow_writes:
            raise TargetsError(f"-m {method} changes state on the target (policy P-3, read-only by default): "
                               "add --allow-writes to probe with it")
        request["method"] = method
    if plain:
        request["headers"] = plain
    if args.body is not None and args.body_file is not None:
        raise TargetsError("give -d/--body or --body-file, not both")
    if args.body_file is not None:
        try:
            request["body"] = Path(args.body_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TargetsError(f"--body-file {args.body_file}: cannot read it as UTF-8 text ({exc})") from None
    elif args.body is not None:
        request["body"] = args.body
    return request


def _targets_services(args: argparse.Namespace, plain: list[tuple[str, str]]) -> list[Service]:
    from perf_profiler.model.targets_file import load_targets_file

    if args.method is not None or args.body is not None or args.body_file is not None:
        raise TargetsError("-m, -d and --body-file apply to URLs; a targets file sets each endpoint's "
                           "method and body")
    services = [s for s in load_targets_file(args.targets, allow_writes=args.allow_writes)
                if not args.service or s.name in args.service]
    missing = set(args.service or ()) - {s.name for s in services}
    if missing:
        raise TargetsError(f"no service named {', '.join(sorted(missing))} in {args.targets}")
    revised = []
    for service in services:
        changes: dict[str, Any] = {"load": _override(service.load, args)}
        if plain:  # -H over the file's headers of the same name
            names = {name.lower() for name, _ in plain}
            changes["endpoints"] = [
                {**ep.model_dump(), "headers": [h for h in ep.headers if h[0].lower() not in names] + plain}
                for ep in service.endpoints]
        revised.append(service.revised(**changes))
    return revised


def probe_services(args: argparse.Namespace) -> list[Service]:
    """What to probe, validated like a targets file; secret ``-H`` headers on armed copies."""
    headers = args.headers or []
    plain = [(name, value) for name, value in headers if not looks_secret(name)]
    secret = {name: value for name, value in headers if looks_secret(name)}
    if args.targets:
        services = _targets_services(args, plain)
    elif args.urls:
        services = services_from_urls(args.urls, _url_load(args), _request(args, plain), args.allow_writes)
    else:
        raise TargetsError("give URLs to probe or --targets FILE")
    if secret:
        return [with_secret_headers(s, secret, source="-H") for s in services]
    return services
