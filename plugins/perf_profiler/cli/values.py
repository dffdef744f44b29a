"""Flag values of the command line: durations, latencies, rates and percentages, and ``-H`` headers.

Each parser raises ``argparse.ArgumentTypeError``, so a bad value is a usage error of the
subcommand it was given to (its usage, exit 2). ``-H`` values may be secrets
(``Authorization: Bearer ...``): no message ever shows a header's value.
"""
from __future__ import annotations

import argparse
import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%)?\s*$")


def parse_duration(text: str) -> float:
    """'500ms', '10s', '2m', '1h' or a bare number of seconds → seconds (> 0)."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: expected e.g. 500ms, 10s, 2m")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def parse_latency_ms(text: str) -> float:
    """A latency threshold: '800ms', '1.5s' or a bare number of milliseconds → ms (> 0)."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"invalid latency {text!r}: expected e.g. 800ms, 1.5s (a bare number is ms)")
    unit = match.group(2)
    return float(match.group(1)) * (1.0 if unit in (None, "ms") else _UNIT_SECONDS[unit] * 1000.0)


def parse_rate(text: str) -> float:
    """An error-rate threshold: '1%' or a fraction '0.01' → a fraction in [0, 1]."""
    match = _PERCENT.match(text)
    if match:
        value = float(match.group(1)) / (100.0 if match.group(2) else 1.0)
        if value <= 1.0:
            return value
    raise argparse.ArgumentTypeError(f"invalid error rate {text!r}: expected a percentage (1%) or a fraction (0.01)")


def parse_header(text: str) -> tuple[str, str]:
    """``-H "Name: value"`` → (name, value); the message of a bad one never shows the value."""
    name, colon, value = text.partition(":")
    if not colon or not name.strip() or name != name.strip():
        raise argparse.ArgumentTypeError(
            "invalid header: expected \"Name: value\" (a name, a colon, the value; the value is not shown)")
    return name, value.strip()
