"""``[core] hostname_callable`` for the Celery e2e test: two workers on one machine, two names.

Airflow records a task instance's host from this callable (in the task process, which inherits
the worker's environment). The test starts each ``airflow celery worker`` with its own
``PERF_E2E_HOSTNAME``; every other process falls back to Airflow's default (the FQDN). Different
names prove different worker processes, not different machines.
"""
from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("PERF_E2E_HOSTNAME") or socket.getfqdn()
