"""The probe's one cancellation path: a process-wide stop flag, set by SIGTERM/SIGINT while a probe runs.

For a ``@task`` Airflow only calls the task's ``on_kill`` on SIGTERM, which does nothing for a
decorated task, and the CLI's Ctrl-C must not leave a traceback: both go through here.
:func:`stop_on_signals` installs handlers for SIGTERM and SIGINT around a probe (main thread
only; the previous handlers are restored afterwards) that set :data:`STOP`. The loops read
``STOP.signal`` -- a plain attribute, no call -- before each send (the closed loop's gates, the
open loop's dispatcher, the pacer's waits), so on cancel they stop sending and let in-flight
requests finish (bounded by the timeout). What happens then is the caller's choice
(``on_cancel``): ``"raise"`` (the ``benchmark`` task) -- the probe raises :class:`ProbeCancelled`,
the task fails (Airflow retries it) and no partial result is stored; ``"partial"`` (the CLI) --
the probe returns what it measured so far, marked ``interrupted``, and a *second* signal exits
the process at once (status 130, no traceback).

Worker processes (``processes``) install the same handlers and, in addition, die with their
parent: :func:`die_with_parent` sets the Linux parent-death signal (SIGTERM) and starts a
watchdog thread that notices a vanished parent and exits the process.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, Literal

#: The signals that cancel a running probe.
CANCEL_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: The caller's choice on cancel: raise ProbeCancelled, or return the partial result.
OnCancel = Literal["raise", "partial"]
#: Exit status of a second signal in ``"partial"`` mode (128 + SIGINT, as shells report Ctrl-C).
EXIT_AT_ONCE = 130
#: Called (in order, errors ignored) just before a second signal exits the process at once: a
#: display restores the terminal here (e.g. the cursor its live line hid). Keep them tiny.
BEFORE_EXIT_AT_ONCE: list[Callable[[], None]] = []
#: Worker watchdog: how often it checks that the parent is still there.
WATCHDOG_INTERVAL_S = 0.2
#: Worker watchdog: how long a worker whose parent vanished may finish in-flight requests.
ORPHAN_GRACE_S = 1.0
_PR_SET_PDEATHSIG = 1


class ProbeCancelled(Exception):
    """The probe was stopped by a signal (or its parent vanished) and its caller keeps no partial result."""


class StopFlag:
    """Process-wide: ``signal`` is None while the probe may send, else the name of what stopped it.

    ``partial``: the caller keeps what was measured (``on_cancel="partial"``) instead of failing;
    ``second_exits``: a second signal exits the process at once.
    """

    __slots__ = ("partial", "second_exits", "signal")

    def __init__(self) -> None:
        self.signal: str | None = None
        self.partial = False
        self.second_exits = False

    def set(self, reason: str) -> None:
        if self.signal is None:
            self.signal = reason

    def clear(self) -> None:
        self.signal = None

    def stopped(self, what: str) -> bool:
        """Whether the probe was stopped; raises :class:`ProbeCancelled` instead unless ``partial``."""
        if self.signal is None:
            return False
        if not self.partial:
            self.raise_if_set(what)
        return True

    def raise_if_set(self, what: str) -> None:
        """Raise :class:`ProbeCancelled` naming the signal when the flag is set."""
        if self.signal is not None:
            raise ProbeCancelled(
                f"{what} cancelled by {self.signal}: stopped sending, in-flight requests finished, "
                "partial results not stored")


#: The one stop flag of this process.
STOP = StopFlag()


def _on_signal(signum: int, frame: Any) -> None:
    name = signal.Signals(signum).name
    if STOP.signal is not None and STOP.second_exits:  # the second one: the user does not want to wait
        try:
            for hook in BEFORE_EXIT_AT_ONCE:
                with suppress(Exception):
                    hook()
            sys.stderr.write(f"\n{name} again: exiting at once, nothing more is printed\n")
            sys.stderr.flush()
        finally:
            os._exit(EXIT_AT_ONCE)
    STOP.set(name)


@contextmanager
def stop_on_signals(on_cancel: OnCancel = "raise", second_exits: bool | None = None) -> Iterator[StopFlag]:
    """While the block runs, SIGTERM and SIGINT set :data:`STOP` (main thread only; restored after).

    ``on_cancel`` is the caller's choice (module docstring); ``second_exits`` (default: with
    ``"partial"``) makes a second signal exit the process at once -- not in worker processes,
    which get the terminal's Ctrl-C and then their parent's SIGTERM and must not die of it.
    The flag is cleared on entry and on exit, so one cancelled probe does not cancel the next.
    From another thread the handlers cannot be installed; the flag is still honoured (tests,
    embedding code may set it).
    """
    STOP.clear()
    STOP.partial = on_cancel == "partial"
    STOP.second_exits = STOP.partial if second_exits is None else second_exits
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in CANCEL_SIGNALS:
            previous[signum] = signal.signal(signum, _on_signal)
    try:
        yield STOP
    finally:
        for restored, handler in previous.items():
            signal.signal(restored, handler)
        STOP.clear()
        STOP.partial = STOP.second_exits = False


def die_with_parent(parent_pid: int) -> None:
    """In a worker process: get SIGTERM when the parent dies (Linux), and watch it anyway.

    The watchdog thread covers other systems and the race before ``prctl``: once the parent is
    gone it sets :data:`STOP`, gives in-flight requests :data:`ORPHAN_GRACE_S`, then exits.
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watchdog alone
            pass
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="perf-profiler-watchdog", daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCHDOG_INTERVAL_S)
    STOP.set("parent exit")
    time.sleep(ORPHAN_GRACE_S)
    os._exit(1)
