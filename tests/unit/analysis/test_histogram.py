"""histogram: percentiles against numpy on raw samples, exact merges, compact encodings."""
from __future__ import annotations

import base64
import ctypes
import struct
import zlib

import numpy as np
import pytest
from hdrh.codec import PayloadHeader
from hdrh.histogram import HdrHistogram

from perf_profiler.analysis import histogram as H

NUMPY_METHOD = "inverted_cdf"
HALF_BUCKET = 1 / 2048  # relative quantisation bound of a median-equivalent value at 3 digits


def lognormal_us(n: int, seed: int, sigma: float = 1.0) -> np.ndarray:
    """Integer µs latencies: median ~20 ms, long right tail."""
    rng = np.random.default_rng(seed)
    return np.rint(rng.lognormal(np.log(20_000), sigma, n)).astype(np.int64)


def histogram_of(samples_us: np.ndarray) -> HdrHistogram:
    h = H.new_histogram()
    H.record_many(h, samples_us)
    return h


def counts_of(h: HdrHistogram) -> np.ndarray:
    return np.array([h.get_count_at_index(i) for i in range(h.counts_len)], dtype=np.uint64)


def percentiles_ms(stats: H.LatencyStats) -> list[float]:
    """The value of every percentile the column registry names, in ``H.PERCENTILES`` order."""
    return [stats.percentile_ms(p) for p in H.PERCENTILES]


def test_the_registry_percentiles_are_computed():
    assert {50.0, 90.0, 95.0, 99.0, 99.9} <= set(H.PERCENTILES)
    assert list(H.PERCENTILES) == sorted(H.PERCENTILES)


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    return lognormal_us(100_000, seed=20240601)


@pytest.fixture(scope="module")
def stats(samples: np.ndarray) -> H.LatencyStats:
    return H.summarize(histogram_of(samples))


def test_every_percentile_within_a_tenth_of_a_percent_of_numpy(samples, stats):
    assert stats.count == samples.size
    for p, got in zip(H.PERCENTILES, percentiles_ms(stats), strict=True):
        want = np.percentile(samples, p, method=NUMPY_METHOD) / 1000.0
        rel = abs(got - want) / want
        assert rel <= 0.001, (p, got, want)
        assert rel <= HALF_BUCKET, (p, got, want)


@pytest.mark.parametrize("n", [1, 2, 7, 999, 1000, 99_999, 100_003])
def test_percentile_rank_matches_numpy_for_any_sample_size(n):
    samples = lognormal_us(n, seed=n, sigma=1.5)
    stats = H.summarize(histogram_of(samples))
    for p, got in zip(H.PERCENTILES, percentiles_ms(stats), strict=True):
        want = np.percentile(samples, p, method=NUMPY_METHOD) / 1000.0
        assert abs(got - want) <= want * HALF_BUCKET, (n, p, got, want)


def test_min_max_and_mean_to_histogram_precision(samples, stats):
    true_min, true_max = samples.min() / 1000.0, samples.max() / 1000.0
    assert abs(stats.min_ms - true_min) <= true_min * HALF_BUCKET
    assert abs(stats.max_ms - true_max) <= true_max * HALF_BUCKET
    assert stats.min_ms <= stats.p50_ms <= stats.p90_ms <= stats.p95_ms <= stats.p99_ms
    assert stats.p99_ms <= stats.p999_ms <= stats.max_ms
    true_mean = samples.mean() / 1000.0
    assert abs(stats.mean_ms - true_mean) <= true_mean * HALF_BUCKET


def test_reported_value_is_the_buckets_median_equivalent():
    reference = H.new_histogram()
    for value in np.unique(np.geomspace(1, H.HIGHEST_US, 400).astype(np.int64)).tolist():
        h = H.new_histogram()
        H.record_us(h, value)
        stats = H.summarize(h)
        want_ms = reference._hdr_median_equiv_value(value) / 1000.0
        assert stats.p50_ms == stats.min_ms == stats.max_ms == stats.mean_ms == want_ms, value
        if value < 2048:
            assert stats.p50_ms == value / 1000.0


