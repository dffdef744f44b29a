"""A service's optional version source (issue 15, point 5): where its release is read once per run.

Either a response header of the first endpoint (``{"header": "X-Version"}``) or a version endpoint on
the service's own origin (``{"path": "/version"}``; the body's first line, or a top-level field of a
JSON body with ``"json_field": "version"``). The value is read by ``engine.version_read`` in the
``benchmark`` task and stored on each ``perf_metrics`` row (``service_version``), so a change point
names the first release of its new level.
"""
from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field, model_validator
from typing_extensions import Self

from perf_profiler.model.errors import Expect, rule, show
from perf_profiler.model.http_values import UrlPath, is_header_name, looks_secret
from perf_profiler.model.strict import StrictModel

#: The longest version kept (after stripping); a longer value is refused, never cut.
VERSION_MAX = 256
_FIELD_MAX = 100


def _header_name(value: str) -> str:
    if not is_header_name(value):
        raise rule(f"expected a header name made of RFC 9110 token characters, got {show(value)}")
    if looks_secret(value):
        raise rule(f"header {value!r} looks like a secret; its value would be stored on every row")
    return value


HeaderName = Annotated[str, Field(min_length=1, max_length=_FIELD_MAX), AfterValidator(_header_name),
                       Expect("a response header name, e.g. \"X-Version\"")]
JsonField = Annotated[str, Field(min_length=1, max_length=_FIELD_MAX, pattern="^[A-Za-z0-9_.-]+$"),
                      Expect(f"a top-level JSON key (letters, digits, '_', '.', '-'; at most {_FIELD_MAX} characters)")]


class VersionSource(StrictModel):
    """``header`` (of one extra GET to the first endpoint) or ``path`` (same origin; optional ``json_field``)."""

    LABEL: ClassVar[str] = "version"
    header: HeaderName | None = None
    path: UrlPath | None = None
    json_field: JsonField | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.header is None) == (self.path is None):
            raise rule("set exactly one of version.header (a response header name) and version.path (a version "
                       f"endpoint on the service's origin), got {show(self.model_dump(exclude_none=True))}")
        if self.json_field is not None and self.path is None:
            raise rule("json_field applies to a version.path body only", "json_field")
        return self
