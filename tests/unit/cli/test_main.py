"""The probe command's load flags: checked by the targets model, refused as usage errors."""
from __future__ import annotations

import json

import pytest

from perf_profiler.cli.main import main, services_from_urls
from perf_profiler.model.targets import LoadSettings

URL = "http://127.0.0.1:9/x"


@pytest.mark.parametrize(("argv", "fragments"), [
    (["-c", "0", URL], ["load.concurrency: expected a positive integer, got 0"]),
    (["-c", "5000", URL], ["load.concurrency: 5000 exceeds the safety cap of 1000", "MAX_CONCURRENCY"]),
    (["-n", "-5", URL], ["load.requests", "got -5"]),
    (["--processes", "0", URL], ["load.processes", "got 0"]),
    (["--processes", "4", "-c", "2", URL], ["load.processes: 4 exceeds load.concurrency (2)"]),
    (["--warmup", "-1", URL], ["load.warmup: expected a non-negative integer, got -1"]),
    (["--rate", "10", URL], ["load.duration_s: the open model needs a duration"]),
    (["--rate", "inf", "--duration", "1s", URL], ["load.rate", "got Infinity"]),
    (["--rate", "-3", "--duration", "1s", URL], ["load.rate", "got -3.0"]),
    (["--rate", "1e308", "--duration", "1s", URL], ["load.rate", "safety cap of 50000"]),
    (["--rate", "10", "--duration", "1s", "--model", "closed", URL], ["load.rate: 10.0 applies to the open model"]),
    (["ftp://127.0.0.1/x"], ["base_url", "http:// or https://"]),
    (["localhost:8000/x"], ["base_url", '"localhost:8000/x"']),
    ([], ["give URLs to probe or --targets FILE"]),
])
def test_bad_flags_are_the_models_usage_errors(argv, fragments, capsys):
    with pytest.raises(SystemExit) as info:
        main(["probe", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: perf-profiler probe" in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def test_credentials_in_a_url_are_refused_without_echoing_them(capsys):
    with pytest.raises(SystemExit):
        main(["probe", "http://admin:hunter2@127.0.0.1:9/x"])
    err = capsys.readouterr().err
    assert "service '127.0.0.1:9': base_url" in err and "embeds credentials" in err
    assert "hunter2" not in err and "admin" not in err


def test_flags_over_a_targets_file_are_checked_per_service(tmp_path, capsys):
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"services": [
        {"name": "a", "base_url": "http://127.0.0.1:9", "endpoints": [{"path": "/", "max_concurrency": 2}]}]}))
    with pytest.raises(SystemExit):
        main(["probe", "--targets", str(targets), "--processes", "3", "-c", "6"])
    assert "service 'a': endpoints[0].max_concurrency: 2 is below load.processes (3)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["probe", "--targets", str(targets), "--service", "b"])
    assert "no service named b" in capsys.readouterr().err


def test_urls_are_grouped_by_host_into_services():
    services = services_from_urls(
        ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b?x=1", "http://127.0.0.1:9/a", "https://localhost/"],
        LoadSettings(requests=5))
    assert [(s.name, s.base_url, [e.path for e in s.endpoints]) for s in services] == [
        ("127.0.0.1:9", "http://127.0.0.1:9", ["/a", "/b?x=1"]), ("localhost", "https://localhost", ["/"])]
    assert all(s.load.requests == 5 for s in services)


# --------------------------------------------------------------------------- read-only by default (P-3)


def _writes_file(tmp_path, url: str, **service: object):
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"services": [{
        "name": "shop", "base_url": url, **service,
        "endpoints": [{"path": "/ok"}, {"path": "/echo", "method": "POST", "body": "{}"}]}]}))
    return targets


def test_a_targets_file_with_post_is_refused_without_allow_writes(tmp_path, capsys):
    from servers import BenchServer

    with BenchServer() as server:
        with pytest.raises(SystemExit) as info:
            main(["probe", "--targets", str(_writes_file(tmp_path, server.url)), "-n", "3", "--warmup", "0"])
        assert server.stats.hits == {}  # refused before sending anything
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert ("targets.json: services[0] 'shop': endpoints[1].method: endpoint \"POST /echo\": "
            "method POST changes state") in err
    assert "allow_state_changing_methods: true" in err


def test_allow_writes_probes_with_post_and_warns(tmp_path, capsys):
    from servers import BenchServer

    with BenchServer() as server:
        code = main(["probe", "--targets", str(_writes_file(tmp_path, server.url)), "--allow-writes",
                     "-n", "3", "--warmup", "0", "--json"])
        assert server.stats.hits["/echo"] == 3 and server.stats.last_request.method == "POST"
    assert code == 0
    out, err = capsys.readouterr()
    assert "warning: shop: probing with state-changing methods (POST /echo)" in err
    assert [e["method"] for e in json.loads(out)["results"][0]["endpoints"]] == ["GET", "POST"]


def test_the_files_own_opt_in_needs_no_flag_but_still_warns(tmp_path, capsys):
    from servers import BenchServer

    with BenchServer() as server:
        targets = _writes_file(tmp_path, server.url, allow_state_changing_methods=True)
        assert main(["probe", "--targets", str(targets), "-n", "2", "--warmup", "0", "--json"]) == 0
        assert server.stats.hits["/echo"] == 2
    assert "warning: shop: probing with state-changing methods (POST /echo)" in capsys.readouterr().err


def test_a_read_only_probe_prints_no_warning(tmp_path, capsys):
    from servers import BenchServer

    with BenchServer() as server:
        assert main(["probe", f"{server.url}/ok", "-n", "2", "--warmup", "0", "--allow-writes", "--json"]) == 0
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize(("url", "fragment"), [
    ("http://127.0.0.1:9/x?access_token=SEKRIT", 'query parameter "access_token" looks like a secret'),
    ("http://127.0.0.1:9/a/../admin", "without '.' or '..' segments"),
])
def test_urls_on_the_command_line_get_the_same_input_rules(url, fragment, capsys):
    with pytest.raises(SystemExit):
        main(["probe", url])
    err = capsys.readouterr().err
    assert fragment in err and "SEKRIT" not in err


@pytest.mark.parametrize("engine", ["fast", "aiohttp"])
def test_the_engine_flag_picks_the_engine(engine, tmp_path, capsys):
    from servers import BenchServer

    with BenchServer() as server:
        assert main(["probe", f"{server.url}/ok", "-n", "5", "--warmup", "0", "--engine", engine, "--json"]) == 0
        assert server.stats.hits["/ok"] == 5
    (result,) = json.loads(capsys.readouterr().out)["results"]
    assert result["engine"] == engine


def test_the_engine_flag_is_checked(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["probe", URL, "--engine", "curl"])
    assert stopped.value.code == 2
    assert "--engine" in capsys.readouterr().err
