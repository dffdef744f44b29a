"""engine.cancel: the stop flag, the handlers around a probe, and the gates that read the flag."""
from __future__ import annotations

import os
import signal
import threading

import pytest

from perf_profiler.engine.cancel import STOP, ProbeCancelled, stop_on_signals
from perf_profiler.engine.plan import Deadline, Quota


@pytest.fixture(autouse=True)
def _clear_flag() -> None:
    STOP.clear()


def test_a_signal_sets_the_flag_and_the_handlers_are_restored() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with stop_on_signals() as stop:
        assert signal.getsignal(signal.SIGTERM) is not before[0]
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.signal == "SIGTERM"
        os.kill(os.getpid(), signal.SIGINT)  # the first one wins; no KeyboardInterrupt
        assert stop.signal == "SIGTERM"
        with pytest.raises(ProbeCancelled, match=r"service 'x' cancelled by SIGTERM.*partial results not stored"):
            stop.raise_if_set("service 'x'")
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    assert STOP.signal is None  # cleared: the next probe starts clean


def test_the_flag_is_cleared_on_entry() -> None:
    STOP.set("SIGINT")
    with stop_on_signals() as stop:
        assert stop.signal is None
        stop.raise_if_set("anything")  # does not raise


def test_from_another_thread_no_handler_is_installed() -> None:
    before = signal.getsignal(signal.SIGTERM)
    seen: list[object] = []

    def body() -> None:
        with stop_on_signals():
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [before]


def test_the_gates_stop_when_the_flag_is_set() -> None:
    quota, deadline = Quota(100), Deadline(60)
    assert quota.take() and deadline.take()
    STOP.set("SIGTERM")
    assert not quota.take() and not deadline.take()
    assert quota.left == 99  # nothing drawn after the stop
