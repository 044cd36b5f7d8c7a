"""Bad input at the HTTP door: clear MLflow errors, right statuses, nothing left behind."""

from __future__ import annotations

import uuid

import httpx
import pytest


@pytest.fixture
def http(gateway):
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        yield client


def _new_run(http) -> str:
    exp = http.post("/api/2.0/mlflow/experiments/create", json={"name": f"bad-{uuid.uuid4().hex[:8]}"}).json()
    run = http.post("/api/2.0/mlflow/runs/create", json={"experiment_id": exp["experiment_id"]}).json()
    return run["run"]["info"]["run_id"]


def _assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code and body["message"]


def test_malformed_json(http):
    r = http.post(
        "/api/2.0/mlflow/experiments/create",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    _assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_wrong_types(http):
    _assert_error(
        http.post("/api/2.0/mlflow/experiments/create", json={"name": 12}), 400, "INVALID_PARAMETER_VALUE"
    )
    run_id = _new_run(http)
    r = http.post(
        "/api/2.0/mlflow/runs/log-metric",
        json={"run_id": run_id, "key": "k", "value": "high", "timestamp": 1},
    )
    _assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    _assert_error(
        http.get("/api/2.0/mlflow/experiments/search", params={"max_results": "many"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    _assert_error(
        http.post("/api/2.0/mlflow/runs/search", json=["not", "an", "object"]), 400, "INVALID_PARAMETER_VALUE"
    )


def test_unknown_fields(http):
    _assert_error(
        http.post("/api/2.0/mlflow/experiments/create", json={"name": "x", "colour": "red"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    _assert_error(
        http.get("/api/2.0/mlflow/runs/get", params={"run_id": "x", "colour": "red"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_missing_required_field(http):
    _assert_error(http.post("/api/2.0/mlflow/experiments/create", json={}), 400, "INVALID_PARAMETER_VALUE")


def test_oversize_batch_writes_nothing(http):
    run_id = _new_run(http)
    metrics = [{"key": f"m{i}", "value": 1.0, "timestamp": 1, "step": 0} for i in range(1001)]
    _assert_error(
        http.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "metrics": metrics}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    run = http.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()["run"]
    assert "metrics" not in run.get("data", {})


def test_one_bad_metric_in_a_batch_writes_nothing(http):
    run_id = _new_run(http)
    metrics = [
        {"key": "ok", "value": 1.0, "timestamp": 1, "step": 0},
        {"key": "x" * 1000, "value": 1.0, "timestamp": 1, "step": 0},
    ]
    params = [{"key": "p", "value": "v"}]
    _assert_error(
        http.post(
            "/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "metrics": metrics, "params": params}
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    data = http.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()["run"].get("data", {})
    assert "metrics" not in data and "params" not in data


@pytest.mark.parametrize(
    "path",
    [
        "../escape.txt",
        "a/../../escape.txt",
        "%2e%2e/escape.txt",
        "a/%2e%2e/%2e%2e/escape.txt",
        "..%2fescape.txt",
        "%252e%252e/escape.txt",
        "a/..%5c..%5cescape.txt",
        "/etc/passwd",
    ],
)
def test_traversal_paths_are_rejected_and_write_nothing(http, gateway, path):
    r = http.put(f"/api/2.0/mlflow-artifacts/artifacts/{path}", content=b"owned")
    assert r.status_code in (400, 404), r.text
    assert r.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "ENDPOINT_NOT_FOUND")
    assert not (gateway.data_dir / "escape.txt").exists()
    assert not any(gateway.data_dir.rglob("escape.txt"))
    r = http.get(f"/api/2.0/mlflow-artifacts/artifacts/{path}")
    assert r.status_code in (400, 404) and r.json()["error_code"] != "INTERNAL_ERROR"


def test_unknown_endpoint_is_endpoint_not_found(http):
    _assert_error(http.get("/api/2.0/mlflow/no-such-thing"), 404, "ENDPOINT_NOT_FOUND")
    # An MLflow route flowport does not serve yet: the client degrades on ENDPOINT_NOT_FOUND.
    _assert_error(http.post("/api/3.0/mlflow/traces/metrics", json={}), 404, "ENDPOINT_NOT_FOUND")


def test_health_version_server_info(http):
    assert http.get("/health").text == "OK"
    major, minor = (int(x) for x in http.get("/version").text.split(".")[:2])
    assert (major, minor) >= (3, 0)
    info = http.get("/api/3.0/mlflow/server-info").json()
    assert info["workspaces_enabled"] is False


def test_ajax_api_prefix_serves_the_same_routes(http):
    r = http.get("/ajax-api/2.0/mlflow/experiments/get", params={"experiment_id": "0"})
    assert r.status_code == 200 and r.json()["experiment"]["name"] == "Default"
