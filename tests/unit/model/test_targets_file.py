"""Reading targets: JSON text and files, duplicate keys, and which file is the default."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from perf_profiler.model.errors import TargetsError
from perf_profiler.model.targets_file import (
    ENV_TARGETS_FILE,
    load_targets_file,
    parse_targets_json,
    service_names,
    targets_path,
)

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "dags" / "config" / "targets.json"
SMALL = {"services": [{"name": "a", "base_url": "http://127.0.0.1:1", "endpoints": [{"path": "/"}]}]}


def test_the_default_is_the_file_the_dag_passes_and_the_environment_overrides_it(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_TARGETS_FILE, raising=False)
    assert targets_path(SHIPPED) == SHIPPED
    assert len(load_targets_file(targets_path(SHIPPED))) == 4
    own = tmp_path / "mine.json"
    own.write_text(json.dumps(SMALL))
    monkeypatch.setenv(ENV_TARGETS_FILE, str(own))
    assert targets_path(SHIPPED) == own
    assert [s.name for s in load_targets_file(targets_path(None))] == ["a"]


def test_the_dags_folder_setting_is_not_consulted(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_TARGETS_FILE, raising=False)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "targets.json").write_text(json.dumps(SMALL))
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path))
    assert targets_path(SHIPPED) == SHIPPED
    with pytest.raises(TargetsError, match=f"no targets file given; set {ENV_TARGETS_FILE}"):
        targets_path(None)


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(TargetsError, match=r"nope\.json.*PERF_PROFILER_TARGETS_FILE"):
        load_targets_file(missing)


def test_malformed_json_names_source_line_and_column():
    text = '{\n  "services": [\n    {"name": "x",}\n  ]\n}\n'
    with pytest.raises(TargetsError) as info:
        parse_targets_json(text, "my-targets.json")
    assert str(info.value).startswith("my-targets.json: invalid JSON at line 3, column 18")


def test_json_duplicate_keys_and_validation_errors_name_the_source():
    with pytest.raises(TargetsError, match=r"^t\.json: duplicate key 'requests'"):
        parse_targets_json('{"defaults": {"load": {"requests": 1, "requests": 2}}, "services": []}', "t.json")
    with pytest.raises(TargetsError, match=r"^t.json: services: expected a non-empty list"):
        parse_targets_json('{"services": []}', "t.json")


def test_service_names_is_a_plain_read_that_never_fails(tmp_path):
    assert service_names(SHIPPED) == ["registry", "runtime", "insight-engine", "predictive-engine"]
    broken = tmp_path / "broken.json"
    for text in ("{", "[]", '{"services": 5}', '{"services": [5, {"name": 3}, {"name": "ok"}]}'):
        broken.write_text(text)
        assert service_names(broken) in ([], ["ok"])
    assert service_names(tmp_path / "missing.json") == []


# --------------------------------------------------------------------------- pathological content

DEEP = 100_000
PATHOLOGICAL = [
    ("nested lists", "[" * DEEP + "]" * DEEP, "nested too deeply"),
    ("nested objects", '{"a":' * DEEP + "1" + "}" * DEEP, "nested too deeply"),
    ("nested services", '{"services": ' + "[" * DEEP + "]" * DEEP + "}", "nested too deeply"),
    ("huge integer", '{"version": ' + "9" * 5000 + "}", "unreadable JSON"),
    ("a list", "[1, 2]", "expected"),
    ("a string", '"services"', "expected"),
    ("garbage", "\x00\x01garbage{{{", "invalid JSON"),
    ("nested body", json.dumps({"services": [{**SMALL["services"][0],
                                              "endpoints": [{"path": "/", "body": [[[[[[1]]]]]]}]}]}),
     "body: expected a string or null"),
]


@pytest.mark.parametrize(("text", "fragment"), [c[1:] for c in PATHOLOGICAL], ids=[c[0] for c in PATHOLOGICAL])
def test_pathological_text_fails_at_once_as_a_targets_error_naming_its_source(text, fragment):
    with pytest.raises(TargetsError) as info:
        parse_targets_json(text, "Airflow Variable 'perf_profiler_targets'")
    assert str(info.value).startswith("Airflow Variable 'perf_profiler_targets': ")
    assert fragment in str(info.value)


@pytest.mark.parametrize(("text", "fragment"), [c[1:] for c in PATHOLOGICAL], ids=[c[0] for c in PATHOLOGICAL])
def test_pathological_files_fail_load_but_never_the_dag_parse_read(tmp_path, text, fragment):
    bad = tmp_path / "targets.json"
    bad.write_text(text)
    with pytest.raises(TargetsError, match=str(bad)):
        load_targets_file(bad)
    assert service_names(bad) == (["a"] if "body" in fragment else [])  # a plain read: only the names


def test_invalid_utf8_fails_load_naming_the_file_and_reads_no_names(tmp_path):
    bad = tmp_path / "targets.json"
    bad.write_bytes(b'{"services": [{"name": "caf\xe9"}]}')
    with pytest.raises(TargetsError, match=r"targets\.json: cannot read targets file"):
        load_targets_file(bad)
    assert service_names(bad) == []


def test_a_variable_nested_too_deeply_fails_load_targets_without_retries():
    from airflow.sdk.exceptions import AirflowFailException

    from perf_profiler.tasks.plan import load_targets

    with pytest.raises(AirflowFailException, match="Airflow Variable 'perf_profiler_targets': JSON nested too deeply"):
        load_targets("[" * DEEP + "]" * DEEP)


def test_allow_writes_opts_every_service_in_to_state_changing_methods():
    writes = {"services": [{**SMALL["services"][0], "endpoints": [{"path": "/orders", "method": "POST"}]}]}
    with pytest.raises(TargetsError, match="allow_state_changing_methods"):
        parse_targets_json(json.dumps(writes))
    [service] = parse_targets_json(json.dumps(writes), allow_writes=True)
    assert service.allow_state_changing_methods is True and service.endpoints[0].method == "POST"
