"""Shared field types: the whitespace class, caps on every number, and how fields are described."""
from __future__ import annotations

import re
import sys

import pytest

from perf_profiler.model import caps
from perf_profiler.model.errors import TargetsError, show
from perf_profiler.model.fields import SPACE, describe, number_fields
from perf_profiler.model.targets import Budget, Endpoint, LoadFields, parse_targets


def test_the_spelled_out_space_class_is_exactly_str_isspace():
    space = re.compile(f"[{SPACE}]")
    wrong = [hex(c) for c in range(sys.maxunicode + 1) if bool(space.fullmatch(chr(c))) != chr(c).isspace()]
    assert wrong == []


def test_every_numeric_load_and_endpoint_field_has_a_safety_cap_of_the_caps_module():
    fields = {**number_fields(LoadFields), **{f"endpoint.{k}": v for k, v in number_fields(Endpoint).items()}}
    assert {"requests", "duration_s", "concurrency", "warmup", "timeout_s", "connect_timeout_s", "max_body_bytes",
            "rate", "processes", "shards", "shard_start_timeout_s", "endpoint.max_rate",
            "endpoint.max_concurrency"} == set(fields)
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


# --------------------------------------------------------------------------- names: control characters, NFC


def _service(name: str, endpoint_name: str = "e") -> dict:
    return {"name": name, "base_url": "http://127.0.0.1:1", "endpoints": [{"path": "/x", "name": endpoint_name}]}


@pytest.mark.parametrize("name", [
    "a\nb", "a\rb", "fake\n[2026-01-01] INFO ok", "a\x1b[31mred", "a\x00b", "a\x7fb", "a\x85b", "a\x9b31mb",
    "a\u2028b", "a\u202eb", "a\u2066b", "a\tb",
])
def test_control_characters_are_refused_in_service_and_endpoint_names(name):
    for service in (_service(name), _service("svc", name)):
        with pytest.raises(TargetsError) as info:
            parse_targets({"services": [service]})
        message = str(info.value)
        assert "without leading/trailing spaces or control characters" in message
        assert message.isprintable(), message  # the message itself cannot forge a log line either


@pytest.mark.parametrize(("given", "stored"), [
    ("Cafe\u0301", "Caf\u00e9"), ("\u212b", "\u00c5"), ("plain", "plain"), ("\U0001f600 svc", "\U0001f600 svc"),
])
def test_names_are_stored_in_unicode_nfc(given, stored):
    [service] = parse_targets({"services": [_service(given, given)]})
    assert (service.name, service.endpoints[0].name) == (stored, stored)


@pytest.mark.parametrize(("first", "second"), [
    ("shop", "SHOP"), ("Shop", "sHoP"), ("Caf\u00e9", "Cafe\u0301"), ("STRASSE", "stra\u00dfe"), ("\u00c5", "\u212b"),
])
def test_names_equal_after_case_folding_are_duplicates(first, second):
    with pytest.raises(TargetsError, match=r"services\[1\].*duplicate service name .*compared case-insensitively"):
        parse_targets({"services": [_service(first), _service(second)]})
    service = _service("svc")
    service["endpoints"] = [{"path": "/a", "name": first}, {"path": "/b", "name": second}]
    with pytest.raises(TargetsError, match=r"endpoints\[1\]\.name: duplicate endpoint name .*case-insensitively"):
        parse_targets({"services": [service]})


def test_distinct_names_pass():
    assert [s.name for s in parse_targets({"services": [_service("shop"), _service("shop-2")]})] == ["shop", "shop-2"]


@pytest.mark.parametrize("value", ["\x9b31m", "a\u202eb", "\x7f"])
def test_messages_escape_the_control_characters_json_leaves_raw(value):
    assert show(value).isprintable() and "\\u" in show(value)
