"""Azure's run statuses become MLflow's before an answer is decoded; nothing else is touched."""

from __future__ import annotations

import json

import pytest

from flowport.adapters.azureml.statuses import map_run_statuses
from flowport.v1 import registry_pb2, tracking_pb2
from flowport.v1.json_codec import dict_to_message


@pytest.mark.parametrize(
    ("azure", "mlflow"),
    [
        ("NotStarted", "SCHEDULED"),
        ("Queued", "SCHEDULED"),
        ("Preparing", "SCHEDULED"),
        ("Running", "RUNNING"),
        ("Completed", "FINISHED"),
        ("Failed", "FAILED"),
        ("Canceled", "KILLED"),
        ("FINISHED", "FINISHED"),
    ],
)
def test_run_infos_in_searches_and_gets_are_mapped(azure, mlflow):
    info = {"run_id": "r1", "run_uuid": "r1", "experiment_id": "1", "status": azure}
    answer = {"runs": [{"info": dict(info), "data": {}}], "next_page_token": "t"}
    decoded = dict_to_message(
        map_run_statuses(answer), tracking_pb2.SearchRuns.Response(), ignore_unknown_fields=True
    )
    assert tracking_pb2.RunStatus.Name(decoded.runs[0].info.status) == mlflow
    update = map_run_statuses({"run_info": dict(info)})
    assert update["run_info"]["status"] == mlflow


def test_without_the_hook_an_azure_status_would_be_lost():
    answer = {"run": {"info": {"run_id": "r1", "experiment_id": "1", "status": "Completed"}}}
    decoded = dict_to_message(
        json.loads(json.dumps(answer)), tracking_pb2.GetRun.Response(), ignore_unknown_fields=True
    )
    assert not decoded.run.info.HasField("status")
    decoded = dict_to_message(
        map_run_statuses(answer), tracking_pb2.GetRun.Response(), ignore_unknown_fields=True
    )
    assert decoded.run.info.status == tracking_pb2.FINISHED


def test_model_versions_and_unknown_statuses_are_left_alone():
    version = {"model_version": {"name": "m", "version": "1", "run_id": "r1", "status": "READY"}}
    assert map_run_statuses(json.loads(json.dumps(version))) == version
    dict_to_message(map_run_statuses(version), registry_pb2.GetModelVersion.Response())
    odd = {"run": {"info": {"run_id": "r1", "experiment_id": "1", "status": "Hibernating"}}}
    assert map_run_statuses(json.loads(json.dumps(odd))) == odd
