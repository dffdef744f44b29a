"""A real Airflow 3 deployment for the end-to-end suite: scheduler, dag-processor and api-server.

:class:`AirflowStack` runs the three components as subprocesses (each in its own process group)
against a throwaway ``AIRFLOW_HOME`` and a throwaway PostgreSQL metadata database, with the
LocalExecutor, this repository's ``dags/`` and ``plugins/``, and whatever extra environment the
caller passes (connections, Variables). It also wraps the REST API (``/api/v2``) with the few
calls the tests need, and keeps every component's output in ``<home>/proc-logs/`` so a failing
test can show what Airflow said (:meth:`AirflowStack.diagnostics`).

::

    stack = AirflowStack(home, metadata_db_uri, extra_env={...})
    stack.start()            # db migrate, the three components, wait until healthy
    try:
        run_id = stack.trigger("perf_profiler", conf={...})
        run = stack.wait_for_run("perf_profiler", run_id)
    finally:
        stack.stop()         # always: SIGTERM each process group, then SIGKILL

Options: ``components=("api-server",)`` starts only the API server (for tests of what it serves,
e.g. the plugin app's authentication); ``users={"viewer": "viewer", "admin": "admin"}`` replaces
``SIMPLE_AUTH_MANAGER_ALL_ADMINS`` by simple auth manager users (name → role; each user's password
is its name, written to the passwords file), and :meth:`AirflowStack.token` logs one in
(``POST /auth/token``). With users, the harness's own REST calls use an admin's token.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
API_PREFIX = "/api/v2"
FINISHED_RUN_STATES = frozenset({"success", "failed"})
UNFINISHED_TI_STATES = frozenset({None, "scheduled", "queued", "running", "up_for_retry", "up_for_reschedule",
                                  "restarting", "deferred", "none"})


class StackError(RuntimeError):
    """Airflow did not do what the harness waited for (the message carries the diagnostics)."""


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AirflowStack:
    """Scheduler + dag-processor + api-server (LocalExecutor) for one test session."""

    COMPONENTS = ("api-server", "scheduler", "dag-processor")

    def __init__(self, home: Path, metadata_db_uri: str, extra_env: Mapping[str, str] | None = None,
                 api_port: int | None = None, *, components: tuple[str, ...] | None = None,
                 users: Mapping[str, str] | None = None) -> None:
        self.home = Path(home)
        self.api_port = api_port or free_port()
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.log_dir = self.home / "proc-logs"
        self.components = tuple(components or self.COMPONENTS)
        unknown = set(self.components) - set(self.COMPONENTS)
        if unknown:
            raise ValueError(f"unknown Airflow components {sorted(unknown)}; known: {self.COMPONENTS}")
        self.users = dict(users or {})  # name -> simple auth manager role; the password is the name
        self.env = self._environment(metadata_db_uri, extra_env or {})
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.nightly_run: dict[str, Any] | None = None  # set by the e2e fixture (conftest.py)
        self.missing_trends: str | None = None  # why perf_trends was not found, if it was not
        self._http = httpx.Client(base_url=self.base_url, timeout=30.0)

    # ------------------------------------------------------------------ environment
    def _environment(self, metadata_db_uri: str, extra_env: Mapping[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db_uri,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        })
        if self.users:
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "False"
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = ",".join(f"{u}:{r}" for u, r in self.users.items())
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(self.home / "passwords.json")
        env.update(extra_env)
        return env

    # ------------------------------------------------------------------ lifecycle
    def airflow(self, *args: str, timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one ``airflow`` CLI command in this deployment's environment."""
        proc = subprocess.run([str(VENV_BIN / "airflow"), *args], env=self.env, cwd=self.home,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise StackError(f"airflow {' '.join(args)} exited {proc.returncode}:\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def start(self, timeout: float = 240) -> None:
        """Migrate the metadata DB, start the components, wait until healthy."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        if self.users:
            (self.home / "passwords.json").write_text(json.dumps({user: user for user in self.users}))
        self.airflow("db", "migrate", timeout=300)
        for component in self.components:
            args = [component] + (["--port", str(self.api_port)] if component == "api-server" else [])
            with open(self.log_dir / f"{component}.log", "ab") as out:  # the child keeps its own descriptor
                self._procs[component] = subprocess.Popen(
                    [str(VENV_BIN / "airflow"), *args], env=self.env, cwd=self.home,
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                )
        self.wait_until_healthy(timeout)
        admin = next((user for user, role in self.users.items() if role == "admin"), None)
        if admin is not None:
            self._http.headers["Authorization"] = f"Bearer {self.token(admin)}"

    def token(self, user: str) -> str:
        """A JWT of simple auth manager user ``user`` (``POST /auth/token``)."""
        response = self._http.post("/auth/token", json={"username": user, "password": user})
        if response.status_code != 201:
            raise StackError(f"POST /auth/token as {user!r} -> {response.status_code}: {response.text[:500]}")
        return str(response.json()["access_token"])

    def stop(self) -> None:
        """Terminate every component's process group (SIGTERM, then SIGKILL after a grace period)."""
        for proc in self._procs.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self._procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            _signal_group(proc, signal.SIGKILL)  # children (task runners, gunicorn workers) too
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        self._procs.clear()
        self._http.close()

    def check_alive(self) -> None:
        """Raise when a component has exited."""
        dead = {name: proc.returncode for name, proc in self._procs.items() if proc.poll() is not None}
        if dead:
            raise StackError(f"Airflow components exited: {dead}\n{self.diagnostics()}")

    def wait_until_healthy(self, timeout: float) -> dict[str, Any]:
        """Wait for /api/v2/monitor/health to report the database and the started components healthy."""
        deadline = time.monotonic() + timeout
        last: Any = None
        parts = ["metadatabase"] + [name.replace("-", "_") for name in ("scheduler", "dag-processor")
                                    if name in self.components]
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                last = self._http.get(f"{API_PREFIX}/monitor/health").json()
                if all((last.get(part) or {}).get("status") == "healthy" for part in parts):
                    return last
            except (httpx.HTTPError, ValueError) as error:
                last = repr(error)
            time.sleep(1)
        raise StackError(f"Airflow not healthy after {timeout:.0f}s: {last}\n{self.diagnostics()}")

    def diagnostics(self, lines: int = 40) -> str:
        """The last ``lines`` of every component's output."""
        parts = []
        for component in self.components:
            path = self.log_dir / f"{component}.log"
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"----- {component} ({path}) -----\n" + "\n".join(tail))
        return "\n".join(parts)

    # ------------------------------------------------------------------ REST API
    def api(
        self, method: str, path: str, *, expect: int | tuple[int, ...] | None = 200, **kwargs: Any,
    ) -> httpx.Response:
        """One call to ``/api/v2{path}``; fails unless the status is ``expect`` (None: any)."""
        response = self._http.request(method, f"{API_PREFIX}{path}", **kwargs)
        wanted = (expect,) if isinstance(expect, int) else expect
        if wanted is not None and response.status_code not in wanted:
            raise StackError(f"{method} {path} -> {response.status_code}: {response.text[:2000]}")
        return response

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        """Wait until the dag-processor has serialised ``dag_id`` without an import error."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            response = self.api("GET", f"/dags/{dag_id}", expect=None)
            if response.status_code == 200:
                return response.json()
            time.sleep(1)
        errors = self.api("GET", "/importErrors").json()
        raise StackError(f"DAG {dag_id!r} not parsed after {timeout:.0f}s; import errors: {errors}\n"
                         f"{self.diagnostics()}")

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None, *,
                logical_date: str | None = None, expect: int | tuple[int, ...] = 200) -> httpx.Response:
        """POST a DAG run (a manual run without a logical date unless one is given)."""
        body = {"logical_date": logical_date, "conf": dict(conf or {})}
        return self.api("POST", f"/dags/{dag_id}/dagRuns", json=body, expect=expect)

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}").json()

    def dag_runs(self, dag_id: str, **params: Any) -> list[dict[str, Any]]:
        params.setdefault("limit", 100)
        return self.api("GET", f"/dags/{dag_id}/dagRuns", params=params).json()["dag_runs"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180) -> dict[str, Any]:
        """Wait until the run has finished (success or failed) and return it."""
        deadline = time.monotonic() + timeout
        run: dict[str, Any] = {}
        while time.monotonic() < deadline:
            self.check_alive()
            run = self.dag_run(dag_id, run_id)
            if run["state"] in FINISHED_RUN_STATES:
                return run
            time.sleep(1)
        raise StackError(f"run {dag_id}/{run_id} not finished after {timeout:.0f}s (state {run.get('state')}); "
                         f"tasks: {self.task_states(dag_id, run_id)}\n{self.diagnostics()}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        return self.api("GET", path, params={"limit": 200}).json()["task_instances"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``task_id`` (``task_id[map_index]`` for mapped ones) → state."""
        states = {}
        for ti in self.task_instances(dag_id, run_id):
            key = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
            states[key] = ti["state"]
        return states

    def task_log(self, dag_id: str, run_id: str, task_id: str, *, try_number: int | None = None,
                 map_index: int = -1) -> str:
        """The text of one task attempt's log (default: the latest attempt), one line per event."""
        if try_number is None:
            ti_path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
            ti_path += f"/{map_index}" if map_index >= 0 else ""
            try_number = max(1, self.api("GET", ti_path).json()["try_number"] or 1)
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        response = self.api("GET", path, params={"full_content": "true", "map_index": map_index},
                            headers={"Accept": "application/json"})
        content = response.json().get("content", [])
        if isinstance(content, str):
            return content
        lines = []
        for entry in content:
            if not isinstance(entry, dict):
                lines.append(str(entry))
                continue
            lines.append(f"{entry.get('level', '')} {entry.get('logger', '')}: {entry.get('event', '')}".strip())
            lines.extend(f"    {error.get('exc_type')}: {error.get('exc_value')}"
                         for error in entry.get("error_detail") or ())
        return "\n".join(lines)

    def run_logs(self, dag_id: str, run_id: str) -> dict[str, str]:
        """Every task attempt's log of a run: ``task_id[map_index]#try`` → text."""
        logs = {}
        for ti in self.task_instances(dag_id, run_id):
            for attempt in range(1, (ti.get("try_number") or 0) + 1):
                key = ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "") + f"#{attempt}"
                logs[key] = self.task_log(dag_id, run_id, ti["task_id"], try_number=attempt,
                                          map_index=ti["map_index"])
        return logs


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
