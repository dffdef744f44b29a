"""Secret headers from a connection: every value is masked whatever its header's name (issue 10, class 9)."""
from __future__ import annotations

import json
import logging
import uuid

import pytest

from perf_profiler.tasks import target_auth

HEADER_NAMES = ("X-Signature", "X-Custom", "X-Tenant", "Cookie", "X-Api-Key", "Weird-Name_1")


@pytest.fixture
def header_conn(monkeypatch: pytest.MonkeyPatch):
    def set_conn(**conn: object) -> str:
        monkeypatch.setenv("AIRFLOW_CONN_TARGET_AUTH_UNIT", json.dumps({"conn_type": "http", **conn}))
        return "target_auth_unit"

    return set_conn


def _redact(text: str) -> str:
    from airflow.sdk._shared.secrets_masker import redact

    return str(redact(text))


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_every_header_value_and_the_password_are_masked(header_conn) -> None:
    tag = uuid.uuid4().hex[:8]
    values = {name: f"canary-{i}-{tag}" for i, name in enumerate(HEADER_NAMES)}
    password = f"canary-pw-{tag}"
    conn_id = header_conn(password=password, extra={"headers": values})
    handler = _Lines()
    target_auth.log.addHandler(handler)
    try:
        headers = target_auth.connection_headers(conn_id)
    finally:
        target_auth.log.removeHandler(handler)
    logged = "\n".join(handler.lines)
    assert headers == {**values, "Authorization": f"Bearer {password}"}
    for name, value in headers.items():
        line = f"sent {name}: {value} (again {value})"
        redacted = _redact(line)
        assert value not in redacted, f"the value of {name} is not masked"
        assert redacted == f"sent {name}: *** (again ***)"
    assert password not in _redact(f"the password is {password}")
    assert all(v not in logged for v in (*values.values(), password)), "connection_headers logged a value"
    assert all(name in logged for name in HEADER_NAMES), "the log names the headers"


def test_an_extra_authorization_header_is_masked_and_the_password_too(header_conn) -> None:
    tag = uuid.uuid4().hex[:8]
    conn_id = header_conn(password=f"pw-{tag}", extra={"headers": {"authorization": f"Signed {tag}-sig"}})
    assert target_auth.connection_headers(conn_id) == {"authorization": f"Signed {tag}-sig"}
    assert _redact(f"x Signed {tag}-sig y") == "x *** y"
    assert _redact(f"pw-{tag}") == "***", "the password is masked even when it is not sent"
