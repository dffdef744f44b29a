"""Reading a targets config: JSON text or a file, and which file to read.

The DAG file passes its own ``config/targets.json`` (found relative to the DAG file, so a wheel
install or a DAG bundle finds it too); ``$PERF_PROFILER_TARGETS_FILE`` overrides it. The Airflow
Variable ``perf_profiler_targets`` (JSON text) overrides both (``tasks.plan``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perf_profiler.model.errors import TargetsError

if TYPE_CHECKING:  # the models are imported when text is parsed: the DAG's form needs only names
    from perf_profiler.model.targets import Service

ENV_TARGETS_FILE = "PERF_PROFILER_TARGETS_FILE"


def targets_path(default: str | os.PathLike[str] | None) -> Path:
    """``$PERF_PROFILER_TARGETS_FILE`` when set, else ``default`` (the DAG file's config/targets.json)."""
    explicit = os.environ.get(ENV_TARGETS_FILE)
    if explicit:
        return Path(explicit).expanduser()
    if default is None:
        raise TargetsError(f"no targets file given; set {ENV_TARGETS_FILE} to point at one")
    return Path(default)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise TargetsError(f"duplicate key {key!r} in a JSON object")
        out[key] = value
    return out


def _opted_in(obj: Any) -> Any:
    """Every service of ``obj`` with ``allow_state_changing_methods: true`` (the CLI's ``--allow-writes``)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("services"), list):
        return obj
    services = [{**s, "allow_state_changing_methods": True} if isinstance(s, dict) else s for s in obj["services"]]
    return {**obj, "services": services}


def parse_targets_json(text: str, source: str = "<string>", *, allow_writes: bool = False) -> list[Service]:
    """Parse targets JSON text; every error message starts with ``source``.

    Any failure is a ``TargetsError`` naming ``source``, pathological input included (JSON nested
    too deeply to parse). ``allow_writes`` opts every service in to state-changing methods.
    """
    from perf_profiler.model.targets import parse_targets

    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        return parse_targets(_opted_in(obj) if allow_writes else obj)
    except json.JSONDecodeError as exc:
        error = TargetsError(f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")
    except TargetsError as exc:
        error = TargetsError(f"{source}: {exc}")
    except RecursionError:
        error = TargetsError(f"{source}: JSON nested too deeply to read (a targets config is a few levels deep)")
    except ValueError as exc:  # e.g. an integer literal longer than Python converts (4300 digits)
        error = TargetsError(f"{source}: unreadable JSON ({type(exc).__name__}: {str(exc)[:200]})")
    raise error


def load_targets_file(path: str | os.PathLike[str], *, allow_writes: bool = False) -> list[Service]:
    """Load and validate a targets file (``allow_writes``: see ``parse_targets_json``)."""
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetsError(
            f"{target}: cannot read targets file ({exc}); set {ENV_TARGETS_FILE} to point at one"
        ) from None
    return parse_targets_json(text, str(target), allow_writes=allow_writes)


def service_names(path: str | os.PathLike[str]) -> list[str]:
    """The service names of a targets file, from a plain JSON read (no validation; [] if unreadable).

    Cheap and safe at DAG-parse time: no network, no database, and no content of the file can
    raise (garbage, another JSON type, invalid UTF-8, nesting too deep for the parser).
    """
    try:
        with open(path, encoding="utf-8") as fh:
            services = json.load(fh)["services"]
        return [s["name"] for s in services if isinstance(s, dict) and isinstance(s.get("name"), str)]
    except (OSError, ValueError, LookupError, TypeError, RecursionError, MemoryError):
        return []
