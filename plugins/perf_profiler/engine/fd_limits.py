"""The open-file budget of a probe: checked before the first request, raised when it can be.

Every connection of the probe's pool is a file descriptor, so a process that keeps
``concurrency`` connections open needs ``RLIMIT_NOFILE`` above that plus what it already holds
plus a margin (:data:`FD_MARGIN`: the event loop, DNS look-ups, TLS files, logging, a database
connection, an import). :func:`ensure_fd_budget` runs before anything is sent, in every process
that probes (each worker process checks its own share): when the soft limit is too low it is
raised towards the hard one (Go's runtime does the same at start-up); when even the hard limit
is too low the probe is refused with :class:`FdLimitError`, naming the numbers and what to do.

An exhaustion that still happens during a run (other descriptors opened meanwhile) is data:
``classify`` counts it in the ``client`` class and says so in ``first_error``.
"""
from __future__ import annotations

import logging
import os
import resource  # POSIX only, like Airflow
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: Descriptors kept free beside the pool: event loop, DNS, TLS files, logging, DB, imports.
FD_MARGIN = 64


class FdLimitError(RuntimeError):
    """The probe would need more open files than this process may have; nothing was sent."""


@dataclass(frozen=True)
class FdBudget:
    """What the check found: descriptors needed, open before the probe, and the limits after it."""

    needed: int
    open_before: int
    soft: int
    hard: int
    raised_from: int | None  # the soft limit before the check raised it, None when it did not


def open_fd_count() -> int:
    """Descriptors this process holds right now (0 where the OS does not list them)."""
    folder = next((f for f in ("/proc/self/fd", "/dev/fd") if os.path.isdir(f)), None)
    if folder is None:
        return 0
    try:
        return max(0, len(os.listdir(folder)) - 1)  # listdir's own descriptor is listed too
    except OSError:
        return 0


def ensure_fd_budget(connections: int, what: str) -> FdBudget:
    """Make room for ``connections`` pooled connections in this process, or refuse.

    ``what`` names the probe in the messages (e.g. ``service 'api', process 1 of 4``). Raises
    :class:`FdLimitError` before any request when the hard limit is too low.
    """
    _import_lazy_dependencies()
    open_before = open_fd_count()
    needed = connections + open_before + FD_MARGIN
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if _fits(needed, soft):
        return FdBudget(needed, open_before, soft, hard, None)
    if _fits(needed, hard):
        raised = _raise_soft(needed, hard)
        if raised is not None:
            log.info("%s: raised the open-file soft limit (RLIMIT_NOFILE) from %s to %s (hard limit %s) "
                     "for %s connections", what, soft, raised, _show(hard), connections)
            return FdBudget(needed, open_before, raised, hard, soft)
    room = max(0, max(soft, hard) - open_before - FD_MARGIN)
    raise FdLimitError(
        f"{what}: {connections} concurrent connections need about {needed} open files "
        f"({connections} connections + {open_before} already open + {FD_MARGIN} margin), but the open-file "
        f"limit (RLIMIT_NOFILE) is {_show(soft)} (soft) / {_show(hard)} (hard) and the soft limit cannot be raised "
        f"above the hard one: lower load.concurrency (to at most {room} per process), spread it with "
        f"load.processes, or raise the limit (`ulimit -n {needed}` after `ulimit -Hn`, LimitNOFILE= in systemd, "
        f"--ulimit nofile= in Docker)"
    )


def _import_lazy_dependencies() -> None:
    """Imports the probe would otherwise make mid-run, when its connections may hold every free
    descriptor (an import opens a file: EMFILE there is a crash, not a counted error)."""
    import numpy  # noqa: F401  (analysis.histogram imports it lazily, at the first bulk record)


def _fits(needed: int, limit: int) -> bool:
    return limit == resource.RLIM_INFINITY or needed <= limit


def _show(limit: int) -> str:
    return "unlimited" if limit == resource.RLIM_INFINITY else str(limit)


def _raise_soft(needed: int, hard: int) -> int | None:
    """Raise the soft limit to the hard one (to ``needed`` when the hard one is unlimited or
    refused, e.g. above the kernel's nr_open); the new soft limit, or None when nothing worked."""
    targets = [needed] if hard == resource.RLIM_INFINITY else [hard, needed]
    for target in targets:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            continue
        return target
    return None
