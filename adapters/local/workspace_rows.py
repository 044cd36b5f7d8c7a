"""Which rows belong to the workspace of the call in progress (`adapters.workspace_scope`).

Experiments and registry rows carry a `workspace` column; runs, traces and logged models belong
to a workspace through their experiment, as in MLflow 3's workspace-aware SQL store. Every
clause here is a condition inside the caller's own query (no extra round trip), served by the
(workspace, name) key of experiments and the primary keys of the rest.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from flowport.adapters.local import schema
from flowport.adapters.local.logged_model_schema import LoggedModel
from flowport.adapters.local.trace_schema import TraceInfo
from flowport.adapters.workspace_scope import DEFAULT_WORKSPACE, WORKSPACES_FOLDER, workspace


def experiment_ids() -> sa.Select:
    """SELECT the ids of the current workspace's experiments (for `x.experiment_id IN (...)`)."""
    return sa.select(schema.Experiment.experiment_id).where(schema.Experiment.workspace == workspace())


def experiment_visible() -> sa.ColumnElement[bool]:
    return schema.Experiment.workspace == workspace()


def in_workspace(experiment_id_column: Any) -> sa.ColumnElement[bool]:
    """The row's experiment is in the current workspace."""
    return experiment_id_column.in_(experiment_ids())


def run_visible() -> sa.ColumnElement[bool]:
    return in_workspace(schema.Run.experiment_id)


def logged_model_visible() -> sa.ColumnElement[bool]:
    return in_workspace(LoggedModel.experiment_id)


def trace_visible() -> sa.ColumnElement[bool]:
    return in_workspace(TraceInfo.experiment_id)


def artifact_prefix() -> tuple[str, ...]:
    """Path parts under the artifact root for a new experiment of the current workspace.

    MLflow's layout: `workspaces/<name>/<experiment id>/...`, except `default`, which keeps the
    root (so databases and artifacts from before workspaces stay valid).
    """
    current = workspace()
    return () if current == DEFAULT_WORKSPACE else (WORKSPACES_FOLDER, current)
