"""The ``--json`` document of ``perf-profiler probe`` (versioned: ``"schema": 1``) and ``--output FILE``.

Schema 1 (README "The command line" documents it too)::

    {
      "schema": 1,                      # bumped on any incompatible change
      "tool": "perf-profiler", "version": "0.1.0",
      "interrupted": null | "SIGINT" | "SIGTERM",   # a stop: the numbers are what was measured until then
      "exit_code": 0 | 1 | 3 | 130,
      "summaries": [ {service, endpoint, method, base_url, requests, ok_count, error_count,
                      errors_by_class, status_codes, throughput, error_rate, wall_s, model, ...,
                      min_ms, mean_ms, max_ms, p50_ms, ..., p999_ms,   # null: no successful response
                      service_p50_ms, ..., lag_p50_ms, lag_p99_ms,
                      latency_hist, error_hist, ...} ],              # encoded HDR histograms (µs)
      "thresholds": [ {service, endpoint, metric, op, limit, measured (null: n/a), passed, source} ],
      "results": [ benchmark results as the engine returns them (docs/CONTRACTS.md) ]
    }

Nothing secret is in it: secret ``-H`` headers never enter a summary or a result.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from perf_profiler import __version__
from perf_profiler.analysis.reduce import EndpointSummary
from perf_profiler.analysis.report import nullable_summary
from perf_profiler.cli.thresholds import Outcome
from perf_profiler.model.result import BenchmarkResult

SCHEMA = 1


def document(results: Sequence[BenchmarkResult], summaries: Sequence[EndpointSummary],
             outcomes: Sequence[Outcome], interrupted: str | None, code: int) -> dict[str, Any]:
    """The schema-1 document of one run."""
    bases = {r["service"]: r["base_url"] for r in results}
    return {
        "schema": SCHEMA,
        "tool": "perf-profiler",
        "version": __version__,
        "interrupted": interrupted,
        "exit_code": code,
        "summaries": [{**nullable_summary(s), "base_url": bases.get(s.service, "")} for s in summaries],
        "thresholds": [o.to_dict() for o in outcomes],
        "results": list(results),
    }


def write(doc: dict[str, Any], path: str) -> None:
    """Write ``doc`` to ``path`` (atomically: a reader never sees half a file)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)
