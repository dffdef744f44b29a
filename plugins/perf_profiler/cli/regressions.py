"""``perf-profiler regressions list|ack``: the change points ``perf_trends`` found, and acknowledging one.

``ack`` marks the regression of one series attributed to ``--run-id`` (the first run of its new level)
as acknowledged, with a note: it is never notified again and shows as ``acknowledged``; a
re-detection keeps the acknowledgement. The metrics database is the Airflow connection the tasks
use (``perf_metrics_db`` unless ``--conn-id``), migrated first.
"""
from __future__ import annotations

import argparse
import getpass
from typing import Any

from perf_profiler.storage.dialect import DEFAULT_CONN_ID


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``regressions`` (``list``, ``ack``) to the ``perf-profiler`` command line."""
    parser = subparsers.add_parser("regressions", help="list change points; acknowledge a regression")
    actions = parser.add_subparsers(dest="regressions_command", required=True)
    listing = actions.add_parser("list", help="every finding, confirmed unacknowledged regressions first")
    listing.add_argument("--tenant", default=None, help="only this tenant")
    listing.add_argument("--conn-id", default=DEFAULT_CONN_ID,
                         help=f"Airflow connection of the metrics database (default {DEFAULT_CONN_ID})")
    listing.set_defaults(func=run_list)
    ack = actions.add_parser("ack", help="acknowledge a regression (stops its notification)")
    ack.add_argument("--service", required=True)
    ack.add_argument("--endpoint", required=True)
    ack.add_argument("--run-id", required=True, help="the run the regression is attributed to")
    ack.add_argument("--note", required=True, help="why (shown next to the regression)")
    ack.add_argument("--dag-id", default="perf_profiler")
    ack.add_argument("--tenant", default="default")
    ack.add_argument("--metric", default="p95_ms")
    ack.add_argument("--by", default=None, help="who acknowledges (default: the login name)")
    ack.add_argument("--conn-id", default=DEFAULT_CONN_ID,
                     help=f"Airflow connection of the metrics database (default {DEFAULT_CONN_ID})")
    ack.set_defaults(func=run_ack)


def run_list(args: argparse.Namespace) -> int:
    from perf_profiler.analysis.regression_states import effect_text, release_text
    from perf_profiler.storage.changepoints_repo import open_changepoints

    with open_changepoints(_hook(args.conn_id)) as repo:
        found = repo.listed(args.tenant)
    for f in found:
        print(f"{f['state']:<12} {f['kind']:<11} {f['tenant_id']} {f['service']} {f['endpoint']} "
              f"{f['metric']} run {f['run_id']} {effect_text(f['metric'], float(f['effect']))} {release_text(f)}")
    if not found:
        print("no change points")
    return 0


def run_ack(args: argparse.Namespace) -> int:
    """Acknowledge; exit 1 when no regression of that series is attributed to that run."""
    from perf_profiler.storage.changepoints_repo import open_changepoints

    key = {"tenant_id": args.tenant, "dag_id": args.dag_id, "service": args.service, "endpoint": args.endpoint,
           "metric": args.metric}
    with open_changepoints(_hook(args.conn_id)) as repo:
        count = repo.acknowledge(key, args.run_id, args.by or getpass.getuser(), args.note)
    if not count:
        print(f"no regression of {args.service} {args.endpoint} attributed to run {args.run_id}")
        return 1
    print(f"acknowledged the regression of {args.service} {args.endpoint} from run {args.run_id}")
    return 0


def _hook(conn_id: str) -> Any:
    from perf_profiler.storage.dialect import get_hook
    from perf_profiler.storage.migrations import migrate

    hook = get_hook(conn_id)
    migrate(hook)
    return hook
