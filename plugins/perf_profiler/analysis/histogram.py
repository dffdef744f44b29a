"""HDR histogram helpers: record latencies, ship them over XCom, merge them, read percentiles.

Every histogram here has the same settings: values in **microseconds**, from 1 µs to one hour
(``HIGHEST_US``), **3 significant digits**. Within those settings an HDR "bucket" (the set of
values the histogram cannot tell apart) is ``w`` µs wide and starts at ``L >= 1024 * w`` (below
2048 µs buckets are 1 µs wide, i.e. exact), so any value inside a bucket is within ``w / L <=
1/1024`` of any other value of the same bucket.

Choices made here (binding for ``metrics`` and everything that stores or reports latencies):

* **Successful responses only** feed the latency histogram that drives the percentiles; the
  latencies of failed requests (timeouts, refused connections, 5xx, ...) go to a separate error
  histogram. A fast 500 or a 5 s timeout would otherwise pull p50/p95 in whichever direction the
  failure mode happens to push; failures are measured by the error rate instead.
* **Which percentiles**: those the column registry (``model.columns``) names, ``PERCENTILES``.
* **Which sample a percentile is**: numpy's ``method="inverted_cdf"`` (the smallest sample whose
  empirical CDF reaches ``p``): the sample of rank ``k = max(1, ceil(N * (p / 100)))``, with the
  product evaluated in float64 exactly as ``numpy.percentile`` evaluates it (so p99.9 of 100 000
  samples is rank 99 901 in both). HDR's own ``get_value_at_percentile`` rounds ``N * p`` to the
  nearest rank instead, so the rank is computed here, in one pass over the cumulative counts.
* **Which value of the bucket is reported**: the bucket's *median-equivalent* value ``L + w // 2``
  (HDR's ``_hdr_median_equiv_value``). The true sample lies in ``[L, L + w - 1]``, so the
  reported value is off by at most ``w / 2``, i.e. a relative error ``<= 1/2048 ~ 0.049 %``
  (0 for samples below 2048 µs) — half of what HDR's default highest-equivalent value gives, and
  provably inside the 0.1 % budget. Min, max and mean use the same median-equivalent values.

numpy is imported lazily so that importing this module (for example from a DAG file at parse
time) stays cheap.
"""
from __future__ import annotations

import math
import zlib
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from hdrh.codec import (
    HdrCookieException,
    HdrHistogramEncoder,
    HdrHistogramSettingsException,
    HdrLengthException,
)
from hdrh.histogram import HdrHistogram

from perf_profiler.model.columns import DERIVED_COLUMNS, PERCENTILES, FromHistogram, HistogramName

if TYPE_CHECKING:
    import numpy as np

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3

# Everything the hdrh decoder (base64, zlib, header parsing, C varint decoder) raises on bad input.
_DECODE_ERRORS = (
    ValueError,
    TypeError,
    ArithmeticError,
    LookupError,
    RuntimeError,
    AssertionError,
    zlib.error,
    HdrCookieException,
    HdrLengthException,
    HdrHistogramSettingsException,
)


@dataclass(frozen=True)
class LatencyStats:
    """Summary of one histogram in milliseconds; every value is 0 when ``count == 0``.

    ``percentiles_ms`` maps each computed percentile (0-100) to its value; ``stats.p95_ms``,
    ``stats.p999_ms`` ... read it under the registry's column-style names.
    """

    count: int = 0
    min_ms: float = 0.0
    max_ms: float = 0.0
    mean_ms: float = 0.0
    percentiles_ms: Mapping[float, float] = field(default_factory=dict)

    def percentile_ms(self, percentile: float) -> float:
        """The value at ``percentile`` (KeyError when it was not computed)."""
        return self.percentiles_ms[percentile] if self.count else 0.0

    def value(self, spec: FromHistogram) -> float:
        """The statistic a registry column names (a percentile, or min/max/mean)."""
        if spec.percentile is not None:
            return self.percentile_ms(spec.percentile)
        return {"min": self.min_ms, "max": self.max_ms, "mean": self.mean_ms}[str(spec.stat)]

    def __getattr__(self, name: str) -> float:
        percentile = _PERCENTILE_ATTRS.get(name)
        if percentile is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return self.percentile_ms(percentile)


