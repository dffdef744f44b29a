"""The tables the tasks log: ``store``'s, once per run (every service × endpoint of the run with its
percentiles, throughput, error rate, verdict, client-saturated flag and its p95 against its
baseline), and ``perf_trends``' (each judged row: p95 vs baseline vs the p95 of 7 days earlier).

Rendered by ``report.table`` (the CLI's formatter), with the column registry's report titles. The
latencies are shown as stored: storage rounds DECIMAL(10,2) columns to two decimals, so does this
table, and a p95 read here is the p95 in ``perf_metrics``. "Baseline" is ``trends.baseline`` (the
one definition every view uses) over the p95 of the endpoint's previous runs.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from perf_profiler.analysis.report import table
from perf_profiler.analysis.trends import baseline
from perf_profiler.model.columns import column

#: Latencies as stored: perf_metrics rounds its DECIMAL(10,2) columns to two decimals.
STORED_MS = ".2f"


def _titled(name: str, fmt: str | None = None) -> tuple[str, str, str]:
    """(title, key, format) of a registry column that has a report title."""
    report = column(name).report
    if report is None:
        raise ValueError(f"perf_metrics column {name!r} has no report title")
    return report.title, name, fmt or report.fmt


#: (title, row key, format) of each column of the run table.
RUN_TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    _titled("service"),
    _titled("endpoint"),
    _titled("p50_ms", STORED_MS),
    _titled("p95_ms", STORED_MS),
    _titled("p99_ms", STORED_MS),
    _titled("throughput"),
    _titled("error_rate"),
    _titled("verdict"),
    ("saturated", "saturated", "s"),
    ("baseline p95", "baseline", "s"),
    ("p95 vs baseline", "change", "s"),
)


def printable(text: Any) -> str:
    """``text`` with every non-printable character (newline, ESC, ...) escaped as ``\\xNN``.

    Names are validated before they are stored; this keeps a log line one line regardless.
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


#: (title, row key, format) of each column of the perf_trends table.
TREND_TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    _titled("service"),
    _titled("endpoint"),
    ("run", "run_id", "s"),
    _titled("p95_ms", STORED_MS),
    ("baseline p95", "baseline", "s"),
    ("p95 vs baseline", "change", "s"),
    ("p95 7 d earlier", "week", "s"),
    ("p95 vs 7 d earlier", "week_change", "s"),
    ("regression", "regression", "s"),
)


def change(p95_ms: float, earlier_ms: float) -> str:
    """``+3.50 ms (+3.4%)``: a p95 against an earlier or baseline p95."""
    delta = round(p95_ms, 2) - earlier_ms
    relative = f" ({delta / earlier_ms:+.1%})" if earlier_ms else ""
    return f"{delta:+.2f} ms{relative}"


def change_cells(p95_ms: float, history_p95_ms: Sequence[float]) -> tuple[str, str]:
    """The baseline and p95-change cells of one row: ``"102.00 ms (20 runs)", "+3.50 ms (+3.4%)"``,
    or ``"n/a (3 runs)", "n/a"`` while the history is too short for a baseline."""
    base = baseline(history_p95_ms)
    if base is None:
        return f"n/a ({len(history_p95_ms)} runs)", "n/a"
    return f"{base.median_ms:.2f} ms ({base.runs} runs)", change(p95_ms, base.median_ms)


def table_row(row: Mapping[str, Any], history_p95_ms: Sequence[float]) -> dict[str, Any]:
    """One perf_metrics row as the run table shows it (names escaped, latencies rounded as stored)."""
    p95_ms = float(row["p95_ms"])
    base, change = change_cells(p95_ms, history_p95_ms)
    return {
        "service": printable(row["service"]),
        "endpoint": printable(row["endpoint"]),
        **{name: round(float(row[name]), 2) for name in ("p50_ms", "p95_ms", "p99_ms")},
        "throughput": round(float(row["throughput"]), 2),  # DECIMAL(10,2) too
        "error_rate": float(row["error_rate"]),
        "verdict": printable(row["verdict"]),
        "saturated": "yes" if row.get("client_saturated") else "no",
        "baseline": base,
        "change": change,
    }


def run_table(rows: Iterable[Mapping[str, Any]], histories: Mapping[str, Sequence[float]],
              with_run: bool = False) -> str:
    """The table of a run's rows; ``histories`` maps a row's ``id`` to the p95 of its endpoint's
    previous runs (newest first; a row without an entry has no history). ``with_run``: add the
    run of each row (a backfill re-deriving the rows of several runs)."""
    ordered = sorted(rows, key=lambda r: (str(r["service"]), str(r["endpoint"]), str(r["measured_at"])))
    columns = RUN_TABLE_COLUMNS
    if with_run:
        columns = (*columns[:2], ("run", "run_id", "s"), *columns[2:])
    lines = [{**table_row(row, histories.get(str(row["id"]), ())), "run_id": printable(row["run_id"])}
             for row in ordered]
    return table(lines, columns)


def run_heading(identity: Mapping[str, Any], mode: str, rows: int, source_run_ids: Sequence[str]) -> str:
    """The line above the table: which run, how many rows, and whether they were re-derived."""
    what = (f"re-derived (backfill) from the stored histograms of {', '.join(map(printable, source_run_ids))}"
            if mode == "rederive" else "measured")
    return (f"perf_profiler results of run {printable(identity['run_id'])} (tenant "
            f"{printable(identity['tenant_id'])}): {rows} endpoints, {what}")



def trend_table(judged: Iterable[tuple[Mapping[str, Any], Sequence[float], tuple[float, str] | None, bool]]) -> str:
    """The perf_trends table: per (row, its p95 history, (p95, measured_at) of the latest run at
    least 7 days earlier or None, whether it was recorded as a regression)."""
    lines = []
    for row, history, week, regressed in judged:
        p95_ms = float(row["p95_ms"])
        base, vs_base = change_cells(p95_ms, history)
        lines.append({
            "service": printable(row["service"]),
            "endpoint": printable(row["endpoint"]),
            "run_id": printable(row["run_id"]),
            "p95_ms": round(p95_ms, 2),
            "baseline": base,
            "change": vs_base,
            "week": "n/a (no run)" if week is None else f"{week[0]:.2f} ms ({week[1][:10]})",
            "week_change": "n/a" if week is None else change(p95_ms, week[0]),
            "regression": "REGRESSION" if regressed else "no",
        })
    return table(lines, TREND_TABLE_COLUMNS)
