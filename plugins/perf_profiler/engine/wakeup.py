"""Wake the event loop at an exact time, to the microsecond, without busy-polling a core.

Event-loop timers tick in whole milliseconds (uvloop's libuv timers, asyncio's epoll timeout), so a
send timed by them is up to a millisecond late, and busy-polling to do better burns a core even at
a low rate. On Linux a ``timerfd`` (armed at an absolute ``CLOCK_MONOTONIC`` time -- the clock of
``time.perf_counter_ns``) becomes readable at that time, and the loop's poll wakes for it:
:class:`Wakeup` arms one and calls back when it fires. Elsewhere (or if the timerfd cannot be
made) the loop's timer sleeps until :data:`POLL_WINDOW_NS` before the time and the rest is
busy-polled (``call_soon``), so only that window costs CPU.

:meth:`Wakeup.every` arms a periodic timer instead (first time, then every period): the kernel
keeps the beat, so a fixed-rate sender pays no re-arming per wake-up; ``Wakeup.next_ns`` is the
time of the next beat (past the ones a busy loop missed).
"""
from __future__ import annotations

import asyncio
import ctypes
import os
import sys
import time
from collections.abc import Callable

#: Without a timerfd: busy-poll only this close to the wake-up time (the loop timer's granularity).
POLL_WINDOW_NS = 1_000_000
_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timerfd_create  # noqa: B018 -- present in glibc and musl
    except (OSError, AttributeError):
        return None
    return libc


class Wakeup:
    """Calls ``callback()`` once the ``time.perf_counter_ns`` clock reaches the time given to :meth:`at`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self.loop = loop
        self.callback = callback
        self.fd = -1
        self._spec = _Itimerspec()
        self._handle: asyncio.Handle | None = None
        self.period_ns = 0  # 0: one-shot (``at``); else the beat of ``every``
        self.next_ns = 0  # the time of the next call back armed
        libc = _libc()
        if libc is not None:
            fd = libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
            if fd >= 0:
                self._settime = libc.timerfd_settime
                self.fd = fd
                loop.add_reader(fd, self._fired)

    @property
    def precise(self) -> bool:
        """Whether a timerfd wakes the loop (else: loop timer plus a busy-polled window)."""
        return self.fd >= 0

    def at(self, when_ns: int) -> None:
        """Call back at ``when_ns`` (replaces an earlier wake-up not yet due)."""
        self.every(when_ns, 0)

    def every(self, first_ns: int, period_ns: int) -> None:
        """Call back at ``first_ns`` and then every ``period_ns`` (0: once); replaces what was armed.

        Beats missed while the loop was busy are not called back one by one: the next call back
        comes for the latest beat passed (``next_ns`` moves past them).
        """
        self.period_ns = period_ns
        self.next_ns = first_ns
        if self.fd >= 0:
            spec = self._spec
            spec.it_value.tv_sec, spec.it_value.tv_nsec = divmod(max(first_ns, 1), 1_000_000_000)  # 0 disarms
            spec.it_interval.tv_sec, spec.it_interval.tv_nsec = divmod(period_ns, 1_000_000_000)
            self._settime(self.fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None)
            return
        self._arm_poll(first_ns)

    def _arm_poll(self, when_ns: int) -> None:
        if self._handle is not None:
            self._handle.cancel()
        wait_ns = when_ns - time.perf_counter_ns()
        if wait_ns > POLL_WINDOW_NS:
            self._handle = self.loop.call_later((wait_ns - POLL_WINDOW_NS) / 1e9, self._poll, when_ns)
        else:
            self._handle = self.loop.call_soon(self._poll, when_ns)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if self.fd >= 0:
            self.loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1

    def _fired(self) -> None:
        try:
            beats = int.from_bytes(os.read(self.fd, 8), sys.byteorder)
        except BlockingIOError:  # re-armed after it fired: not due yet
            return
        self.next_ns += beats * self.period_ns  # past the beats just passed (0 for a one-shot)
        self.callback()

    def _poll(self, when_ns: int) -> None:
        now = time.perf_counter_ns()
        if now < when_ns:
            self._handle = self.loop.call_soon(self._poll, when_ns)
            return
        self._handle = None
        if self.period_ns:
            self.next_ns += (1 + (now - when_ns) // self.period_ns) * self.period_ns
            self._arm_poll(self.next_ns)
        self.callback()
