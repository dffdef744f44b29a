"""The percentile spectrum of an HDR histogram, against numpy on the raw samples."""
from __future__ import annotations

import numpy as np
import pytest

from perf_profiler.analysis import histogram
from perf_profiler.analysis.spectrum import percentile_spectrum


def test_the_spectrum_follows_the_samples_and_halves_the_distance_to_100_percent():
    rng = np.random.default_rng(7)
    samples_us = rng.lognormal(mean=10, sigma=0.6, size=20_000).astype(int) + 1
    h = histogram.new_histogram()
    histogram.record_many(h, samples_us)

    spectrum = percentile_spectrum(histogram.encode(h))

    assert spectrum.total_count == 20_000
    points = spectrum.points
    assert points[0].percentile == 0.0 and points[-1].percentile == 100.0 and points[-1].inverse_tail is None
    assert points[-1].latency_ms == pytest.approx(samples_us.max() / 1000, rel=1e-3)
    for point in points[1:-1]:
        assert point.inverse_tail == pytest.approx(1 / (1 - point.percentile / 100))
        # the value at which the iteration reached the level: at least that share of samples lies below
        # it, and it is that percentile of the samples within a bucket or two (sparse in the tail)
        assert np.mean(samples_us <= point.latency_ms * 1000) >= point.percentile / 100 - 1e-9
        if point.percentile < 99:  # above, a few samples per bucket: the rank property is the test
            assert point.latency_ms == pytest.approx(np.percentile(samples_us, point.percentile) / 1000, rel=1e-2)
    # five ticks per halving: as many points between 90 and 99 % as between 0 and 90 % (the tail is drawn)
    tail = [p for p in points if 90 <= p.percentile < 99]
    assert len(tail) >= 15
    assert [p.latency_ms for p in points] == sorted(p.latency_ms for p in points)


def test_an_empty_histogram_has_no_points():
    spectrum = percentile_spectrum(histogram.encode(histogram.new_histogram()))
    assert spectrum.total_count == 0 and spectrum.points == ()


def test_a_corrupt_histogram_is_refused():
    with pytest.raises(ValueError, match="HDR"):
        percentile_spectrum("HISTFAAAAB")
