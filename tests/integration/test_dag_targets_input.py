"""No content of the targets file can make the DAG file fail to import: a bad file fails ``load_targets``.

Each case parses dags/perf_profiler_dag.py with a DagBag in a fresh process (the form's service
names are read from the targets file at parse time, as the dag-processor does), serializes the DAG
as the dag-processor would, then runs ``load_targets`` against the same file: it fails at once
(``AirflowFailException``: no retries) naming the file.
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
DEEP = 100_000

PARSE = textwrap.dedent("""
    import json, sys
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization
    bag = DagBag(dag_folder=sys.argv[1])
    dag = bag.dags.get("perf_profiler")
    if dag is not None:
        json.dumps(DagSerialization.to_dict(dag))
    print(json.dumps({"errors": list(bag.import_errors.values()), "dags": sorted(bag.dags),
                      "offered": dag.params.get_param("services").value if dag is not None else None}))
""")


def _service(name: object) -> dict:
    return {"name": name, "base_url": "http://127.0.0.1:9", "endpoints": [{"path": "/"}]}


BAD_FILES = [
    ("garbage", b"\x00\x01 not json {{{", None),
    ("empty", b"", None),
    ("a list", b"[1, 2, 3]", None),
    ("a string", b'"services"', None),
    ("nested lists", b"[" * DEEP + b"]" * DEEP, None),
    ("nested services", b'{"services": ' + b"[" * DEEP + b"]" * DEEP + b"}", None),
    ("invalid utf-8", b'{"services": [{"name": "caf\xe9"}]}', None),
    ("huge integer", b'{"services": [], "version": ' + b"9" * 5000 + b"}", None),
    ("services not a list", json.dumps({"services": {"a": 1}}).encode(), None),
    ("control characters", json.dumps({"services": [_service("a\x1b[31m\nfake"), _service("b\u202e")]}).encode(),
     None),
    ("unicode spellings and case", json.dumps({"services": [_service("Caf\u00e9"), _service("Cafe\u0301"),
                                                            _service("CAF\u00c9")]}).encode(),
     ["Caf\u00e9", "CAF\u00c9"]),
    ("odd names", json.dumps({"services": [_service("a:b"), _service("x" * 101), _service(5), _service(" p"),
                                           _service("{{ ti }}")]}).encode(), ["a:b", "{{ ti }}"]),
    ("a POST without the opt-in", json.dumps({"services": [{**_service("w"), "endpoints": [
        {"path": "/x", "method": "POST"}]}]}).encode(), ["w"]),
]


def _parse(tmp_path: Path, targets: Path) -> dict:
    home = tmp_path / "airflow-home"
    home.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", PARSE, str(DAG_FILE)], capture_output=True, text=True, timeout=180, check=False,
        env={**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
             "PYTHONPATH": str(REPO / "plugins"), "PERF_PROFILER_TARGETS_FILE": str(targets)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("content", "offered"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_a_bad_targets_file_leaves_the_dag_importable_and_fails_load_targets(tmp_path, monkeypatch, content,
                                                                            offered):
    from airflow.sdk.exceptions import AirflowFailException

    from perf_profiler.tasks.plan import load_targets

    targets = tmp_path / "targets.json"
    targets.write_bytes(content)
    parsed = _parse(tmp_path, targets)
    assert parsed["errors"] == []
    assert "perf_profiler" in parsed["dags"]
    assert parsed["offered"] == offered  # the form offers only names the params accept
    monkeypatch.setenv("PERF_PROFILER_TARGETS_FILE", str(targets))
    with pytest.raises(AirflowFailException, match=f"invalid perf-profiler targets: {targets}"):
        load_targets(None, {}, None, "manual", None)
