"""``perf-profiler validate FILE [--variable]``: check a targets config the way the DAG will read it.

For the CI of teams who keep their targets in git. The same model as the DAG's ``load_targets``
(``model.targets``), every error listed with its location (``services[1] 'api':
load.concurrency: ...``), one per line. ``--variable`` reads FILE (``-`` for stdin) as the JSON the
Airflow Variable holds. Exit 0 when valid, 2 otherwise.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from perf_profiler.model.errors import TargetsError


def register(sub: Any) -> None:
    """Add ``validate`` to the ``perf-profiler`` command line."""
    parser = sub.add_parser(
        "validate", help="check a targets file (or a Variable's JSON) and list every error",
        description="Check a targets config with the model the DAG uses; print every error with its "
                    "location. Exit 0 when valid, 2 when not.")
    parser.add_argument("file", metavar="FILE", help="the targets file (with --variable: '-' reads stdin)")
    parser.add_argument("--variable", action="store_true",
                        help="FILE holds the JSON value of the Airflow Variable (same model, labelled so)")
    parser.set_defaults(func=run, usage_error=parser.error)


def errors_of(text: str, source: str) -> list[str]:
    """Every error of the targets JSON ``text`` as ``source: location: message`` lines (none: valid)."""
    from perf_profiler.model.targets import TargetsConfig
    from perf_profiler.model.targets_file import parse_targets_json

    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        obj = None  # parse_targets_json names the JSON error
    errors = [f"{source}: {message}" for message in TargetsConfig.every_error(obj)] if obj is not None else []
    if not errors:  # the DAG's own reading (duplicate keys, JSON errors) has the last word
        try:
            parse_targets_json(text, source)
        except TargetsError as error:
            errors = [str(error)]
    return errors


def run(args: argparse.Namespace) -> int:
    """Print ``ok`` and the service names, or every error; exit 0 or 2."""
    source = "Airflow Variable JSON" + ("" if args.file == "-" else f" ({args.file})") if args.variable else args.file
    try:
        text = sys.stdin.read() if args.variable and args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{source}: cannot read it ({exc})", file=sys.stderr)
        return 2
    errors = errors_of(text, source)
    if errors:
        for line in errors:
            print(line, file=sys.stderr)
        print(f"perf-profiler validate: {len(errors)} error(s) in {source}", file=sys.stderr)
        return 2
    from perf_profiler.model.targets_file import parse_targets_json

    services = parse_targets_json(text, source)
    endpoints = sum(len(s.endpoints) for s in services)
    print(f"{source}: ok, {len(services)} service(s), {endpoints} endpoint(s): {', '.join(s.name for s in services)}")
    return 0
