"""Audit records: request parameters summarised with secrets masked, and the queries over them."""

from __future__ import annotations

import json

from flowport.auth import audit
from flowport.auth.audit import AuditQuery, AuditRecord
from flowport.auth.store import AuthStore
from flowport.v1 import auth_pb2, tracking_pb2


def test_request_params_mask_secrets_and_stay_small():
    params = audit.request_params(auth_pb2.CreateUser(username="alice", password="hunter2"))
    assert params == {"username": "alice", "password": "****"}
    params = audit.request_params(auth_pb2.UpdateUserPassword(password="a", current_password="b"))
    assert "a" not in params.values() and set(params.values()) == {"****"}
    batch = tracking_pb2.LogBatch(
        run_id="r1",
        metrics=[tracking_pb2.Metric(key=f"m{i}", value=i, timestamp=1, step=i) for i in range(1000)],
        params=[tracking_pb2.Param(key="lr", value="x" * 5000)],
    )
    params = audit.request_params(batch)
    assert params["run_id"] == "r1" and params["metrics"] == "[1000 items]"
    assert params["params"][0]["value"].endswith("...<5000 chars>")
    assert len(json.dumps(params)) < 1000
    search = tracking_pb2.SearchRuns(experiment_ids=["1", "2"], page_token="secret-cursor")
    assert audit.request_params(search) == {"experiment_ids": ["1", "2"], "page_token": "****"}


def _record(**overrides) -> AuditRecord:
    values = dict(
        event_time=1000, request_id="r", principal="alice", principal_kind="user", auth_method="token",
        groups=["ds"], source_ip="10.0.0.1", user_agent="mlflow-python-client/3.17.2", workspace="default",
        backend="local", service_name="TrackingService", action="GetRun",
        resources=["run:abc", "experiment:1"], request_params={}, outcome="allowed", status_code=200,
        error_code="", latency_ms=0.4,
    )  # fmt: skip
    values.update(overrides)
    return AuditRecord(**values)


def test_records_are_written_and_queried_newest_first(tmp_path):
    store = AuthStore(f"sqlite:///{tmp_path / 'gateway.db'}")
    records = [
        _record(event_time=1000, request=tracking_pb2.GetRun(run_id="abc")),
        _record(
            event_time=2000,
            principal="bob",
            outcome="denied",
            status_code=403,
            error_code="PERMISSION_DENIED",
        ),
        _record(event_time=3000, action="DeleteExperiment", resources=["experiment:12"]),
    ]
    audit.write(store.engine, records)
    everything = audit.search(store.engine, AuditQuery())
    assert [r.event_time for r in everything] == [3000, 2000, 1000]
    assert everything[2].request_params == {"run_id": "abc"}
    assert [r.principal for r in audit.search(store.engine, AuditQuery(outcome="denied"))] == ["bob"]
    assert [r.event_time for r in audit.search(store.engine, AuditQuery(principal="alice"))] == [3000, 1000]
    assert [r.event_time for r in audit.search(store.engine, AuditQuery(resource="12"))] == [3000]
    assert [r.event_time for r in audit.search(store.engine, AuditQuery(resource="1"))] == [2000, 1000]
    assert [r.event_time for r in audit.search(store.engine, AuditQuery(resource="run:abc"))] == [2000, 1000]
    window = audit.search(store.engine, AuditQuery(since_ms=1500, until_ms=3000))
    assert [r.event_time for r in window] == [2000]
    assert len(audit.search(store.engine, AuditQuery(limit=1))) == 1
    assert json.loads(records[0].to_json())["request_params"] == {"run_id": "abc"}
    store.close()
