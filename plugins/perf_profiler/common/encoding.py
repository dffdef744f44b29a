"""The package's one ISO-8601-UTC encoder and one canonical-JSON encoder.

Both are part of stored and delivered data: the Insight payload's idempotency key hashes the
canonical JSON text of the payload (timestamps included), so the settings below must not change
for existing fields — a different byte would give entries already waiting in an outbox a new key.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Literal

__all__ = ["Timespec", "canonical_json", "iso_utc"]

#: ``"auto"`` is ``datetime.isoformat``'s default (microseconds only when non-zero, what the
#: Insight payload uses); ``"microseconds"`` is fixed-width, so stored text sorts as time does.
Timespec = Literal["auto", "microseconds"]


def iso_utc(value: datetime | str | float | None, timespec: Timespec = "auto") -> str | None:
    """ISO-8601 UTC text for a datetime, ISO-8601 text or epoch seconds; None stays None.

    Naive datetimes (and naive text) are taken as UTC. Raises ValueError for text that is not
    ISO-8601 and for any other type.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return _iso_text(value, timespec)
    if isinstance(value, datetime):
        return _format(value, timespec)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _format(datetime.fromtimestamp(value, tz=timezone.utc), timespec)
    raise ValueError(f"expected an ISO-8601 string, datetime or epoch seconds, got {type(value).__name__}")


def _format(moment: datetime, timespec: Timespec) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec=timespec)


@lru_cache(maxsize=4096)
def _iso_text(text: str, timespec: Timespec) -> str:
    """Cached: the rows of one run share most of their timestamps."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}") from None
    return _format(moment, timespec)


def canonical_json(value: Any) -> str:
    """Canonical JSON text: sorted keys, no whitespace, ASCII only, NaN/Infinity refused.

    The same value always gives the same bytes (the Insight idempotency key hashes them).
    Raises ValueError for NaN/Infinity and TypeError for values JSON cannot hold.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