#: ``p50_ms`` -> 50.0, ``p999_ms`` -> 99.9: the attribute names of ``LatencyStats``' percentiles.
_PERCENTILE_ATTRS = {f"p{p:g}".replace(".", "") + "_ms": p for p in PERCENTILES}


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def record_us(h: HdrHistogram, value_us: int) -> None:
    """Record one latency in µs, clamped into [LOWEST_US, HIGHEST_US] (floats are rounded)."""
    h.record_value(round(min(max(value_us, LOWEST_US), HIGHEST_US)))


def record_many(h: HdrHistogram, values_us: Iterable[int] | np.ndarray) -> None:
    """Record many latencies in µs at once; same histogram as ``record_us`` on each value."""
    import numpy as np

    if isinstance(values_us, array) and values_us.typecode == "q":  # the engine's buffers: whole µs already
        values = np.clip(np.frombuffer(values_us, dtype=np.int64), LOWEST_US, HIGHEST_US)
    else:
        given = np.asarray(values_us, dtype=np.float64).ravel()
        if np.isnan(given).any():
            raise ValueError("cannot record NaN latencies")
        values = np.rint(np.clip(given, LOWEST_US, HIGHEST_US)).astype(np.int64)
    if values.size == 0:
        return
    index = np.searchsorted(_lowest_us(), values, side="right") - 1
    added = np.bincount(index)  # up to the highest bucket used: the engine calls this in its hot loop
    _counts(h)[: added.size] += added.astype(np.uint64)
    h.total_count += int(values.size)
    h.min_value = min(h.min_value, int(values.min()))
    h.max_value = max(h.max_value, int(values.max()))


def encode(h: HdrHistogram) -> str:
    """Compressed, base64 (ascii) V2 encoding of ``h``, fit for XCom, JSON and text columns."""
    return h.encode().decode("ascii")


def decode(encoded: str) -> HdrHistogram:
    """Inverse of ``encode``; raises ValueError for anything that is not one of our histograms."""
    if not isinstance(encoded, str):
        raise TypeError(f"encoded histogram must be str, not {type(encoded).__name__}")
    try:
        payload = HdrHistogramEncoder.decode(encoded)
    except _DECODE_ERRORS as exc:
        raise ValueError(f"not an encoded HDR histogram: {_describe(exc)}") from exc
    _check_settings(payload.payload)
    try:
        return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS, hdr_payload=payload)
    except _DECODE_ERRORS as exc:
        raise ValueError(f"corrupt HDR histogram counts: {_describe(exc)}") from exc


def merge(encoded: Iterable[str]) -> HdrHistogram:
    """One histogram holding every value of the encoded histograms (exact: counts add)."""
    merged = new_histogram()
    counts = _counts(merged)
    for item in encoded:
        counts += _counts(decode(item))
    _sync_tracking(merged)
    return merged


def summarize(h: HdrHistogram, percentiles: Sequence[float] = PERCENTILES) -> LatencyStats:
    """Count, min, max, mean and ``percentiles`` in ms, from one pass over the counts."""
    return summarize_counts(_counts(h), percentiles)


def counts_snapshot(h: HdrHistogram, pending: Sequence[int] = ()) -> np.ndarray:
    """A copy of ``h``'s bucket counts with the values ``pending`` (µs, not recorded yet) added.

    For live displays: cheap (one array copy) and exact when ``h`` does not change meanwhile.
    Snapshots subtract (a window's counts) and add (other processes') as numpy arrays.
    """
    import numpy as np

    counts = _counts(h).copy()
    if len(pending):
        values = np.clip(np.asarray(pending, dtype=np.int64), LOWEST_US, HIGHEST_US)
        index = np.searchsorted(_lowest_us(), values, side="right") - 1
        counts += np.bincount(index, minlength=counts.size).astype(np.uint64)
    return counts


