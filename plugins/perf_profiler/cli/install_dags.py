"""``perf-profiler install-dags DIR``: put the packaged DAG files into an Airflow dags folder.

For deployments that ``pip install`` the package instead of checking out the repo: the wheel
ships the DAG files and their default targets file (``perf_profiler/dag_files``, a link to the
repo's ``dags/``), and this command copies them into DIR as they are. The DAG file finds
``config/targets.json`` next to itself, so the copied folder works without further settings.

A file that already exists with other content (edited by hand, or from another version) is left
alone and the command copies nothing, unless ``--force`` is given; identical files are skipped.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

#: The packaged folders and the files of each that are installed (the rest, e.g. caches, is not).
INSTALLED = {"": ".py", "config": ".json"}


@dataclass(frozen=True)
class Planned:
    """One file to install: where it goes, its packaged content and what will happen to it."""

    target: Path
    content: bytes
    action: str  # "install" (new), "unchanged", "replace" (differs, --force) or "conflict" (differs)


def packaged_dag_files() -> dict[str, bytes]:
    """The DAG files shipped with the package, by path relative to the dags folder."""
    root = files("perf_profiler") / "dag_files"
    found: dict[str, bytes] = {}
    for folder, suffix in INSTALLED.items():
        base = root / folder if folder else root
        for entry in sorted(base.iterdir(), key=lambda e: e.name):
            if entry.is_file() and entry.name.endswith(suffix):
                found[f"{folder}/{entry.name}" if folder else entry.name] = entry.read_bytes()
    return found


def plan_install(dags_folder: Path, packaged: dict[str, bytes], force: bool = False) -> list[Planned]:
    """What installing ``packaged`` into ``dags_folder`` does to each file (nothing is written)."""
    planned = []
    for relative, content in packaged.items():
        target = dags_folder / relative
        if not target.exists():
            action = "install"
        elif target.read_bytes() == content:
            action = "unchanged"
        else:
            action = "replace" if force else "conflict"
        planned.append(Planned(target, content, action))
    return planned


def _write_atomically(target: Path, content: bytes) -> None:
    """Write through a temporary file and a rename: the dag-processor never reads half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def install_dags(dags_folder: Path, force: bool = False) -> list[Planned]:
    """Copy the packaged DAG files into ``dags_folder``; all or nothing when a file conflicts."""
    planned = plan_install(dags_folder, packaged_dag_files(), force)
    if any(p.action == "conflict" for p in planned):
        return planned
    for item in planned:
        if item.action in ("install", "replace"):
            _write_atomically(item.target, item.content)
    return planned


def run(args: argparse.Namespace) -> int:
    """The subcommand: install, print one line per file, exit 1 (copying nothing) on a conflict."""
    planned = install_dags(args.dags_folder, force=args.force)
    conflicts = [p for p in planned if p.action == "conflict"]
    if conflicts:
        for item in conflicts:
            print(f"changed    {item.target}", file=sys.stderr)
        print(f"perf-profiler: {len(conflicts)} file(s) in {args.dags_folder} differ from the packaged "
              "ones; nothing was copied (--force replaces them)", file=sys.stderr)
        return 1
    labels = {"install": "installed", "unchanged": "unchanged", "replace": "replaced"}
    for item in planned:
        print(f"{labels[item.action]:<10} {item.target}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``install-dags`` to the ``perf-profiler`` command line."""
    parser = subparsers.add_parser(
        "install-dags", help="copy the DAG files and their config/targets.json into an Airflow dags folder",
        description="Copy the DAG files shipped with perf-profiler (and their default targets file, "
                    "config/targets.json) into DIR. A file that differs is not replaced without --force.",
    )
    parser.add_argument("dags_folder", type=Path, metavar="DIR", help="the Airflow dags folder (created if missing)")
    parser.add_argument("--force", action="store_true", help="replace files that differ from the packaged ones")
    parser.set_defaults(func=run)
