"""The built wheel in a fresh virtualenv with Airflow: what a pip-install deployment gets.

The wheel is built from a copy of the sources (a build writes egg-info and build/ next to them),
installed with the pinned constraints into a new venv, and used the way the README says: an
``airflow.cfg`` that alone sets ``dags_folder`` (no AIRFLOW__CORE__DAGS_FOLDER anywhere), then
``perf-profiler install-dags <dags_folder>``. Airflow must list the plugin from the entry point and
parse the DAG with a trigger form that offers the services of the installed targets file.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(900)  # pip installs Airflow into the new venv: about a minute

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "plugins/perf_profiler", "sql", "dags")
ENTRY_POINT = "perf_profiler.plugin:PerfProfilerPlugin"
SERVICES = ["checkout", "search"]

LOAD_PLUGINS = textwrap.dedent("""
    import json
    from airflow import plugins_manager
    plugins, errors = plugins_manager._get_plugins()
    print(json.dumps({"plugins": [[p.name, str(p.source)] for p in plugins], "errors": errors}))
""")

PARSE_DAGS = textwrap.dedent("""
    import json
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag()  # the dags_folder of airflow.cfg
    dag = bag.dags.get("perf_profiler")
    services = dag.params.get_param("services") if dag else None
    print(json.dumps({
        "dags_folder": conf.get("core", "dags_folder"), "dags": sorted(bag.dags),
        "errors": {path: error[-1500:] for path, error in bag.import_errors.items()},
        "default": services and services.value, "examples": services and services.schema.get("examples"),
    }))
""")


@dataclass
class Deployment:
    """A fresh venv with the wheel installed and an Airflow home whose airflow.cfg names the folders."""

    wheel: Path
    venv: Path
    home: Path
    dags: Path
    plugins: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV"))}
        env.update({"AIRFLOW_HOME": str(self.home), "PATH": f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"})
        env.update(extra)
        return env

    def run(
        self, *args: str, timeout: float = 300, env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command of the new venv (``airflow``, ``perf-profiler``, ``python``, ``pip``).

        ``env``: environment variables on top of :meth:`env`'s.
        """
        done = subprocess.run([str(self.venv / "bin" / args[0]), *args[1:]], env=self.env(**(env or {})),
                              cwd=self.home, capture_output=True, text=True, timeout=timeout, check=False)
        assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def json_of(self, *args: str, **extra: str) -> object:
        """The JSON on the last line of a command's output; ``extra``: environment variables."""
        return json.loads(self.run(*args, env=extra).stdout.strip().splitlines()[-1])


def build_wheel(workdir: Path) -> Path:
    """Build the wheel from a copy of the sources, so the build leaves nothing in the repo."""
    src = workdir / "src"
    for name in SOURCES:
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, src / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
        else:
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, src / name)
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(workdir / "dist"),
                    str(src)], check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = (workdir / "dist").glob("perf_profiler-*.whl")
    return wheel


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Deployment:
    work = tmp_path_factory.mktemp("wheel-deployment")
    wheel = build_wheel(work)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(wheel),
                    "-c", str(REPO / "constraints.txt")], check=True, capture_output=True, timeout=840)
    home, dags, plugins = work / "airflow-home", work / "deployed" / "dags", work / "deployed" / "plugins"
    home.mkdir()
    plugins.mkdir(parents=True)  # empty: the plugin comes from the entry point
    (home / "airflow.cfg").write_text(
        f"[core]\ndags_folder = {dags}\nplugins_folder = {plugins}\nload_examples = False\n")
    return Deployment(wheel, venv, home, dags, plugins)