def summarize_counts(counts: np.ndarray, percentiles: Sequence[float] = PERCENTILES) -> LatencyStats:
    """:func:`summarize` of a histogram's bucket counts (as :func:`counts_snapshot` returns them)."""
    import numpy as np

    cumulative = np.cumsum(counts)
    total = int(cumulative[-1])
    if total == 0:
        return LatencyStats()
    # rank 1 and rank `total` locate min and max in the same search as the percentiles
    ranks = [1, *(percentile_rank(total, p) for p in percentiles), total]
    at = np.searchsorted(cumulative, np.array(ranks, dtype=np.uint64), side="left")
    mid_ms = _median_equivalent_ms()
    lo, hi = int(at[0]), int(at[-1]) + 1
    mean_ms = float(np.multiply(counts[lo:hi], mid_ms[lo:hi]).sum()) / total
    values = [float(v) for v in mid_ms[at]]
    return LatencyStats(
        count=total,
        min_ms=values[0],
        max_ms=values[-1],
        mean_ms=mean_ms,
        percentiles_ms=dict(zip(percentiles, values[1:-1], strict=True)),
    )


def column_values(stats: Mapping[HistogramName, LatencyStats]) -> dict[str, float]:
    """The registry's histogram-derived columns (ms, unrounded) computable from ``stats``.

    Columns derived from a histogram missing from ``stats`` are left out.
    """
    values: dict[str, float] = {}
    for column in DERIVED_COLUMNS:
        spec = column.derived
        if spec is not None and spec.histogram in stats:
            values[column.name] = stats[spec.histogram].value(spec)
    return values


def percentile_rank(total: int, percentile: float) -> int:
    """1-based rank of the sample numpy's ``inverted_cdf`` returns for ``percentile`` (0-100)."""
    return min(total, max(1, math.ceil(total * (percentile / 100.0))))


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _check_settings(payload: Any) -> None:
    settings = (
        payload.lowest_trackable_value,
        payload.highest_trackable_value,
        payload.significant_figures,
    )
    if settings != (LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS):
        raise ValueError(
            f"HDR histogram has settings (lowest, highest, digits) = {settings!r}, "
            f"expected {(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)!r}"
        )


def _counts(h: HdrHistogram) -> np.ndarray:
    """Writable uint64 numpy view (no copy) of the histogram's counts array."""
    import numpy as np

    return np.frombuffer(h.counts, dtype=np.uint64)


def _sync_tracking(h: HdrHistogram) -> None:
    """Recompute total, min and max from the counts (hdrh's ``add`` gets min wrong from empty)."""
    import numpy as np

    counts = _counts(h)
    nonzero = np.flatnonzero(counts)
    if nonzero.size:
        h.set_internal_tacking_values(int(nonzero[0]), int(nonzero[-1]), int(counts.sum()))


@lru_cache(maxsize=1)
def _bucket_bounds() -> tuple[np.ndarray, np.ndarray]:
    """Lowest value and width (µs) of the bucket behind every counts index (as hdrh computes)."""
    import numpy as np

    h = new_histogram()
    half_mag = h.sub_bucket_half_count_magnitude
    index = np.arange(h.counts_len, dtype=np.int64)
    bucket = (index >> half_mag) - 1
    sub_bucket = (index & (h.sub_bucket_half_count - 1)) + h.sub_bucket_half_count
    first = bucket < 0
    sub_bucket[first] -= h.sub_bucket_half_count
    bucket[first] = 0
    shift = bucket + h.unit_magnitude
    lowest, width = sub_bucket << shift, np.ones_like(shift) << shift
    lowest.setflags(write=False)
    width.setflags(write=False)
    return lowest, width


def _lowest_us() -> np.ndarray:
    return _bucket_bounds()[0]


@lru_cache(maxsize=1)
def _median_equivalent_ms() -> np.ndarray:
    """Reported value (ms) of every counts index: the bucket's median-equivalent value."""
    lowest, width = _bucket_bounds()
    mid_ms = (lowest + (width >> 1)) / 1000.0
    mid_ms.setflags(write=False)
    return mid_ms
