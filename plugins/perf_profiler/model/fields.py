"""Field types the targets model and the trigger form share: each limit is defined once, here.

A number carries its lower bound and its safety cap (``caps.cap``); a name carries its length
limit and a ``Refuse`` pattern. The form's JSON schema is generated from these same types, and
``describe`` turns a type into the words of the error messages.

Patterns: a pattern is checked by pydantic (Rust regex), by Airflow's Param validation (Python
``re.search``) and by JavaScript in the browser. ``$`` is read differently (Python also matches
it before a final newline), so no pattern here relies on an end anchor to refuse a character:
``Refuse`` searches for any forbidden character instead (JSON schema ``{"not": {"pattern"}}``),
which all three engines read the same way, and only ``^`` anchors are used.
"""
from __future__ import annotations

import re
import types
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError, core_schema

from perf_profiler.model import caps
from perf_profiler.model.errors import Expect, num

#: Every model: strict types (no "10" for 10, no true for 1), unknown keys refused, immutable,
#: no NaN/Infinity, and pydantic's own error text never shows an input (it may be a secret).
STRICT = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False, hide_input_in_errors=True)


@dataclass(frozen=True)
class Refuse:
    """Field metadata: refuse a string in which ``pattern`` is found (JSON schema ``not``/``pattern``)."""

    pattern: str

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        found = re.compile(self.pattern).search

        def check(value: str) -> str:
            if found(value):
                raise PydanticCustomError("refused_character", "contains a refused character")
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> Any:
        return {**handler(schema), "not": {"pattern": self.pattern}}


