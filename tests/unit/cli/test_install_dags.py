"""``perf-profiler install-dags DIR``: the packaged DAG files land in DIR, never over a changed file."""
from __future__ import annotations

from pathlib import Path

from perf_profiler.cli.install_dags import install_dags, packaged_dag_files
from perf_profiler.cli.main import main

REPO = Path(__file__).resolve().parents[3]
EXPECTED = ["perf_profiler_dag.py", "perf_trends_dag.py", "config/targets.json"]


def test_the_package_ships_the_repo_dag_files_and_the_default_targets():
    packaged = packaged_dag_files()
    assert sorted(packaged) == sorted(EXPECTED)
    assert all(packaged[name] == (REPO / "dags" / name).read_bytes() for name in EXPECTED)


def test_installs_into_a_new_folder_then_leaves_identical_files_alone(tmp_path, capsys):
    dags = tmp_path / "airflow" / "dags"
    assert main(["install-dags", str(dags)]) == 0
    assert sorted(str(p.relative_to(dags)) for p in dags.rglob("*") if p.is_file()) == sorted(EXPECTED)
    assert all((dags / name).read_bytes() == (REPO / "dags" / name).read_bytes() for name in EXPECTED)
    assert capsys.readouterr().out.splitlines() == [f"installed  {dags / name}" for name in EXPECTED]

    assert main(["install-dags", str(dags)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"unchanged  {dags / name}" for name in EXPECTED]


def test_a_changed_file_stops_the_whole_install_unless_forced(tmp_path, capsys):
    dags = tmp_path / "dags"
    install_dags(dags)
    edited = dags / "config" / "targets.json"
    edited.write_text('{"version": 1, "services": []}\n')
    (dags / "perf_trends_dag.py").unlink()

    assert main(["install-dags", str(dags)]) == 1
    err = capsys.readouterr().err
    assert f"changed    {edited}" in err and "nothing was copied (--force replaces them)" in err
    assert edited.read_text() == '{"version": 1, "services": []}\n'
    assert not (dags / "perf_trends_dag.py").exists()  # all or nothing

    assert main(["install-dags", "--force", str(dags)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"unchanged  {dags / 'perf_profiler_dag.py'}",
        f"installed  {dags / 'perf_trends_dag.py'}",
        f"replaced   {edited}",
    ]
    assert edited.read_bytes() == (REPO / "dags" / "config" / "targets.json").read_bytes()
    assert not list(dags.rglob("*.tmp"))
