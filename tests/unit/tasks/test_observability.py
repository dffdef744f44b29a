"""P-4: the profiler metrics reach a real StatsD listener through Airflow's metrics facility."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

ROWS = [
    {"service": "registry", "endpoint": "/healthz", "tenant_id": "default",
     "p95_ms": 41.5, "throughput": 120.25, "error_count": 3},
    {"service": "runtime", "endpoint": "/healthz", "tenant_id": "default",
     "p95_ms": 912.0, "throughput": 8.0, "error_count": 0},
]


def test_emit_sends_p95_throughput_and_errors_tagged_by_service_and_endpoint():
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(5)
    port = listener.getsockname()[1]
    script = textwrap.dedent(f"""
        from airflow.sdk.observability import stats
        from airflow.sdk.observability.metrics import stats_utils
        from perf_profiler.tasks import observability
        stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)
        print(observability.emit({ROWS!r}))
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO / "plugins"),
           "AIRFLOW__METRICS__STATSD_ON": "True", "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
           "AIRFLOW__METRICS__STATSD_PORT": str(port), "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
           "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "True"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("2")

    packets = []
    try:
        while len(packets) < 6:
            packets.extend(listener.recv(65535).decode().splitlines())
    finally:
        listener.close()
    assert "airflow.profiler_latency_p95,service=registry,endpoint=/healthz,tenant=default:41.5|g" in packets
    assert "airflow.profiler_throughput,service=runtime,endpoint=/healthz,tenant=default:8.0|g" in packets
    assert "airflow.profiler_errors,service=registry,endpoint=/healthz,tenant=default:3|c" in packets