def test_the_wheel_ships_the_license_types_dags_and_migrations(deployment):
    names = set(zipfile.ZipFile(deployment.wheel).namelist())
    version = deployment.wheel.name.split("-")[1]
    dist_info = f"perf_profiler-{version}.dist-info"
    assert {f"{dist_info}/licenses/LICENSE", "perf_profiler/py.typed", "perf_profiler/plugin.py",
            "perf_profiler/dag_files/perf_profiler_dag.py", "perf_profiler/dag_files/perf_trends_dag.py",
            "perf_profiler/dag_files/config/targets.json", "perf_profiler/sql/postgres/001_perf_metrics.sql",
            "perf_profiler/sql/sqlite/001_perf_metrics.sql"} <= names
    assert not [n for n in names if ".egg-info" in n or "__pycache__" in n]
    entry_points = zipfile.ZipFile(deployment.wheel).read(f"{dist_info}/entry_points.txt").decode()
    assert f"[airflow.plugins]\nperf_profiler = {ENTRY_POINT}" in entry_points
    installed = deployment.run("python", "-c", "import perf_profiler; print(perf_profiler.__version__)")
    assert installed.stdout.strip() == version


def test_the_wheel_ships_the_performance_pages(deployment):
    """ui/templates and ui/static are package data: a pip-installed API server renders the pages."""
    from perf_profiler.ui.assets import STATIC_FILES

    names = set(zipfile.ZipFile(deployment.wheel).namelist())
    templates = {f"perf_profiler/ui/templates/{path.name}"
                 for path in (REPO / "plugins/perf_profiler/ui/templates").glob("*.html")}
    assert templates and templates | {f"perf_profiler/ui/static/{name}" for name in STATIC_FILES} <= names


def test_airflow_lists_the_plugin_from_the_entry_point(deployment):
    listed = deployment.json_of("airflow", "plugins", "--output", "json")
    assert [(p["name"], ENTRY_POINT in p["source"]) for p in listed] == [("perf_profiler", True)]
    loaded = deployment.json_of("python", "-c", LOAD_PLUGINS)
    assert loaded["errors"] == {}


def test_install_dags_then_the_dag_parses_and_offers_the_configured_services(deployment):
    installed = deployment.run("perf-profiler", "install-dags", str(deployment.dags))
    assert installed.stdout.splitlines() == [
        f"installed  {deployment.dags / name}"
        for name in ("perf_profiler_dag.py", "perf_trends_dag.py", "config/targets.json")
    ]
    # the deployment's own services, in the installed targets file next to the DAG file
    targets_file = deployment.dags / "config" / "targets.json"
    targets = json.loads(targets_file.read_text())
    kept = targets["services"][:len(SERVICES)]  # the first ones, renamed
    targets["services"] = [dict(service, name=name) for service, name in zip(kept, SERVICES, strict=True)]
    targets_file.write_text(json.dumps(targets, indent=2))

    parsed = deployment.json_of("python", "-c", PARSE_DAGS)
    assert parsed["dags_folder"] == str(deployment.dags)  # from airflow.cfg: no env var is set
    assert parsed["errors"] == {}
    assert parsed["dags"] == ["perf_profiler", "perf_trends"]
    assert parsed["default"] == SERVICES and parsed["examples"] == SERVICES


def test_a_checkout_plugins_folder_next_to_the_wheel_registers_the_plugin_once(deployment):
    loaded = deployment.json_of("python", "-c", LOAD_PLUGINS, AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"))
    assert loaded["errors"] == {}
    assert [name for name, _ in loaded["plugins"]] == ["perf_profiler"]
    assert ENTRY_POINT in loaded["plugins"][0][1]  # the folder's module stepped aside


def test_the_plugins_folder_alone_registers_the_plugin(deployment):
    """Without the installed package (its entry point gone), the folder's thin module registers it."""
    deployment.run("pip", "uninstall", "--quiet", "--yes", "perf-profiler")
    try:
        loaded = deployment.json_of("python", "-c", LOAD_PLUGINS,
                                    AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"))
    finally:
        deployment.run("pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check", str(deployment.wheel))
    assert loaded["errors"] == {}
    assert loaded["plugins"] == [["perf_profiler", "$PLUGINS_FOLDER/perf_profiler_plugin.py"]]
