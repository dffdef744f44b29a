"""An HDR histogram's percentile spectrum, the curve HdrHistogram's plotter draws.

The points are those of ``HdrHistogram.output_percentile_distribution``: percentile levels that
halve their distance to 100 % in ``ticks_per_half_distance`` steps (so the tail gets as many
points as the body), up to the maximum recorded value at 100 %. Each point carries
``inverse_tail = 1 / (1 - q)`` for the plotter's logarithmic x axis; at 100 % that is infinite
and given as None.
"""
from __future__ import annotations

from dataclasses import dataclass

from perf_profiler.analysis.histogram import decode

__all__ = ["TICKS_PER_HALF_DISTANCE", "Spectrum", "SpectrumPoint", "percentile_spectrum"]

#: HdrHistogram's default (its plotter's input, ``output_percentile_distribution``, uses 5).
TICKS_PER_HALF_DISTANCE = 5


@dataclass(frozen=True)
class SpectrumPoint:
    percentile: float  # 0..100
    inverse_tail: float | None  # 1 / (1 - percentile / 100); None at 100
    latency_ms: float


@dataclass(frozen=True)
class Spectrum:
    total_count: int
    points: tuple[SpectrumPoint, ...]


def percentile_spectrum(encoded: str, ticks_per_half_distance: int = TICKS_PER_HALF_DISTANCE) -> Spectrum:
    """The percentile spectrum of one encoded latency histogram (microseconds → ms)."""
    h = decode(encoded)
    total = int(h.get_total_count())
    points = []
    if total:
        for step in h.get_percentile_iterator(ticks_per_half_distance):
            level = float(step.percentile_level_iterated_to)
            inverse = None if level >= 100.0 else 1.0 / (1.0 - level / 100.0)
            points.append(SpectrumPoint(level, inverse, step.value_iterated_to / 1000.0))
    return Spectrum(total, tuple(points))
