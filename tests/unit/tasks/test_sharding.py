"""Shards: the config field and param, the expansion in load_targets, the share arithmetic."""
from __future__ import annotations

import json

import pytest

from perf_profiler.engine.plan import Share, plan_endpoint, scheduled_arrivals
from perf_profiler.model.errors import TargetsError
from perf_profiler.model.params import ParamsError, apply
from perf_profiler.model.targets import Endpoint, LoadSettings, parse_targets
from perf_profiler.tasks import plan, sharding


def _config(**load):
    return {"services": [
        {"name": "api", "base_url": "http://127.0.0.1:1", "endpoints": [{"path": "/a"}],
         "load": {"requests": 100, "concurrency": 8, "warmup": 5, **load}},
        {"name": "web", "base_url": "http://127.0.0.1:2", "endpoints": [{"path": "/b"}]},
    ]}


def test_load_targets_maps_one_instance_per_service_and_shard_labelled_service_i_of_n():
    run_plan = plan.load_targets(json.dumps(_config(shards=3)))
    items = run_plan["to_probe"]
    assert [sharding.label(item) for item in items] == ["api[1/3]", "api[2/3]", "api[3/3]", "web"]
    assert [item.get("shard") for item in items] == [0, 1, 2, None]
    service, index = sharding.shard_of(items[1])
    assert index == 1 and "shard" not in service and service == run_plan["services"][0]
    assert items[3] == run_plan["services"][1], "an unsharded service's item is its JSON, as before"
    assert sharding.expected_shards(run_plan["services"]) == {"api": 3, "web": 1}


@pytest.mark.parametrize(("load", "message"), [
    ({"shards": 0}, "shards"),
    ({"shards": 65}, "MAX_SHARDS"),
    ({"shards": 3, "processes": 3}, "exceed load.concurrency"),
    ({"shards": 4, "processes": 2, "concurrency": 8, "requests": 7}, "exceed load.requests"),
    ({"shard_start_timeout_s": 0}, "shard_start_timeout_s"),
])
def test_bad_shards_are_refused_naming_the_field(load, message):
    with pytest.raises(TargetsError, match=message):
        parse_targets({"version": 1, **_config(**load)})


def test_an_endpoint_cap_below_shards_times_processes_is_refused():
    config = _config(shards=4, processes=2)
    config["services"][0]["endpoints"] = [{"path": "/a", "max_concurrency": 6}]
    with pytest.raises(TargetsError, match=r"load.shards x load.processes \(4 x 2\)"):
        parse_targets({"version": 1, **config})


def test_the_shards_param_overrides_every_selected_service_and_is_checked_by_the_rules():
    services = parse_targets({"version": 1, **_config()})
    chosen, _ = apply(services, {}, {"shards": 2, "services": ["api"]})
    assert [s.load.shards for s in chosen] == [2]
    with pytest.raises(ParamsError, match="param 'shards'"):
        apply(services, {}, {"shards": 9, "services": ["api"]})  # 9 shards > concurrency 8


@pytest.mark.parametrize(("shards", "processes"), [(2, 1), (3, 2), (4, 4)])
def test_shares_of_every_process_of_every_shard_add_up_to_the_whole_load(shards, processes):
    load = LoadSettings(requests=101, concurrency=17, warmup=9, shards=shards, processes=processes)
    endpoint = Endpoint(path="/a")
    plans = [plan_endpoint(load, endpoint, Share(s, shards).split(p, processes))
             for s in range(shards) for p in range(processes)]
    assert sum(p.requests or 0 for p in plans) == 101
    assert sum(p.concurrency for p in plans) == 17
    assert sum(p.warmup for p in plans) == 9
    assert {p.share.count for p in plans} == {shards * processes}
    assert sorted(p.share.index for p in plans) == list(range(shards * processes))


def test_open_loop_timelines_of_shards_and_processes_interleave_into_the_one_timeline():
    load = LoadSettings(model="open", rate=97.0, duration_s=2.0, concurrency=12, shards=3, processes=2)
    endpoint = Endpoint(path="/a")
    total = scheduled_arrivals(97.0, 2.0)
    arrivals: list[int] = []
    for s in range(3):
        for p in range(2):
            share = plan_endpoint(load, endpoint, Share(s, 3).split(p, 2)).share
            arrivals.extend(range(share.index, total, share.count))
    assert sorted(arrivals) == list(range(total)), "every arrival of the schedule exactly once"
    assert sum(plan_endpoint(load, endpoint, Share(s, 3).split(p, 2)).share_rate or 0
               for s in range(3) for p in range(2)) == pytest.approx(97.0)
