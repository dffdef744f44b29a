"""The [perf_profiler] config section, read when the DAG file is parsed: no hand-made pool needed.

Each case parses dags/perf_profiler_dag.py with a DagBag in a fresh process (the options are read at
parse time, as the dag-processor does) and reads the ``benchmark`` task's pool and concurrency cap.
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
DAG_FILE = REPO / "dags" / "perf_profiler_dag.py"

PARSE = textwrap.dedent("""
    import json, sys
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
    if bag.import_errors:
        print(json.dumps({"errors": list(bag.import_errors.values())}))
    else:
        task = bag.dags["perf_profiler"].get_task("benchmark")
        print(json.dumps({"pool": task.pool, "max_active_tis_per_dag": task.max_active_tis_per_dag}))
""")


def parse_benchmark_task(tmp_path: Path, env: dict[str, str], cfg: str = "") -> dict:
    """Parse the DAG in a new process whose Airflow home holds ``cfg`` as airflow.cfg."""
    home = tmp_path / "airflow-home"
    home.mkdir(exist_ok=True)
    (home / "airflow.cfg").write_text(cfg)
    base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__PERF_PROFILER__")}
    done = subprocess.run(
        [sys.executable, "-c", PARSE, str(DAG_FILE)], capture_output=True, text=True, timeout=120, check=False,
        env={**base, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
             "PYTHONPATH": str(REPO / "plugins"), **env},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_default_runs_two_benchmarks_at_once_in_the_default_pool(tmp_path):
    assert parse_benchmark_task(tmp_path, {}) == {"pool": "default_pool", "max_active_tis_per_dag": 2}


def test_environment_variables_set_the_cap_and_a_dedicated_pool(tmp_path):
    env = {"AIRFLOW__PERF_PROFILER__MAX_ACTIVE_BENCHMARKS": "5",
           "AIRFLOW__PERF_PROFILER__BENCHMARK_POOL": "benchmarks"}
    assert parse_benchmark_task(tmp_path, env) == {"pool": "benchmarks", "max_active_tis_per_dag": 5}


def test_airflow_cfg_section_sets_the_cap(tmp_path):
    cfg = "[perf_profiler]\nmax_active_benchmarks = 7\nbenchmark_pool =\n"
    assert parse_benchmark_task(tmp_path, {}, cfg) == {"pool": "default_pool", "max_active_tis_per_dag": 7}


@pytest.mark.parametrize("bad", ["0", "two"])
def test_a_bad_cap_is_an_import_error_that_names_the_option(tmp_path, bad):
    result = parse_benchmark_task(tmp_path, {"AIRFLOW__PERF_PROFILER__MAX_ACTIVE_BENCHMARKS": bad})
    assert "errors" in result
    assert f"[perf_profiler] max_active_benchmarks must be a positive integer, got {bad!r}" in result["errors"][0]
