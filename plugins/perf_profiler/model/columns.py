"""The perf_metrics column registry: one entry per column, everything else derived from it.

Each entry says what the column holds (its SQL kind), whether it is part of the unique key,
whether a row dict must carry it or what is stored when it does not, and where it appears:
the row (every column but the two the database sets), the Insight payload (under which name),
the report table (title and format), and, for latency columns, which statistic of which
histogram it is. Storage binds and reads columns by kind, the row builder, backfill
re-derivation, the report and the Insight payload all read this list, and
``tests/unit/model/test_columns.py`` fails when it and the SQL migrations disagree.

Adding a metric column: one entry here plus one migration per dialect (``sql/postgres`` and
``sql/sqlite``). The order of the entries is the order of row dicts, reports and SQL column
lists (SQL always names its columns, so it need not match the table's physical order).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "COLUMNS",
    "DATABASE_SET_COLUMNS",
    "DERIVED_COLUMNS",
    "HISTOGRAM_COLUMN",
    "KEY_COLUMNS",
    "PERCENTILES",
    "REQUIRED",
    "ROW_COLUMNS",
    "ROW_DEFAULTS",
    "TABLE",
    "Column",
    "FromHistogram",
    "HistogramName",
    "InReport",
    "Kind",
    "column",
    "percentile_label",
]

TABLE = "perf_metrics"

#: SQL kinds. ``decimal`` is DECIMAL(10,2) (milliseconds and rates: what the seed report
#: specified); ``float`` is DOUBLE PRECISION; ``int`` BIGINT; ``json`` JSONB; ``uuid`` the row id.
Kind = Literal["text", "uuid", "timestamp", "decimal", "float", "int", "json", "bool"]

#: The HDR histograms a run records per endpoint: successful-response latency (corrected in the
#: open loop), service time (from the actual send) and the load generator's own lag.
HistogramName = Literal["latency", "service", "lag"]


class _Required:
    """Marker: a row dict must carry the column (there is no default)."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class FromHistogram:
    """A column computed from one of the run's histograms: a percentile, or min/max/mean (ms)."""

    histogram: HistogramName
    percentile: float | None = None
    stat: Literal["min", "max", "mean"] | None = None

    def __post_init__(self) -> None:
        if (self.percentile is None) == (self.stat is None):
            raise ValueError("FromHistogram needs exactly one of percentile and stat")


@dataclass(frozen=True)
class InReport:
    """A column of the human report table: its title and format (``s``, ``d`` or a float spec)."""

    title: str
    fmt: str


@dataclass(frozen=True)
class Column:
    """One perf_metrics column.

    ``nullable``: NULL allowed (the migrations must agree). ``default``: stored when a row dict
    leaves the column out; ``REQUIRED`` when it must be there. ``set_by_database``: filled by
    the database (never in a row dict). ``payload``: its name in the Insight payload;
    ``payload_extra``: left out of the payload while NULL, so that payloads of rows stored before
    the column existed keep their bytes and idempotency keys. ``holds``: the column stores that
    encoded histogram. ``derived``: the column is that statistic of a histogram.
    """

    name: str
    kind: Kind
    nullable: bool = False
    key: bool = False
    default: Any = REQUIRED
    set_by_database: bool = False
    payload: str | None = None
    payload_extra: bool = False
    report: InReport | None = None
    holds: HistogramName | None = None
    derived: FromHistogram | None = None


def _ms(name: str, histogram: HistogramName, percentile: float | None = None, stat: Any = None,
        **more: Any) -> Column:
    """A DECIMAL(10,2) latency column derived from ``histogram``."""
    return Column(name, "decimal", derived=FromHistogram(histogram, percentile, stat), **more)


