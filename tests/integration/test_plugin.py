"""The Airflow plugin: registered once, no import errors, and the package never imported under bare names.

Airflow's plugin loader imports every ``.py`` under the plugins folder as a top-level module named
after the file; ``plugins/.airflowignore`` keeps that scan to ``perf_profiler_plugin.py``. The dev
venv has the package installed (editable), so its ``airflow.plugins`` entry point is present too:
both routes are active here, and the plugin must still be registered exactly once.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGINS = REPO / "plugins"
PACKAGE = PLUGINS / "perf_profiler"
VENV_BIN = Path(sys.executable).parent

LOAD_PLUGINS = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from airflow import plugins_manager
    plugins, errors = plugins_manager._get_plugins()
    package = Path(sys.argv[1]).resolve()
    bare = sorted(
        name for name, module in list(sys.modules.items())
        if name != "perf_profiler" and not name.startswith("perf_profiler.")
        and getattr(module, "__file__", None) and package in Path(module.__file__).resolve().parents
    )
    print(json.dumps({"plugins": [[p.name, str(p.source)] for p in plugins], "errors": errors, "bare": bare,
                      "folder_module": "perf_profiler_plugin" in sys.modules,
                      "heavy": sorted(m for m in ("numpy", "aiohttp", "hdrh") if m in sys.modules)}))
""")


def airflow_env(home: Path) -> dict[str, str]:
    """A throwaway Airflow home whose plugins folder is the repo's plugins/ (as in a checkout deployment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    })
    return env


def test_airflow_plugins_lists_perf_profiler_once(tmp_path):
    done = subprocess.run([str(VENV_BIN / "airflow"), "plugins", "--output", "json"], env=airflow_env(tmp_path),
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    names = [plugin["name"] for plugin in json.loads(done.stdout)]
    assert names.count("perf_profiler") == 1, names


def test_loading_plugins_reports_no_import_error_and_no_bare_module_of_the_package(tmp_path):
    done = subprocess.run([sys.executable, "-c", LOAD_PLUGINS, str(PACKAGE)], env=airflow_env(tmp_path),
                          cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["errors"] == {}
    assert [name for name, _ in loaded["plugins"]] == ["perf_profiler"]
    # installed (editable) here, so the entry point registers it and the folder module steps aside
    assert "perf_profiler.plugin:PerfProfilerPlugin" in loaded["plugins"][0][1]
    assert loaded["folder_module"] is True  # the folder was scanned: its one module was imported
    assert loaded["bare"] == []
    assert loaded["heavy"] == []  # every Airflow process loads plugins: the plugin stays import-cheap


@pytest.mark.parametrize("syntax", ["glob", "regexp"])
def test_the_plugin_scan_sees_only_the_thin_module(syntax):
    """Whatever [core] dag_ignore_file_syntax says, one .py file is left for the loader to import."""
    from airflow._shared.module_loading import find_path_from_directory

    seen = [Path(p) for p in find_path_from_directory(PLUGINS, ".airflowignore", syntax)]
    assert [p.relative_to(PLUGINS).as_posix() for p in seen if p.suffix == ".py"] == ["perf_profiler_plugin.py"]

