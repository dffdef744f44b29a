"""The live status line of ``perf-profiler probe`` on stderr, from the engine's progress board.

On a terminal: a one-line live display (rich's ``Live``), refreshed :data:`REFRESH_PER_S` times a
second, shown once a run has lasted :data:`SHOW_AFTER_S` (short runs stay quiet) and removed when
it ends (the summary follows). Not on a terminal: a plain line every ``--progress-every``
seconds. ``--quiet``: nothing. A daemon thread reads ``engine.progress.PROGRESS`` (a snapshot
copies two histograms' counts: no work per request); the probe's event loop never waits for it.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from perf_profiler.engine.cancel import BEFORE_EXIT_AT_ONCE
from perf_profiler.engine.progress import PROGRESS, ProgressLine

REFRESH_PER_S = 4.0
SHOW_AFTER_S = 2.0


def display_mode(quiet: bool, stream: TextIO) -> str:
    """"off" (--quiet), "live" (a terminal) or "lines" (a pipe or a file)."""
    if quiet:
        return "off"
    isatty = getattr(stream, "isatty", None)
    return "live" if isatty is not None and isatty() else "lines"


@contextmanager
def live_progress(mode: str, every_s: float, stream: TextIO | None = None) -> Iterator[None]:
    """Show the probe's progress on ``stream`` (stderr) while the block runs (``mode``: :func:`display_mode`)."""
    if mode == "off":
        yield
        return
    out = stream or sys.stderr
    if mode == "live":  # imported here, before the probe: an import in the thread would hold the GIL mid-run
        import rich.live  # noqa: F401
    done = threading.Event()
    target = _live if mode == "live" else _lines
    thread = threading.Thread(target=target, args=(done, out, every_s), name="perf-profiler-live", daemon=True)

    def show_cursor() -> None:  # a second Ctrl-C exits at once: give the terminal its cursor back
        out.write("\x1b[?25h")
        out.flush()

    if mode == "live":
        BEFORE_EXIT_AT_ONCE.append(show_cursor)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=2)
        if show_cursor in BEFORE_EXIT_AT_ONCE:
            BEFORE_EXIT_AT_ONCE.remove(show_cursor)


def _lines(done: threading.Event, out: TextIO, every_s: float) -> None:
    line = ProgressLine()
    while not done.wait(every_s):
        snap = PROGRESS.snapshot()
        if snap is not None:
            try:
                print(f"perf-profiler: {line.render(snap)}", file=out, flush=True)
            except (OSError, ValueError):  # stderr closed (a pipe's reader left): the probe goes on
                return


def _live(done: threading.Event, out: TextIO, every_s: float) -> None:
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    line = ProgressLine()
    started = time.monotonic()
    live: Any = None
    try:
        while not done.wait(1.0 / REFRESH_PER_S):
            snap = PROGRESS.snapshot()
            if snap is None or time.monotonic() - started < SHOW_AFTER_S:
                continue
            text = Text(line.render(snap), no_wrap=True, overflow="ellipsis")
            if live is None:
                console = Console(file=out, force_terminal=True, highlight=False, width=_columns(out))
                live = Live(text, console=console, auto_refresh=False, transient=True, redirect_stdout=False,
                            redirect_stderr=False)
                live.start()
            live.update(text, refresh=True)
    except (OSError, ValueError):  # the terminal went away: the probe goes on without a display
        live = None
    finally:
        if live is not None:
            live.stop()


def _columns(out: TextIO) -> int:
    """The width of the terminal ``out`` writes to (stdout may be a pipe: ask ``out`` itself)."""
    try:
        return os.get_terminal_size(out.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        return 80