# Load-fidelity columns (003_load_fidelity.sql) and later ones may be left out of a row dict:
# rows built before they existed describe a closed loop without drops, the rest unknown (NULL).
COLUMNS: tuple[Column, ...] = (
    Column("id", "uuid"),
    Column("tenant_id", "text", key=True, payload="tenant_id"),
    Column("dag_id", "text", key=True, payload="dag_id"),
    Column("run_id", "text", key=True, payload="run_id"),
    Column("run_type", "text", nullable=True),
    Column("logical_date", "timestamp", nullable=True),
    Column("data_interval_start", "timestamp", nullable=True, payload="data_interval_start"),
    Column("data_interval_end", "timestamp", nullable=True, payload="data_interval_end"),
    Column("service", "text", key=True, payload="service", report=InReport("service", "s")),
    Column("endpoint", "text", key=True, payload="endpoint", report=InReport("endpoint", "s")),
    Column("method", "text"),
    _ms("p50_ms", "latency", 50.0, payload="p50_latency_ms", report=InReport("p50 ms", ".1f")),
    _ms("p75_ms", "latency", 75.0, nullable=True, default=None, payload="p75_latency_ms", payload_extra=True,
        report=InReport("p75 ms", ".1f")),  # 005_p75.sql
    _ms("p90_ms", "latency", 90.0),
    _ms("p95_ms", "latency", 95.0, payload="p95_latency_ms", report=InReport("p95 ms", ".1f")),
    _ms("p99_ms", "latency", 99.0, payload="p99_latency_ms", report=InReport("p99 ms", ".1f")),
    _ms("p999_ms", "latency", 99.9),
    _ms("min_ms", "latency", stat="min"),
    _ms("max_ms", "latency", stat="max"),
    _ms("mean_ms", "latency", stat="mean"),
    Column("throughput", "decimal", payload="throughput_rps", report=InReport("rps", ".1f")),
    Column("error_rate", "float", payload="error_rate", report=InReport("errors", ".2%")),
    Column("requests", "int", payload="requests", report=InReport("requests", "d")),
    Column("ok_count", "int"),
    Column("error_count", "int", payload="errors"),
    Column("errors_by_class", "json"),
    Column("status_codes", "json"),
    Column("budget_p95_ms", "decimal", nullable=True, payload="budget_p95_ms"),
    Column("budget_error_rate", "float", nullable=True),
    Column("verdict", "text", payload="verdict", report=InReport("verdict", "s")),
    Column("latency_hist", "text", nullable=True, holds="latency"),
    Column("error_hist", "text", nullable=True),
    Column("started_at", "timestamp", nullable=True),
    Column("finished_at", "timestamp", nullable=True),
    Column("measured_at", "timestamp", payload="measured_at"),
    Column("load_model", "text", default="closed"),
    Column("target_rate", "float", nullable=True, default=None),
    Column("dropped", "int", default=0),
    Column("client_saturated", "bool", default=False),
    Column("saturation_reasons", "json", default="[]"),
    _ms("lag_p50_ms", "lag", 50.0, nullable=True, default=None),
    _ms("lag_p99_ms", "lag", 99.0, nullable=True, default=None),
    _ms("service_p50_ms", "service", 50.0, nullable=True, default=None),
    _ms("service_p95_ms", "service", 95.0, nullable=True, default=None),
    _ms("service_p99_ms", "service", 99.0, nullable=True, default=None),
    Column("service_hist", "text", nullable=True, default=None, holds="service"),
    Column("origin", "text", default="measured"),  # 007_origin.sql: 'measured' or 'rederived' (a backfill)
    Column("rederived_at", "timestamp", nullable=True, default=None),
    # 009_shard_checkins.sql: a sharded row's shards (host, try, window, counts, start line) and
    # whether their counted windows failed to overlap (never merged silently as if they had)
    Column("shards", "json", nullable=True, default=None),
    Column("shards_not_concurrent", "bool", default=False),
    # 016_service_version.sql: the service's release read once per run (targets config ``version``);
    # left out of the Insight payload while NULL (like p75_ms), so older payloads keep their keys
    Column("service_version", "text", nullable=True, default=None, payload="service_version", payload_extra=True),
    Column("created_at", "timestamp", set_by_database=True),
    Column("updated_at", "timestamp", set_by_database=True),
)

_BY_NAME = {c.name: c for c in COLUMNS}

#: Columns of a row dict (and of every INSERT), in registry order.
ROW_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if not c.set_by_database)
#: Set by the database: created_at on first insert, updated_at on every upsert.
DATABASE_SET_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.set_by_database)
#: Columns a row dict may leave out, with the value stored then.
ROW_DEFAULTS: dict[str, Any] = {c.name: c.default for c in COLUMNS
                                if not c.set_by_database and c.default is not REQUIRED}
#: The unique key: one row per tenant x DAG run x service x endpoint (``make_row_id``'s order).
KEY_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.key)
#: Columns computed from a histogram, in registry order.
DERIVED_COLUMNS: tuple[Column, ...] = tuple(c for c in COLUMNS if c.derived is not None)
#: Every percentile some column names (0-100, ascending): what the histogram summaries compute.
PERCENTILES: tuple[float, ...] = tuple(sorted({c.derived.percentile for c in DERIVED_COLUMNS
                                               if c.derived is not None and c.derived.percentile is not None}))
#: The column storing each encoded histogram (None: the histogram is not stored in a row).
HISTOGRAM_COLUMN: dict[HistogramName, str | None] = {
    "latency": None, "service": None, "lag": None,
    **{c.holds: c.name for c in COLUMNS if c.holds is not None},
}


def column(name: str) -> Column:
    """The registry entry of ``name`` (KeyError for a name that is not a perf_metrics column)."""
    return _BY_NAME[name]


def percentile_label(percentile: float) -> str:
    """``p50``, ``p99.9``: how reports name a percentile."""
    return f"p{percentile:g}"
