"""Shared field types: the whitespace class, caps on every number, and how fields are described."""
from __future__ import annotations

import re
import sys

from perf_profiler.model import caps
from perf_profiler.model.fields import SPACE, describe, number_fields
from perf_profiler.model.targets import Budget, Endpoint, LoadFields


def test_the_spelled_out_space_class_is_exactly_str_isspace():
    space = re.compile(f"[{SPACE}]")
    wrong = [hex(c) for c in range(sys.maxunicode + 1) if bool(space.fullmatch(chr(c))) != chr(c).isspace()]
    assert wrong == []


def test_every_numeric_load_and_endpoint_field_has_a_safety_cap_of_the_caps_module():
    fields = {**number_fields(LoadFields), **{f"endpoint.{k}": v for k, v in number_fields(Endpoint).items()}}
    assert {"requests", "duration_s", "concurrency", "warmup", "timeout_s", "connect_timeout_s", "max_body_bytes",
            "rate", "processes", "endpoint.max_rate", "endpoint.max_concurrency"} == set(fields)
    for name, spec in fields.items():
        assert spec.cap is not None, name
        assert spec.cap.value == getattr(caps, spec.cap.name), name
    assert number_fields(Budget)["p95_ms"].cap == caps.cap("MAX_P95_MS")
    assert number_fields(Budget)["error_rate"].maximum == 1


def test_fields_are_described_in_the_words_of_the_messages():
    described = {name: describe(info.rebuild_annotation()) for name, info in LoadFields.model_fields.items()}
    assert described["model"] == "one of closed, open"
    assert described["requests"] == "a positive integer or null"
    assert described["warmup"] == "a non-negative integer"
    assert described["timeout_s"] == "a positive number"
    assert describe(Budget.model_fields["error_rate"].rebuild_annotation()) == "a number between 0 and 1"
