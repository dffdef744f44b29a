"""perf_profiler.model.identity: the deterministic row id of the unique key."""
from __future__ import annotations

from perf_profiler.model.identity import make_row_id


def test_make_row_id_is_deterministic_and_key_sensitive() -> None:
    a = make_row_id("default", "dag", "run", "svc", "/e")
    assert a == make_row_id("default", "dag", "run", "svc", "/e")
    assert a != make_row_id("default", "dag", "run", "svc", "/f")
    # No separator trickery: moving a character across a field boundary changes the id.
    assert make_row_id("default", "dag", "run", "a,b", "c") != make_row_id("default", "dag", "run", "a", "b,c")
