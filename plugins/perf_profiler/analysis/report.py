"""Tables and summaries for humans (the CLI, the demo and task logs)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from perf_profiler.analysis.reduce import EndpointSummary

ROW_COLUMNS = (
    ("service", "service", "s"),
    ("endpoint", "endpoint", "s"),
    ("p50 ms", "p50_ms", ".1f"),
    ("p95 ms", "p95_ms", ".1f"),
    ("p99 ms", "p99_ms", ".1f"),
    ("rps", "throughput", ".1f"),
    ("errors", "error_rate", ".2%"),
    ("requests", "requests", "d"),
    ("verdict", "verdict", "s"),
)


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if fmt == "s":
        return str(value)
    if fmt == "d":
        return format(int(value), "d")
    return format(float(value), fmt)


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[tuple[str, str, str]] = ROW_COLUMNS) -> str:
    """A plain-text table of ``rows`` (dicts), one line per row, columns aligned."""
    header = [title for title, _, _ in columns]
    body = [[_cell(row.get(key), fmt) for _, key, fmt in columns] for row in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    numeric = [fmt != "s" for _, _, fmt in columns]

    def render(line: list[str]) -> str:
        cells = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(line, widths, numeric)]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([render(header), rule, *(render(line) for line in body)])


def probe_summary(summary: EndpointSummary, base_url: str = "") -> str:
    """An end-of-run summary for one endpoint, in the spirit of hey's and k6's."""
    open_loop = summary.model == "open"
    if open_loop:
        load = (f"  load          open loop, {summary.target_rate or 0:g} req/s scheduled: {summary.scheduled} "
                f"sends, {summary.dropped} dropped")
        latency = "  latency (successful responses, from the intended send time: corrected)"
    else:
        load = "  load          closed loop"
        latency = "  latency (successful responses)"
    lines = [
        f"{summary.method} {base_url}{summary.endpoint}",
        load,
        f"  requests      {summary.requests} in {summary.wall_s:.2f}s "
        f"({summary.ok_count} ok, {summary.error_count} failed)",
        f"  throughput    {summary.throughput:.1f} req/s (successful)",
        f"  error rate    {summary.error_rate:.2%}",
        latency,
        f"    min {summary.min_ms:.2f} ms  mean {summary.mean_ms:.2f} ms  max {summary.max_ms:.2f} ms",
        f"    p50 {summary.p50_ms:.2f} ms  p90 {summary.p90_ms:.2f} ms  p95 {summary.p95_ms:.2f} ms  "
        f"p99 {summary.p99_ms:.2f} ms  p99.9 {summary.p999_ms:.2f} ms",
    ]
    if open_loop:
        lines.append(f"  service time  p50 {summary.service_p50_ms:.2f} ms  p95 {summary.service_p95_ms:.2f} ms  "
                     f"p99 {summary.service_p99_ms:.2f} ms (from the actual send)")
    lines.append(f"  client lag    p50 {summary.lag_p50_ms:.2f} ms  p99 {summary.lag_p99_ms:.2f} ms "
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
