"""perf_profiler.common.encoding: the one ISO-8601-UTC and the one canonical-JSON encoder."""
from __future__ import annotations

import datetime as dt
import json
import math

import pytest

from perf_profiler.common.encoding import canonical_json, iso_utc

PARIS = dt.timezone(dt.timedelta(hours=1))


@pytest.mark.parametrize(
    ("value", "auto", "fixed"),
    [
        (None, None, None),
        (dt.datetime(2024, 12, 28, 1, 0, tzinfo=PARIS), "2024-12-28T00:00:00+00:00",
         "2024-12-28T00:00:00.000000+00:00"),
        (dt.datetime(2024, 12, 28, 0, 0, 5, 500000), "2024-12-28T00:00:05.500000+00:00",
         "2024-12-28T00:00:05.500000+00:00"),  # naive: taken as UTC
        ("2024-12-28T01:00:00+01:00", "2024-12-28T00:00:00+00:00", "2024-12-28T00:00:00.000000+00:00"),
        ("2024-12-28T00:00:00.000000+00:00", "2024-12-28T00:00:00+00:00", "2024-12-28T00:00:00.000000+00:00"),
        (0, "1970-01-01T00:00:00+00:00", "1970-01-01T00:00:00.000000+00:00"),
        (1.25, "1970-01-01T00:00:01.250000+00:00", "1970-01-01T00:00:01.250000+00:00"),
    ],
)
def test_iso_utc_in_both_widths(value: dt.datetime | str | float | None, auto: str | None, fixed: str | None) -> None:
    assert iso_utc(value) == auto
    assert iso_utc(value, "microseconds") == fixed


def test_fixed_width_text_sorts_as_time_does() -> None:
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    moments = [start + dt.timedelta(microseconds=m) for m in (0, 1, 999999)]
    texts = [iso_utc(m, "microseconds") or "" for m in moments]  # a datetime never gives None
    assert all(texts) and sorted(texts) == texts and len({len(t) for t in texts}) == 1


@pytest.mark.parametrize(("value", "message"), [
    ("yesterday", r"^not an ISO-8601 timestamp: 'yesterday'$"),
    ("2024-13-01", r"^not an ISO-8601 timestamp: '2024-13-01'$"),
    (True, r"^expected an ISO-8601 string, datetime or epoch seconds, got bool$"),
    ([2024], r"got list$"),
    (b"2024-01-01", r"got bytes$"),
])
def test_iso_utc_refuses_what_is_not_a_time(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        iso_utc(value)  # type: ignore[arg-type]  # a wrong type on purpose: the runtime check is under test


def test_canonical_json_is_sorted_compact_ascii() -> None:
    text = canonical_json({"b": [1, 2.5, None], "a": {"z": "é", "y": True}})
    assert text == '{"a":{"y":true,"z":"\\u00e9"},"b":[1,2.5,null]}'
    assert json.loads(text) == {"b": [1, 2.5, None], "a": {"z": "é", "y": True}}
    assert canonical_json(json.loads(text)) == text  # a fixed point: re-encoding changes nothing


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_canonical_json_refuses_non_finite_numbers(number: float) -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        canonical_json({"x": number})
