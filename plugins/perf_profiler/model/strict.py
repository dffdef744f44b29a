"""``StrictModel``, the base of the config models, and pydantic's errors rendered in our words.

Validating through ``Model(...)``, ``Model.model_validate(...)`` or ``model.revised(...)`` raises
``TargetsError`` with one message naming the place (``services[1] 'runtime': load.rate``), the
rule and the bad value, e.g. ``expected a positive integer, got 0``.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, get_args, get_origin

from pydantic import BaseModel, ValidationError
from typing_extensions import Self

from perf_profiler.model import caps
from perf_profiler.model.errors import RULE, TargetsError, num, show
from perf_profiler.model.fields import STRICT, describe, flatten, number_spec, type_noun

Loc = tuple[Any, ...]


class StrictModel(BaseModel):
    """A frozen, strict pydantic model whose validation errors are ``TargetsError``."""

    model_config = STRICT
    #: Where its fields sit when it is validated on its own (``load`` -> ``load.concurrency``).
    LABEL: ClassVar[str] = ""
    #: What a value of it is, for ``expected ...``.
    NOUN: ClassVar[str] = "an object"
    #: Its errors are labelled with its ``name`` (``services[1] 'runtime': ...``).
    OWNER: ClassVar[bool] = False

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
            return
        except ValidationError as exc:
            error = TargetsError(render(exc, type(self), data))
        raise error  # outside the except block: no pydantic error (with inputs) chained to it

    # Pydantic calls a model's own __init__ to validate it when nested, unless it is marked as
    # doing what BaseModel.__init__ does (as pydantic's RootModel does): nested errors then keep
    # their location instead of arriving here.
    __init__.__dict__["__pydantic_base_init__"] = True

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        extra: Any = None,
        from_attributes: bool | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        """Validate ``obj`` (e.g. a dict read back from XCom); errors are ``TargetsError``."""
        given = {"strict": strict, "extra": extra, "from_attributes": from_attributes, "context": context,
                 "by_alias": by_alias, "by_name": by_name}  # only those set: older pydantic lacks some
        try:
            return super().model_validate(obj, **{k: v for k, v in given.items() if v is not None})
        except ValidationError as exc:
            error = TargetsError(render(exc, cls, obj))
        raise error

    @classmethod
    def every_error(cls, obj: Any) -> list[str]:
        """Every validation error of ``obj`` as a message (none: valid); ``model_validate`` raises the first."""
        try:
            super().model_validate(obj)
        except ValidationError as exc:
            return render_all(exc, cls, obj)
        except TargetsError as exc:  # raised by a nested model's own validation
            return [str(exc)]
        return []

    def revised(self, **changes: Any) -> Self:
        """A copy with ``changes`` (values, models or plain dicts), every rule checked again.

        ``model_copy(update=...)`` does not validate; this does, in one pass over the merged fields.
        """
        return self.model_validate({**dict(self), **changes})


@dataclass(frozen=True)
class _Place:
    label: str
    annotation: Any  # the type expected there (None when the location leaves the models)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    bare = flatten(annotation)[0] if annotation is not None else None
    return bare if isinstance(bare, type) and issubclass(bare, BaseModel) else None


def _items_of(annotation: Any) -> Any:
    bare = flatten(annotation)[0] if annotation is not None else None
    return get_args(bare)[0] if get_origin(bare) in (tuple, list) and get_args(bare) else None


def _join(owner: str, path: str) -> str:
    return f"{owner}: {path}" if owner and path else owner or path


def _owned(label: str, raw: Any) -> str:
    """``services[1]`` -> ``services[1] 'runtime'`` when the raw item has a usable name."""
    name = raw.get("name") if isinstance(raw, Mapping) else None
    usable = isinstance(name, str) and 0 < len(name) <= caps.SERVICE_NAME_MAX
    return f"{label} {name!r}" if usable else label


def _walk(root: type[BaseModel], data: Any, loc: Loc) -> _Place:
    """Follow ``loc`` through the models (and the raw input, for names): label and expected type."""
    node: Any = root
    raw = data
    owner, path = "", getattr(root, "LABEL", "")
    if getattr(root, "OWNER", False):
        owner, path = _owned(path, raw), ""
    for key in loc:
        model, items = _model_of(node), _items_of(node)
        if model is not None and isinstance(key, str) and key in model.model_fields:
            path = f"{path}.{key}" if path else key
            node = model.model_fields[key].rebuild_annotation()
            raw = raw.get(key) if isinstance(raw, Mapping) else None
        elif items is not None and isinstance(key, int):
            path, node = f"{path}[{key}]", items
            raw = raw[key] if isinstance(raw, (list, tuple)) and -len(raw) <= key < len(raw) else None
            if getattr(_model_of(node), "OWNER", False):
                owner, path = _owned(_join(owner, path), raw), ""
        else:
            path, node, raw = f"{path}[{key!r}]" if isinstance(key, str) else f"{path}[{key}]", None, None
    return _Place(_join(owner, path) or "targets config", node)


def _expected(kind: str, value: str, annotation: Any) -> str:
    spec = number_spec(annotation) if annotation is not None else None
    if kind == "less_than_equal" and spec is not None and spec.cap is not None:
        return f"{value} exceeds the safety cap of {num(spec.cap.value)} ({spec.cap.qualified_name})"
    expected = describe(annotation) if annotation is not None else "a valid value"
    noun = type_noun(annotation)
    if spec is not None and kind.endswith("_type") and not expected.startswith(noun):
        return f"expected {noun}, got {value} ({expected})"  # the type first, then the whole rule
    return f"expected {expected}, got {value}"


def render(
    exc: ValidationError, root: type[BaseModel], data: Any, *, label: Callable[[Loc], str] | None = None,
    item: str = "key",
) -> str:
    """The first error of ``exc`` as one message; ``label`` overrides how a location is named."""
    return render_error(exc.errors(include_url=False)[0], root, data, label=label, item=item)


def render_all(exc: ValidationError, root: type[BaseModel], data: Any) -> list[str]:
    """Every error of ``exc``, one message each (``perf-profiler validate`` lists them all).

    An error at a location that holds other errors (a list refused as a whole because an item
    was) is left out: the items' errors say what is wrong.
    """
    errors = exc.errors(include_url=False)
    locs = [(*e["loc"], *(e.get("ctx") or {}).get("at", ())) for e in errors]
    inner = [e for e, loc in zip(errors, locs, strict=True)
             if not any(len(other) > len(loc) and other[:len(loc)] == loc for other in locs)]
    return list(dict.fromkeys(render_error(e, root, data) for e in inner))


def render_error(
    error: Any, root: type[BaseModel], data: Any, *, label: Callable[[Loc], str] | None = None, item: str = "key",
) -> str:
    """One pydantic error (an item of ``ValidationError.errors()``) as a message (see :func:`render`)."""
    ctx = error.get("ctx") or {}
    loc: Loc = (*error["loc"], *ctx.get("at", ()))
    kind = error["type"]
    if kind in ("missing", "extra_forbidden"):
        parent = _walk(root, data, loc[:-1])
        key = loc[-1]
        if kind == "missing":
            return f"{parent.label}: missing required {item} {key!r}"
        model = _model_of(parent.annotation)
        allowed = list(model.model_fields) if model is not None else []
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        if label is not None:
            return f"{label(loc)}: unknown {item}{hint}; allowed: {', '.join(allowed)}"
        return f"{parent.label}: unknown {item} {show(key)}{hint}; allowed {item}s: {', '.join(allowed)}"
    place = _walk(root, data, loc)
    where = label(loc) if label is not None else place.label
    if kind == RULE:
        return f"{where}: {ctx['message']}"
    return f"{where}: {_expected(kind, show(error.get('input')), place.annotation)}"
