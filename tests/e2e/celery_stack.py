"""A real CeleryExecutor deployment: the LocalExecutor stack's components plus two Celery workers.

:class:`CeleryStack` reuses :class:`~.airflow_stack.AirflowStack` (same throwaway home, metadata
DB, REST helpers) with ``executor = CeleryExecutor``, a Redis broker, the PostgreSQL metadata DB
as Celery's result backend, and ``airflow celery worker`` processes started with
``--celery-hostname NAME@%h`` (Celery's ``-n``).
Each worker also gets its own ``PERF_E2E_HOSTNAME``, which ``tests/support/worker_hostname.py``
(the deployment's ``[core] hostname_callable``) returns, so task instances record which worker ran
them: two worker processes on one machine, not two machines. A worker can be killed with its
whole process group (:meth:`kill_worker`), as a lost machine would be.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from .airflow_stack import REPO, VENV_BIN, AirflowStack, free_port

REDIS_PORT = 6379


def redis_answers(host: str = "127.0.0.1", port: int = REDIS_PORT) -> bool:
    """Whether a Redis server answers PING there."""
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """``redis-server`` on a free loopback port (Debian's package installed when missing)."""
    if shutil.which("redis-server") is None:
        subprocess.run(["apt-get", "install", "-y", "redis-server"], check=True, capture_output=True, timeout=600)
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return proc, port


class CeleryStack(AirflowStack):
    """Scheduler + dag-processor + api-server with the CeleryExecutor, and named Celery workers."""

    def __init__(self, home: Path, metadata_db_uri: str, broker_url: str, result_backend: str,
                 workers: Sequence[str] = ("w1", "w2"), extra_env: Mapping[str, str] | None = None) -> None:
        self.queue = f"perf-e2e-{uuid.uuid4().hex[:8]}"  # this test's own queue on a shared broker
        self.bench_queue = f"{self.queue}-bench"  # [perf_profiler] benchmark_queue
        self.workers = tuple(workers)
        pythonpath = os.pathsep.join([str(REPO / "tests" / "support"), str(REPO / "plugins"),
                                      os.environ.get("PYTHONPATH", "")])
        super().__init__(home, metadata_db_uri, extra_env={
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "worker_hostname.hostname",
            "AIRFLOW__CELERY__BROKER_URL": broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__PERF_PROFILER__BENCHMARK_QUEUE": self.bench_queue,
            "PYTHONPATH": pythonpath,
            **(extra_env or {}),
        })
        self._worker_procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, timeout: float = 240) -> None:
        super().start(timeout)
        for name in self.workers:
            self.start_worker(name)

    def start_worker(self, name: str) -> None:
        """``airflow celery worker --celery-hostname NAME@%h`` (Celery's ``-n``) on both queues of the test."""
        env = {**self.env, "PERF_E2E_HOSTNAME": name,
               "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}  # two log servers, one machine
        with open(self.log_dir / f"worker-{name}.log", "ab") as out:
            proc = subprocess.Popen(
                [str(VENV_BIN / "airflow"), "celery", "worker", "--celery-hostname", f"{name}@%h",
                 "-q", f"{self.queue},{self.bench_queue}", "--concurrency", "2"],
                env=env, cwd=self.home, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: killed whole, task processes included
            )
        self._worker_procs[name] = proc
        self._procs[f"worker-{name}"] = proc  # AirflowStack.stop() ends it with the others

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker's whole process group (worker, pool children, task supervisors and tasks)."""
        proc = self._worker_procs.pop(name)
        self._procs.pop(f"worker-{name}")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def diagnostics(self, lines: int = 40) -> str:
        parts = [super().diagnostics(lines)]
        for name in self.workers:
            path = self.log_dir / f"worker-{name}.log"
            if path.exists():
                parts.append(f"----- worker {name} -----\n" + "\n".join(
                    path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(parts)