def test_record_many_is_the_same_histogram_as_recording_one_by_one():
    samples = lognormal_us(5_000, seed=3)
    one_by_one = H.new_histogram()
    for value in samples.tolist():
        H.record_us(one_by_one, value)
    at_once = histogram_of(samples)
    assert H.encode(at_once) == H.encode(one_by_one)
    assert (at_once.total_count, at_once.min_value, at_once.max_value) == (
        one_by_one.total_count,
        one_by_one.min_value,
        one_by_one.max_value,
    )


def test_merge_of_disjoint_chunks_equals_histogram_of_the_union(samples):
    chunks = np.array_split(samples, 8)
    merged = H.merge(H.encode(histogram_of(chunk)) for chunk in chunks)
    union = histogram_of(samples)
    assert np.array_equal(counts_of(merged), counts_of(union))
    assert merged.get_total_count() == samples.size
    assert merged.get_min_value() == union.get_min_value()
    assert merged.get_max_value() == union.get_max_value()
    assert H.encode(merged) == H.encode(union)
    assert H.summarize(merged) == H.summarize(union)


def test_merge_with_empty_histograms_keeps_min_and_count():
    samples = np.array([1500, 2500, 40_000, 40_000], dtype=np.int64)
    empty = H.encode(H.new_histogram())
    merged = H.merge([empty, H.encode(histogram_of(samples)), empty])
    stats = H.summarize(merged)
    assert stats.count == 4
    assert stats.min_ms == 1.5
    assert H.summarize(H.decode(H.encode(merged))) == stats


def test_empty_histogram_summarizes_to_zeros():
    assert H.summarize(H.merge([])) == H.LatencyStats()
    empty = H.summarize(H.decode(H.encode(H.new_histogram())))
    assert empty == H.LatencyStats(count=0, min_ms=0.0, max_ms=0.0, mean_ms=0.0)
    assert (empty.p50_ms, empty.p90_ms, empty.p95_ms, empty.p99_ms, empty.p999_ms) == (0.0,) * 5
    assert percentiles_ms(empty) == [0.0] * len(H.PERCENTILES)


def test_percentiles_read_by_their_column_names(stats):
    assert (stats.p50_ms, stats.p999_ms) == (stats.percentile_ms(50.0), stats.percentile_ms(99.9))
    with pytest.raises(AttributeError, match="'LatencyStats' object has no attribute 'p42_ms'"):
        _ = stats.p42_ms  # not a registry percentile


def test_column_values_cover_the_registrys_derived_columns_of_the_histograms_given(stats):
    from perf_profiler.model.columns import DERIVED_COLUMNS

    values = H.column_values({"latency": stats})
    latency = [c.name for c in DERIVED_COLUMNS if c.derived and c.derived.histogram == "latency"]
    assert list(values) == latency
    assert {"p50_ms", "p999_ms", "min_ms", "max_ms", "mean_ms"} <= set(values)
    assert (values["p95_ms"], values["mean_ms"]) == (stats.p95_ms, stats.mean_ms)
    assert set(H.column_values({"latency": stats, "service": stats, "lag": stats})) == {c.name for c in DERIVED_COLUMNS}


def test_encode_is_ascii_text_and_round_trips(samples):
    h = histogram_of(samples)
    encoded = H.encode(h)
    assert isinstance(encoded, str)
    encoded.encode("ascii")
    back = H.decode(encoded)
    assert np.array_equal(counts_of(back), counts_of(h))
    assert H.encode(back) == encoded


def test_encoded_size_of_a_million_samples_stays_small():
    h = histogram_of(lognormal_us(1_000_000, seed=11))
    assert h.get_total_count() == 1_000_000
    assert len(H.encode(h)) <= 16_384


def test_record_us_clamps_into_the_trackable_range():
    h = H.new_histogram()
    for value in (0, -25, 0.3, 10**15, H.HIGHEST_US + 1, float("inf"), 2.6):
        H.record_us(h, value)
    counts = counts_of(h)
    assert counts.sum() == 7
    assert h.get_count_at_value(1) == 3
    assert h.get_count_at_value(3) == 1
    assert h.get_count_at_value(H.HIGHEST_US) == 3
    assert h.min_value == 1 and h.max_value == H.HIGHEST_US
    assert H.merge([H.encode(h)]).get_total_count() == 7
    with pytest.raises(ValueError, match="cannot convert float NaN to integer"):  # round()'s own error
        H.record_us(h, float("nan"))


