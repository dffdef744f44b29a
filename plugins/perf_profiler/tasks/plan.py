"""Task ``load_targets``: the run's plan from the targets config and the run's params."""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from perf_profiler.tasks import sharding
from perf_profiler.tasks.connections import TARGETS_VARIABLE

if TYPE_CHECKING:
    from perf_profiler.model.targets import Service

log = logging.getLogger(__name__)

BACKFILL = "backfill"
MEASURE = "measure"
REDERIVE = "rederive"


def load_targets(
    variable_json: str | None,
    params: Mapping[str, Any] | None = None,
    conf: Mapping[str, Any] | None = None,
    run_type: str | None = None,
    targets_file: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """The run's plan: validated services (Variable, else file) with the run's params applied.

    ``targets_file`` is the DAG's default file (``$PERF_PROFILER_TARGETS_FILE`` overrides it).
    ``to_probe`` lists the mapped ``benchmark`` instances: the services to benchmark as JSON
    (``Service.model_validate`` reads one back), a sharded service once per shard with its shard
    number (``sharding.expand``); it is empty for a backfill run, which cannot measure the past and re-derives stored
    histograms instead (``mode`` says which). A bad config or bad params fail the task at once
    (no retries: retrying cannot fix them), naming the field or the param.
    """
    from dataclasses import asdict

    from airflow.sdk.exceptions import AirflowFailException

    from perf_profiler.model.errors import TargetsError
    from perf_profiler.model.params import ParamsError, apply

    try:
        services, options = apply(_read_targets(variable_json, targets_file), params or {}, conf)
    except TargetsError as error:
        raise AirflowFailException(f"invalid perf-profiler targets: {error}") from error
    except ParamsError as error:
        raise AirflowFailException(f"invalid run params: {error}") from error
    service_dicts = [service.model_dump(mode="json") for service in services]
    backfill = run_type == BACKFILL
    if backfill:
        log.info("backfill run: sending no requests; stored histograms of this interval will be re-derived")
    log.info("benchmarking %s", ", ".join(_described(s) for s in services) if not backfill else "nothing")
    return {
        "mode": REDERIVE if backfill else MEASURE,
        "services": service_dicts,
        "to_probe": [] if backfill else sharding.expand(service_dicts),
        "options": asdict(options),
    }


def _described(service: Service) -> str:
    shards = service.load.shards
    return service.name if shards == 1 else f"{service.name} ({shards} shards)"


def _read_targets(variable_json: str | None, targets_file: str | os.PathLike[str] | None) -> list[Service]:
    from perf_profiler.model.targets_file import load_targets_file, parse_targets_json, targets_path

    if variable_json:
        services = parse_targets_json(variable_json, source=f"Airflow Variable {TARGETS_VARIABLE!r}")
        log.info("targets from Variable %s: %s services", TARGETS_VARIABLE, len(services))
    else:
        path = targets_path(targets_file)
        services = load_targets_file(path)
        log.info("targets from %s: %s services", path, len(services))
    return services