@dataclass(frozen=True)
class Unique:
    """Field metadata: the list's items are distinct (JSON schema ``uniqueItems``)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        def check(value: list[Any]) -> list[Any]:
            if len(set(value)) != len(value):
                raise PydanticCustomError("not_unique", "items are not unique")
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> Any:
        return {**handler(schema), "uniqueItems": True}


#: The engine's load models (``LoadSettings.model``).
LOAD_MODELS = ("closed", "open")
LoadModel = Literal["closed", "open"]

# -- numbers -------------------------------------------------------------------------------------

Requests = Annotated[int, Field(ge=1), caps.cap("MAX_REQUESTS")]
DurationS = Annotated[float, Field(gt=0), caps.cap("MAX_DURATION_S")]
Concurrency = Annotated[int, Field(ge=1), caps.cap("MAX_CONCURRENCY")]
Warmup = Annotated[int, Field(ge=0), caps.cap("MAX_WARMUP")]
TimeoutS = Annotated[float, Field(gt=0), caps.cap("MAX_TIMEOUT_S")]
BodyBytes = Annotated[int, Field(ge=1), caps.cap("MAX_BODY_BYTES")]
Rate = Annotated[float, Field(gt=0), caps.cap("MAX_RATE")]
Processes = Annotated[int, Field(ge=1), caps.cap("MAX_PROCESSES")]
Shards = Annotated[int, Field(ge=1), caps.cap("MAX_SHARDS")]
ShardStartTimeoutS = Annotated[float, Field(gt=0), caps.cap("MAX_SHARD_START_TIMEOUT_S")]
P95Ms = Annotated[float, Field(gt=0), caps.cap("MAX_P95_MS")]
ErrorRate = Annotated[float, Field(ge=0, le=1)]

# -- names ---------------------------------------------------------------------------------------

#: The characters ``str.isspace()`` accepts, spelled out (``\s`` differs between the three engines).
SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: Whitespace at either end. ``$`` is safe here: Python's extra match before a final newline
#: only happens when the last character is a newline, which the class matches anyway.
EDGE_SPACE = f"^[{SPACE}]|[{SPACE}]$"
#: Control characters (C0 incl. ESC, DEL, C1), line/paragraph separators and bidi overrides: a name
#: holding one could forge lines or colours in a log. Escapes only, so the pattern is plain ASCII.
CONTROL = r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
#: One pattern: a second ``Refuse`` would replace the first's JSON schema ``not``.
_NAME_REFUSED = f"{EDGE_SPACE}|{CONTROL}"
_NAME = "a non-empty string of at most {} characters without leading/trailing spaces or control characters"


def nfc(value: str) -> str:
    """``value`` in Unicode normal form C: names that look the same are the same string."""
    return unicodedata.normalize("NFC", value)


def name_key(value: str) -> str:
    """What makes two names the same name: NFC, then case-folded ("Shop" and "SHOP" collide)."""
    return nfc(nfc(value).casefold())


def first_duplicate(names: Iterable[str]) -> tuple[int, int] | None:
    """``(earlier, later)`` positions of the first name that repeats an earlier one (by ``name_key``)."""
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if (key := name_key(name)) in first:
            return first[key], i
        first[key] = i
    return None


ServiceName = Annotated[str, Field(min_length=1, max_length=caps.SERVICE_NAME_MAX), Refuse(_NAME_REFUSED),
                        AfterValidator(nfc), Expect(_NAME.format(caps.SERVICE_NAME_MAX))]
EndpointName = Annotated[str, Field(min_length=1, max_length=caps.ENDPOINT_NAME_MAX), Refuse(_NAME_REFUSED),
                         AfterValidator(nfc), Expect(_NAME.format(caps.ENDPOINT_NAME_MAX))]
Tenant = Annotated[str, Field(min_length=1, max_length=caps.TENANT_MAX, pattern="^[A-Za-z0-9]"),
                   Refuse("[^A-Za-z0-9_.-]"),
                   Expect(f"a tenant id: at most {caps.TENANT_MAX} letters, digits, '_', '.' or '-', "
                          "starting with a letter or digit")]


# -- describing a field ----------------------------------------------------------------------------


def flatten(annotation: Any) -> tuple[Any, list[Any], bool]:
    """``Annotated``/``Optional`` layers peeled off: (bare type, metadata, nullable)."""
    metadata: list[Any] = []
    nullable = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *extra = get_args(annotation)
            for item in extra:
                metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
        elif origin in (Union, types.UnionType) and type(None) in get_args(annotation):
            rest = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(rest) != 1:
                return annotation, metadata, True  # a union of several types: described as a whole
            nullable, annotation = True, rest[0]
        else:
            return annotation, metadata, nullable


@dataclass(frozen=True)
class NumberSpec:
    """The limits of a numeric field, as its type declares them."""

    integer: bool
    minimum: float | None = None
    exclusive: bool = False  # minimum itself refused (``gt``)
    maximum: float | None = None  # a plain range end, not a safety cap
    cap: caps.SafetyCap | None = None
    nullable: bool = False

    def describe(self) -> str:
        kind = "integer" if self.integer else "number"
        if self.maximum is not None:
            text = f"a {kind} between {num(self.minimum or 0)} and {num(self.maximum)}"
        else:
            text = f"a {'non-negative' if self.minimum == 0 and not self.exclusive else 'positive'} {kind}"
        return f"{text} or null" if self.nullable else text


def number_spec(annotation: Any) -> NumberSpec | None:
    """The limits of a numeric field type (None when it is not a number)."""
    bare, metadata, nullable = flatten(annotation)
    if bare not in (int, float):
        return None
    spec = NumberSpec(integer=bare is int, nullable=nullable)
    for item in metadata:
        if isinstance(item, at.Ge):
            spec = NumberSpec(**{**vars(spec), "minimum": item.ge})
        elif isinstance(item, at.Gt):
            spec = NumberSpec(**{**vars(spec), "minimum": item.gt, "exclusive": True})
        elif isinstance(item, at.Le):
            spec = NumberSpec(**{**vars(spec), "maximum": item.le})
        elif isinstance(item, caps.SafetyCap):
            spec = NumberSpec(**{**vars(spec), "cap": item})
    return spec


def number_fields(model: type[BaseModel]) -> dict[str, NumberSpec]:
    """Every numeric field of ``model`` and its limits (e.g. to check that each has a cap)."""
    specs = {name: number_spec(info.rebuild_annotation()) for name, info in model.model_fields.items()}
    return {name: spec for name, spec in specs.items() if spec is not None}


def describe(annotation: Any) -> str:
    """What a value of this type looks like, for ``expected ...`` in messages."""
    bare, metadata, nullable = flatten(annotation)
    expect = [item.text for item in metadata if isinstance(item, Expect)]
    if expect:
        return expect[0]
    spec = number_spec(annotation)
    if spec is not None:
        return spec.describe()
    if bare is bool:
        text = "true or false"
    elif get_origin(bare) is Literal:
        text = f"one of {', '.join(str(choice) for choice in get_args(bare))}"
    elif isinstance(bare, type) and issubclass(bare, BaseModel):
        text = getattr(bare, "NOUN", "an object")
    elif bare is str:
        text = "a string"
    else:
        text = "a valid value"
    return f"{text} or null" if nullable else text


def type_noun(annotation: Any) -> str:
    """The bare type of a field in a word: 'an integer', 'a number', 'a string'..."""
    bare = flatten(annotation)[0]
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(bare, "")