def test_record_many_clamps_like_record_us():
    h = H.new_histogram()
    H.record_many(h, [0, -3, 0.3, 10**15, float("inf"), 2.6])
    assert h.get_count_at_value(1) == 3 and h.get_count_at_value(H.HIGHEST_US) == 2
    assert h.get_count_at_value(3) == 1 and h.total_count == 6
    with pytest.raises(ValueError, match="cannot record NaN latencies"):
        H.record_many(h, [1.0, float("nan")])
    assert h.total_count == 6


def _crafted(varints: bytes, lowest: int = 1, highest: int = H.HIGHEST_US, digits: int = 3) -> str:
    """A well-formed wrapper (cookies, lengths, zlib) around arbitrary counts bytes."""
    header = PayloadHeader()
    header.cookie = 0x1C849313
    header.payload_len = len(varints)
    header.significant_figures = digits
    header.lowest_trackable_value = lowest
    header.highest_trackable_value = highest
    header.conversion_ratio_bits = 1.0
    raw = ctypes.string_at(ctypes.addressof(header), ctypes.sizeof(header)) + varints
    compressed = zlib.compress(raw)
    return base64.b64encode(struct.pack(">II", 0x1C849314, len(compressed)) + compressed).decode()


def test_crafted_payload_helper_builds_decodable_histograms():
    assert H.decode(_crafted(b"\x02")).get_total_count() == 1


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "hello world!",
        "not base64 at all \u00e9",
        base64.b64encode(b"\x00" * 64).decode(),
        base64.b64encode(struct.pack(">II", 0x1C849314, 5) + b"abcde").decode(),
        _crafted(b"\xff" * 50),
        _crafted(b"\x02" * 30_000),
        _crafted(b"\x80"),
    ],
)
def test_decode_of_garbage_raises_value_error(garbage):
    with pytest.raises(ValueError, match="HDR histogram"):
        H.decode(garbage)


def test_decode_of_truncated_histogram_raises_value_error(samples):
    encoded = H.encode(histogram_of(samples[:1000]))
    with pytest.raises(ValueError, match="not an encoded HDR histogram"):
        H.decode(encoded[: len(encoded) // 2])


def test_decode_rejects_other_settings():
    other = HdrHistogram(1, 60_000_000, 2)
    other.record_value(1234)
    with pytest.raises(ValueError, match="settings"):
        H.decode(other.encode().decode())
    with pytest.raises(ValueError, match="settings"):
        H.decode(_crafted(b"\x02", highest=10**18))


def test_decode_of_non_text_raises_type_error():
    with pytest.raises(TypeError):
        H.decode(None)


def test_percentile_rank_uses_numpys_float_arithmetic():
    assert H.percentile_rank(100_000, 50.0) == 50_000
    assert H.percentile_rank(100_000, 99.9) == 99_901  # 0.999 * 1e5 == 99900.00000000001
    assert H.percentile_rank(7, 50.0) == 4
    assert H.percentile_rank(1, 99.9) == 1
    assert H.percentile_rank(10, 0.0) == 1


def test_p75_within_a_tenth_of_a_percent_of_numpy(samples, stats):
    """p75_ms (a registry column since 005_p75.sql) is computed like every registry percentile."""
    assert 75.0 in H.PERCENTILES
    want = np.percentile(samples, 75, method=NUMPY_METHOD) / 1000.0
    assert abs(stats.p75_ms - want) <= want * 0.001, (stats.p75_ms, want)
    assert stats.p50_ms <= stats.p75_ms <= stats.p90_ms


def test_record_many_of_the_engines_int64_buffer_is_the_same_histogram():
    from array import array

    samples = [*lognormal_us(5_000, seed=4).tolist(), 0, -3, 10**15]  # clamped both ways, as any input
    as_buffer, as_list = H.new_histogram(), H.new_histogram()
    H.record_many(as_buffer, array("q", [round(v) for v in samples]))
    H.record_many(as_list, [round(v) for v in samples])
    assert H.encode(as_buffer) == H.encode(as_list)
    assert (as_buffer.total_count, as_buffer.min_value, as_buffer.max_value) == (
        as_list.total_count, as_list.min_value, as_list.max_value)
    H.record_many(as_buffer, array("q"))  # empty: nothing changes
    assert as_buffer.total_count == len(samples)
