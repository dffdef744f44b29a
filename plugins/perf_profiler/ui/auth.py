"""Who may see what: every route of the Performance app depends on one of these dependencies.

Airflow protects its own API, not a plugin's FastAPI app, so each route asks Airflow itself:
``airflow.api_fastapi.core_api.security.get_user`` reads the bearer token (API clients) or the
UI's JWT cookie (the app embedded in the Airflow UI) and answers 401/403 without a valid one.
The auth manager then says which DAGs that user may read (``GET``) or edit (``PUT``); the
returned ``Reader`` carries those ids, and every read filters rows by ``dag_id`` server-side.
Tenants are only a filter, never a security boundary.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, HTTPException, status

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.base_auth_manager import ResourceMethod

__all__ = ["EditorDep", "Reader", "ReaderDep", "require_dag_editor", "require_dag_reader"]


@dataclass(frozen=True)
class Reader:
    """An authenticated Airflow user and the DAG ids they may access with the route's method."""

    user: Any
    dag_ids: frozenset[str]


def _authorized(user: Any, method: ResourceMethod) -> Reader:
    """The user's DAG ids for ``method``; 403 when the auth manager grants no DAG access at all."""
    from airflow.api_fastapi.app import get_auth_manager

    manager = get_auth_manager()
    dag_ids = frozenset(manager.get_authorized_dag_ids(user=user, method=method))
    if not dag_ids and not manager.is_authorized_dag(method=method, user=user):
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="No DAG access")
    return Reader(user=user, dag_ids=dag_ids)


def require_dag_reader(user: Annotated[Any, Depends(get_user)]) -> Reader:
    """FastAPI dependency of every read route: the user and the DAG ids they may read."""
    return _authorized(user, "GET")


def require_dag_editor(user: Annotated[Any, Depends(get_user)]) -> Reader:
    """FastAPI dependency of any route that writes: the user and the DAG ids they may edit."""
    return _authorized(user, "PUT")


#: ``reader: ReaderDep`` in a route's signature: the route needs DAG read access.
ReaderDep = Annotated[Reader, Depends(require_dag_reader)]
#: ``editor: EditorDep``: the route writes and needs DAG edit access.
EditorDep = Annotated[Reader, Depends(require_dag_editor)]
