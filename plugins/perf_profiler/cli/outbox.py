"""``perf-profiler outbox requeue --held|--rejected [--key K] [--conn-id ID]``.

Puts Insight outbox entries that were held aside (the engine answered 413) or rejected (another
4xx that blames the payload) back to pending, so the next ``post_to_insight`` run posts them
again, in their original queue order. The metrics database is the Airflow connection the tasks
use (``perf_metrics_db`` unless ``--conn-id``), migrated first.
"""
from __future__ import annotations

import argparse

from perf_profiler.storage.dialect import DEFAULT_CONN_ID


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``outbox`` (with its ``requeue`` action) to the ``perf-profiler`` command line."""
    parser = subparsers.add_parser("outbox", help="manage the Insight outbox (requeue held or rejected entries)")
    actions = parser.add_subparsers(dest="outbox_command", required=True)
    requeue = actions.add_parser(
        "requeue", help="make held (413) or rejected entries pending again",
        description="Make held (413) or rejected Insight outbox entries pending again; the next "
                    "post_to_insight run posts them in their original order.",
    )
    which = requeue.add_mutually_exclusive_group(required=True)
    which.add_argument("--held", dest="state", action="store_const", const="held", help="entries held aside (413)")
    which.add_argument("--rejected", dest="state", action="store_const", const="rejected",
                       help="entries the engine rejected (other 4xx)")
    requeue.add_argument("--key", default=None, help="only the entry with this Idempotency-Key")
    requeue.add_argument("--conn-id", default=DEFAULT_CONN_ID,
                         help=f"Airflow connection of the metrics database (default {DEFAULT_CONN_ID})")
    requeue.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Requeue; prints how many entries are pending again. Exit 1 if ``--key`` matched nothing."""
    from perf_profiler.storage.dialect import get_hook
    from perf_profiler.storage.migrations import migrate
    from perf_profiler.storage.outbox_repo import requeue

    hook = get_hook(args.conn_id)
    migrate(hook)
    count = requeue(hook, args.state, args.key)
    what = f"{args.state} entry {args.key!r}" if args.key else f"{args.state} entries"
    print(f"requeued {count} {what}: pending again")
    return 1 if args.key and not count else 0
