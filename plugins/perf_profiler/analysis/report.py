"""Tables and summaries for humans (the CLI, the demo and task logs).

The table's columns and the percentiles the summary lists come from the column registry
(``model.columns``): a column with a report title is a table column, in registry order.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from perf_profiler.analysis.reduce import EndpointSummary
from perf_profiler.model.columns import COLUMNS, DERIVED_COLUMNS, HistogramName, percentile_label

#: (title, row key, format) of each column of ``table``.
REPORT_COLUMNS: tuple[tuple[str, str, str], ...] = tuple(
    (c.report.title, c.name, c.report.fmt) for c in COLUMNS if c.report is not None
)


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if fmt == "s":
        return str(value)
    if fmt == "d":
        return format(int(value), "d")
    return format(float(value), fmt)


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[tuple[str, str, str]] = REPORT_COLUMNS) -> str:
    """A plain-text table of ``rows`` (dicts), one line per row, columns aligned."""
    header = [title for title, _, _ in columns]
    body = [[_cell(row.get(key), fmt) for _, key, fmt in columns] for row in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    numeric = [fmt != "s" for _, _, fmt in columns]

    def render(line: list[str]) -> str:
        cells = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(line, widths, numeric, strict=True)]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([render(header), rule, *(render(line) for line in body)])


def probe_summary(summary: EndpointSummary, base_url: str = "", interrupted: str | None = None) -> str:
    """An end-of-run summary for one endpoint, in the spirit of hey's and k6's.

    ``interrupted``: the signal that stopped the run (the numbers are what was measured until
    then). Latency statistics of an endpoint without a successful response read "n/a".
    """
    open_loop = summary.model == "open"
    if open_loop:
        load = (f"  load          open loop, {summary.target_rate or 0:g} req/s scheduled: {summary.scheduled} "
                f"sends, {summary.dropped} dropped")
        latency = "  latency (successful responses, from the intended send time: corrected)"
    else:
        load = "  load          closed loop"
        latency = "  latency (successful responses)"
    stopped = f"  INTERRUPTED by {interrupted}: partial results, measured until the stop" if interrupted else ""
    lines = [
        f"{summary.method} {base_url}{summary.endpoint}{stopped}",
        load,
        f"  requests      {summary.requests} in {summary.wall_s:.2f}s "
        f"({summary.ok_count} ok, {summary.error_count} failed)",
        f"  throughput    {summary.throughput:.1f} req/s (successful)",
        f"  error rate    {summary.error_rate:.2%}",
        latency,
        "    " + "  ".join(f"{name} {_ms(summary, f'{name}_ms')}" for name in ("min", "mean", "max")),
        f"    {_percentiles(summary, 'latency')}",
    ]
    if open_loop:
        lines.append(f"  service time  {_percentiles(summary, 'service')} (from the actual send)")
    lines.append(f"  client lag    {_percentiles(summary, 'lag')} "
                 f"({'send lag' if open_loop else 'event-loop lag'} of the load generator)")
    if summary.client_saturated:
        lines.append("  CLIENT SATURATED: the load generator could not deliver the requested load; "
                     "these numbers are distorted by the client, not only the service")
        lines.extend(f"    - {reason}" for reason in summary.saturation_reasons)
    if summary.status_codes:
        codes = "  ".join(f"[{code}] {n}" for code, n in sorted(summary.status_codes.items()))
        lines.append(f"  status codes  {codes}")
    errors = {k: v for k, v in summary.errors_by_class.items() if v}
    if errors:
        lines.append("  errors        " + "  ".join(f"{k}: {v}" for k, v in sorted(errors.items())))
    return "\n".join(lines)


def _percentiles(summary: EndpointSummary, histogram: HistogramName) -> str:
    """``p50 1.00 ms  p95 2.00 ms ...``: the registry's percentile columns of one histogram."""
    return "  ".join(
        f"{percentile_label(c.derived.percentile)} {_ms(summary, c.name, histogram)}"
        for c in DERIVED_COLUMNS
        if c.derived is not None and c.derived.histogram == histogram and c.derived.percentile is not None
    )


def _ms(summary: EndpointSummary, name: str, histogram: HistogramName = "latency") -> str:
    """``12.34 ms``, or ``n/a`` for a response-time statistic of an endpoint with no successful response."""
    value = latency_value(summary, name, histogram)
    return "n/a" if value is None else f"{value:.2f} ms"


def latency_value(summary: EndpointSummary, name: str, histogram: HistogramName = "latency") -> float | None:
    """The derived value ``name``; None when it describes successful responses and there were none."""
    if histogram != "lag" and summary.ok_count == 0:
        return None
    return float(summary.derived[name])


def nullable_summary(summary: EndpointSummary) -> dict[str, Any]:
    """``summary.to_dict()`` with the response-time statistics None (JSON null) when nothing succeeded."""
    out = summary.to_dict()
    if summary.ok_count == 0:
        for column in DERIVED_COLUMNS:
            if column.derived is not None and column.derived.histogram != "lag":
                out[column.name] = None
    return out
