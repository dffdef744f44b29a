"""`make bench` row (g): does the CLI's live progress line disturb the measurement? (issue 14)

10 s closed-loop runs of `perf-profiler probe` against nginx with the live display **on** (stderr
a pseudo-terminal: rich's live line, 4 refreshes a second) and **off** (``--quiet``), in
interleaved rounds ``on, off, on``: the two "on" runs of a round are the control (their
difference is the noise of this machine right now) and the "off" run is compared with their
mean. Reported: request rate and event-loop lag p99 of each; the target: the on/off rate
difference within the on/on spread, or at most 2 % of the rate.

Run by ``bench/run.py`` (``--only f``); on its own::

    .venv/bin/python bench/progress_overhead.py [--duration 10] [--rounds 2]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import pty
import statistics
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "plugins"), os.environ.get("PYTHONPATH")]))}
CONCURRENCY = 50
#: The target: the on/off rate difference is within the on/on spread, or at most this share of the rate.
MAX_DIFF = 0.02


def _drain(fd: int) -> None:
    """Read the pseudo-terminal until it closes (a full pty buffer would block the CLI's writes)."""
    with contextlib.suppress(OSError):  # EIO once the CLI's side is closed
        while os.read(fd, 65536):
            pass


def probe_once(url: str, pin: list[str], duration_s: float, live: bool) -> dict[str, float]:
    """One closed-loop CLI run; its request rate and event-loop lag p99 (from the --json document)."""
    cmd = [*pin, sys.executable, "-m", "perf_profiler.cli.main", "probe", url, "--json", "--duration",
           f"{duration_s:g}s", "-c", str(CONCURRENCY), "--warmup", "200"]
    if live:
        master, slave = pty.openpty()
        reader = threading.Thread(target=_drain, args=(master,), daemon=True)
        reader.start()
        try:
            done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=slave, text=True, env=ENV,
                                  timeout=duration_s + 120)
        finally:
            os.close(slave)
            reader.join(timeout=5)
            os.close(master)
    else:
        done = subprocess.run([*cmd, "--quiet"], capture_output=True, text=True, env=ENV, timeout=duration_s + 120)
    if done.returncode != 0:
        raise RuntimeError(f"perf-profiler probe exited {done.returncode}: {(done.stderr or '')[-1000:]}")
    (summary,) = json.loads(done.stdout)["summaries"]
    return {"rate": summary["requests"] / summary["wall_s"], "lag_p99_ms": summary["lag_p99_ms"]}


def bench(cpus: Any, server: Callable[[Any], AbstractContextManager[str]], duration_s: float,
          rounds: int, log: Callable[[str], None] = print) -> dict[str, Any]:
    """(g) rounds of (on, off, on) against ``server(cpus)``; the client pinned like the other rows."""
    runs: list[dict[str, Any]] = []
    with server(cpus) as url:
        for number in range(rounds):
            for kind in ("on", "off", "on"):
                measured = probe_once(url, cpus.pin(cpus.client), duration_s, live=kind == "on")
                run = {"round": number, "kind": kind, **measured}
                log(f"(g) round {number + 1} live {kind}: {run['rate']:.0f} req/s, lag p99 {run['lag_p99_ms']:.2f} ms")
                runs.append(run)
    return summarize(runs, duration_s, rounds)


def summarize(runs: list[dict[str, Any]], duration_s: float, rounds: int) -> dict[str, Any]:
    """Medians over the rounds of: on, off, the on/on control spread, the on/off difference; the verdict.

    Each round is a sandwich: its "off" run is compared with the mean of the two "on" runs around
    it, which cancels a load on the machine that drifts during the round.
    """
    on = [r for r in runs if r["kind"] == "on"]
    off = [r for r in runs if r["kind"] == "off"]
    rate_on, rate_off = statistics.median(r["rate"] for r in on), statistics.median(r["rate"] for r in off)
    pairs = [[r for r in on if r["round"] == n] for n in range(rounds)]
    spread = statistics.median(abs(a["rate"] - b["rate"]) / max(a["rate"], b["rate"]) for a, b in pairs)
    lag_spread = statistics.median(abs(a["lag_p99_ms"] - b["lag_p99_ms"]) for a, b in pairs)
    diff = statistics.median(abs((a["rate"] + b["rate"]) / 2 - o["rate"]) / o["rate"]
                             for (a, b), o in zip(pairs, off, strict=True))
    return {
        "duration_s": duration_s, "rounds": rounds, "concurrency": CONCURRENCY, "runs": runs,
        "rate_on": round(rate_on, 1), "rate_off": round(rate_off, 1),
        "lag_p99_on_ms": statistics.median(r["lag_p99_ms"] for r in on),
        "lag_p99_off_ms": statistics.median(r["lag_p99_ms"] for r in off),
        "lag_p99_on_on_spread_ms": round(lag_spread, 3),
        "on_off_rate_diff": round(diff, 4), "on_on_rate_spread": round(spread, 4),
        "met": diff <= spread or diff <= MAX_DIFF,
    }


def targets(f: dict[str, Any] | None) -> dict[str, Any]:
    """The row's entry in the bench report's targets."""
    if not f:
        return {}
    return {"g_live_progress_rate": {"target": f"on/off rate difference within the on/on spread or <= {MAX_DIFF:.0%}",
                                     "value": f["on_off_rate_diff"], "met": f["met"]}}


def rows(f: dict[str, Any] | None) -> list[str]:
    """The row of the bench table (markdown)."""
    if not f:
        return []
    status = "✅" if f["met"] else "❌"
    return [
        f"| g | live progress line on vs off (`--quiet`), closed loop {f['concurrency']} in flight, "
        f"{f['duration_s']:g} s, {f['rounds']} interleaved rounds on/off/on "
        f"| on {f['rate_on']:,.0f} req/s · lag p99 {f['lag_p99_on_ms']:.2f} ms "
        f"| off {f['rate_off']:,.0f} req/s · lag p99 {f['lag_p99_off_ms']:.2f} ms "
        f"| rate {f['on_off_rate_diff']:.2%} apart (on/on spread {f['on_on_rate_spread']:.2%}; "
        f"lag p99 on/on spread {f['lag_p99_on_on_spread_ms']:.2f} ms) "
        f"| ≤ on/on spread or ≤ {MAX_DIFF:.0%} | {status} |"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    import run as bench_run  # type: ignore[import-not-found]  # the suite's nginx and CPU pinning

    result = bench(bench_run.Cpus(), bench_run.nginx, args.duration, args.rounds, bench_run.log)
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    print("\n".join(rows(result)))


if __name__ == "__main__":
    main()
