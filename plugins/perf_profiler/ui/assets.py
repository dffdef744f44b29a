"""The Performance pages' static files, served only to a signed-in DAG reader.

Two kinds, both by known name only (no path from the request ever reaches the file system, so no
traversal): our own small scripts and styles in ``ui/static/`` (package data), and the chart
library, plotly.js, exactly as the PyPI package ``plotly`` ships it
(``plotly/package_data/plotly.min.js``): the pages render offline, with no CDN and no npm step.
There is no ``StaticFiles`` mount, because a mount would bypass the auth dependency.
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Response, status
from fastapi.responses import FileResponse

from perf_profiler.ui.auth import require_dag_reader

__all__ = ["STATIC_FILES", "plotly_js_path", "router"]

#: ui/static file name -> media type; anything else is a 404.
STATIC_FILES: dict[str, str] = {
    "perf.css": "text/css; charset=utf-8",
    "theme.js": "text/javascript; charset=utf-8",
    "common.js": "text/javascript; charset=utf-8",
    "overview.js": "text/javascript; charset=utf-8",
    "endpoint.js": "text/javascript; charset=utf-8",
}

#: Our files change with the package version; plotly.min.js with the plotly version. An hour of
#: private caching keeps the iframe snappy without serving a stale script for long after an upgrade.
CACHE_CONTROL = "private, max-age=3600"

router = APIRouter(prefix="/static", dependencies=[Depends(require_dag_reader)], tags=["static"])


@lru_cache(maxsize=1)
def plotly_js_path() -> Path:
    """Where the installed ``plotly`` package keeps plotly.min.js (found without importing plotly)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the Python package 'plotly' is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js not found at {path}")
    return path


@router.get("/vendor/plotly.min.js", name="plotly_js")
def plotly_js() -> FileResponse:
    """plotly.js from the installed PyPI package (MIT licence, stated in the file's header)."""
    try:
        path = plotly_js_path()
    except FileNotFoundError as error:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(error)) from error
    return FileResponse(path, media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": CACHE_CONTROL})


@router.get("/{name}", name="static_file")
def static_file(name: str) -> Response:
    """One of ``STATIC_FILES`` from the package's ``ui/static`` folder."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Not Found")
    content = resources.files("perf_profiler.ui").joinpath("static", name).read_bytes()
    return Response(content, media_type=media_type, headers={"Cache-Control": CACHE_CONTROL})
