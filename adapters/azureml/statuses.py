"""Run statuses as Azure ML may name them (clouds.md §2.4), turned into MLflow's before decoding.

Azure ML maps its job statuses to MLflow's; should one arrive in Azure's own spelling, the proto
decoder would drop it (an unknown enum name), and the client would see a run without a status.
This hook rewrites `status` in every run-info object of an answer's JSON, in place.
"""

from __future__ import annotations

from typing import Any

# Azure ML job statuses → MLflow RunStatus names (lower-cased keys: Azure's casing varies by API).
AZURE_RUN_STATUSES = {
    "notstarted": "SCHEDULED",
    "queued": "SCHEDULED",
    "preparing": "SCHEDULED",
    "starting": "SCHEDULED",
    "provisioning": "SCHEDULED",
    "scheduled": "SCHEDULED",
    "running": "RUNNING",
    "finalizing": "RUNNING",
    "cancelrequested": "RUNNING",
    "completed": "FINISHED",
    "finished": "FINISHED",
    "failed": "FAILED",
    "canceled": "KILLED",
    "cancelled": "KILLED",
    "killed": "KILLED",
}
_MLFLOW = frozenset(AZURE_RUN_STATUSES.values())


def map_run_statuses(data: Any) -> Any:
    """`data` with Azure status names in run infos (objects with experiment_id and run_id) mapped."""
    if isinstance(data, dict):
        status = data.get("status")
        is_run_info = "experiment_id" in data and ("run_id" in data or "run_uuid" in data)
        if is_run_info and isinstance(status, str) and status not in _MLFLOW:
            mapped = AZURE_RUN_STATUSES.get(status.lower())
            if mapped is not None:
                data["status"] = mapped
        for value in data.values():
            if isinstance(value, dict | list):
                map_run_statuses(value)
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, dict | list):
                map_run_statuses(item)
    return data
