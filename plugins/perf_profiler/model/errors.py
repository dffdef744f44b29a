"""The error type of the config model and the pieces its messages are made of.

Messages read ``<where>: <what is wrong>``, e.g. ``services[2] 'runtime': load.concurrency: 5000
exceeds the safety cap of 1000 (perf_profiler.model.caps.MAX_CONCURRENCY)``. Validators raise
``rule(...)`` (a complete message) or ``invalid()`` (the field's ``Expect`` text is used); the
pydantic errors are rendered by ``model.strict`` — never pydantic's own text, which echoes inputs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic_core import PydanticCustomError

#: Error type of ``rule``: ``ctx["message"]`` is the whole message, ``ctx["at"]`` a sub-location.
RULE = "perf_profiler_rule"
#: Error type of ``invalid``: the message is the field's expectation (``Expect``).
INVALID = "perf_profiler_invalid"
_SHOW_MAX = 80
#: Characters json.dumps(ensure_ascii=False) leaves raw that could still forge a log line or colour.
_UNSAFE = {c: f"\\u{c:04x}"
           for c in (*range(0x7f, 0xa0), 0x2028, 0x2029, *range(0x202a, 0x202f), *range(0x2066, 0x206a))}


class TargetsError(ValueError):
    """The targets config is invalid; the message names the field path, the value and the rule."""


@dataclass(frozen=True)
class Expect:
    """Field metadata: what the field takes, in the words of the error messages (``expected ...``)."""

    text: str


def rule(message: str, *at: str | int) -> PydanticCustomError:
    """A validation error with its own message; ``at`` extends the location (e.g. ``"rate"``)."""
    return PydanticCustomError(RULE, "{message}", {"message": message, "at": at})


def invalid() -> PydanticCustomError:
    """The value breaks the field's rule: the message says ``expected <Expect text>, got <value>``."""
    return PydanticCustomError(INVALID, "invalid value")


def show(value: Any) -> str:
    """Short JSON-ish rendering of a bad value for error messages."""
    try:
        text = json.dumps(value, default=repr, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    text = text.translate(_UNSAFE)
    if len(text) > _SHOW_MAX:
        text = f"{text[:_SHOW_MAX]}... ({len(text)} chars)"
    return text


def num(value: float) -> str:
    """1000000.0 -> '1000000', 0.5 -> '0.5'."""
    return str(int(value)) if float(value).is_integer() else str(value)
