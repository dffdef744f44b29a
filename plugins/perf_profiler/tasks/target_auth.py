"""Secret request headers of a target, read from an Airflow connection inside the task.

The targets config names only ``headers_conn_id``; the values are read at probe time, handed to
Airflow's secrets masker, and never put into XCom, logs, rows or payloads.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

log = logging.getLogger(__name__)


def connection_headers(conn_id: str) -> dict[str, str]:
    """Secret request headers of a target, from the Airflow connection ``conn_id``.

    The connection's extra ``{"headers": {"X-Api-Key": "..."}}`` gives headers as they are; its
    password, when set, becomes ``Authorization: Bearer <password>`` (unless the extra already has
    an Authorization header). Every value (and the password) is registered with Airflow's secrets
    masker whatever the header's name (values shorter than Airflow's
    ``[logging] min_length_masked_secret`` are not masked by Airflow); callers
    keep them out of XCom, logs and rows (only ``headers_conn_id`` travels).
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.log import mask_secret

    from perf_profiler.model.errors import TargetsError

    conn = BaseHook.get_connection(conn_id)
    headers = conn.extra_dejson.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise TargetsError(f"connection {conn_id!r}: extra 'headers' must be an object of name -> string value")
    headers = dict(headers)
    if conn.password and not any(str(name).lower() == "authorization" for name in headers):
        headers["Authorization"] = f"Bearer {conn.password}"
    # Every value is a secret whatever its header's name: no name is passed to the masker, which
    # would otherwise mask only values under sensitive-looking names (X-Api-Key, not X-Signature).
    if conn.password:
        mask_secret(conn.password)
    for value in headers.values():
        if isinstance(value, str) and value:
            mask_secret(value)
    log.info("secret headers from connection %s: %s", conn_id, ", ".join(sorted(map(str, headers))) or "none")
    return headers
