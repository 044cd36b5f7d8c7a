"""LogMetricStream, flowport's client-streaming metric ingest, through a real gateway: the SDK's columns
land as metric history on every backend, a bad run fails with MLflow's error and writes nothing of its
transaction, the same message is one POST over HTTP, and authorization applies to every run a stream
writes to."""

from __future__ import annotations

import math
import uuid

import httpx
import pytest

from flowport.sdk import FlowportClient
from flowport.v1 import tracking_pb2
from flowport.v1.errors import ApiError
from tests.fixtures.config_files import BOOTSTRAP_ADMIN, as_admin, config_file, local_backend
from tests.fixtures.processes import run_gateway

ADMIN_PASSWORD = "admin-" + uuid.uuid4().hex


def _history(fp: FlowportClient, run_id: str, key: str) -> list[tuple[float, int, int]]:
    request = tracking_pb2.GetMetricHistory(run_id=run_id, metric_key=key)
    return sorted((m.step, m.timestamp, m.value) for m in fp.tracking.GetMetricHistory(request).metrics)


def _new_run(fp: FlowportClient) -> str:
    return fp.tracking.CreateRun(tracking_pb2.CreateRun(experiment_id="0", start_time=1)).run.info.run_id


@pytest.mark.remote_backends
def test_the_sdk_streams_columns_into_metric_history(gateway):
    n = 30_000 if gateway.backend_kind == "local" else 2_500  # a remote one gets LogBatch calls
    with FlowportClient(gateway.grpc_target) as fp:
        run_id = _new_run(fp)
        columns = [
            ("loss", [1 / (i + 1) for i in range(n)], [1000 + i for i in range(n)], list(range(n))),
            ("acc", [0.5, math.nan, math.inf], [7, 8, 9], None),  # no steps: every step 0
        ]
        assert fp.log_metric_stream(run_id, columns, points_per_message=4096) == n + 3
        loss = _history(fp, run_id, "loss")
        assert loss == [(i, 1000 + i, 1 / (i + 1)) for i in range(n)]
        acc = _history(fp, run_id, "acc")
        assert [(s, t) for s, t, _ in acc] == [(0, 7), (0, 8), (0, 9)]
        assert acc[0][2] == 0.5 and math.isnan(acc[1][2]) and acc[2][2] > 1e308
        latest = {m.key: m for m in fp.tracking.GetRun(tracking_pb2.GetRun(run_id=run_id)).run.data.metrics}
        assert (latest["loss"].step, latest["loss"].value) == (n - 1, 1 / n)


def test_messages_without_a_run_continue_the_last_one_and_a_stream_may_switch_runs(gateway):
    with FlowportClient(gateway.grpc_target) as fp:
        first, second = _new_run(fp), _new_run(fp)

        def message(run_id: str, step: int) -> tracking_pb2.LogMetricStream:
            column = tracking_pb2.MetricColumn(key="m", values=[float(step)], timestamps=[step], steps=[step])
            return tracking_pb2.LogMetricStream(run_id=run_id, columns=[column])

        stream = [message(first, 0), message("", 1), message(second, 2), message("", 3), message(first, 4)]
        assert fp.tracking.LogMetricStream(iter(stream)).points_written == 5
        assert [s for s, _, _ in _history(fp, first, "m")] == [0, 1, 4]
        assert [s for s, _, _ in _history(fp, second, "m")] == [2, 3]


def test_a_bad_run_fails_with_mlflows_error_and_writes_nothing_of_its_transaction(gateway):
    unknown = uuid.uuid4().hex
    column = tracking_pb2.MetricColumn(key="m", values=[1.0, 2.0], timestamps=[1, 2], steps=[1, 2])
    with FlowportClient(gateway.grpc_target) as fp:
        with pytest.raises(ApiError) as err:
            fp.log_metric_stream(unknown, [("m", [1.0, 2.0], [1, 2], [1, 2])])
        assert (err.value.error_code, err.value.message) == (
            "RESOURCE_DOES_NOT_EXIST",
            f"Run with id={unknown} not found",
        )

        deleted = _new_run(fp)
        fp.tracking.DeleteRun(tracking_pb2.DeleteRun(run_id=deleted))
        with pytest.raises(ApiError) as err:
            fp.log_metric_stream(deleted, [("m", [1.0, 2.0], [1, 2], [1, 2])])
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
        assert "must be in the 'active' state" in err.value.message
        fp.tracking.RestoreRun(tracking_pb2.RestoreRun(run_id=deleted))
        assert _history(fp, deleted, "m") == []

        # A transaction the gateway committed before the bad one stays; the bad one writes nothing.
        good = _new_run(fp)
        with pytest.raises(ApiError) as err:
            fp.tracking.LogMetricStream(
                iter(
                    [
                        tracking_pb2.LogMetricStream(run_id=good, columns=[column]),
                        tracking_pb2.LogMetricStream(run_id=unknown, columns=[column]),
                    ]
                )
            )
        assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        assert _history(fp, good, "m") == [(1, 1, 1.0), (2, 2, 2.0)]

        # Columns whose lengths disagree are refused before anything is written.
        with pytest.raises(ApiError) as err:
            fp.log_metric_stream(good, [("n", [1.0], [1], None), ("m2", [1.0, 2.0], [1], None)])
        assert err.value.error_code == "INVALID_PARAMETER_VALUE" and "1 timestamps" in err.value.message
        assert _history(fp, good, "n") == []


def test_over_http_the_message_is_one_post(gateway):
    with FlowportClient(gateway.grpc_target) as fp:
        run_id = _new_run(fp)
        body = {"run_id": run_id, "columns": [{"key": "m", "values": [1.5, 2], "timestamps": [5, 6]}]}
        response = httpx.post(f"{gateway.url}/api/2.0/flowport/runs/log-metric-stream", json=body, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json() == {"points_written": 2}
        assert _history(fp, run_id, "m") == [(0, 5, 1.5), (0, 6, 2.0)]


# ---- with authentication on -------------------------------------------------------------------


@pytest.fixture(scope="module")
def governed(tmp_path_factory):
    data = tmp_path_factory.mktemp("stream-auth")
    config = config_file(local_backend("local", data), {"default": "local"}, BOOTSTRAP_ADMIN)
    with run_gateway(data, config=config, env={"FP_ADMIN_PASSWORD": ADMIN_PASSWORD}) as gw:
        yield gw


def _admin(gw, path: str, body: dict) -> dict:
    return as_admin(gw.url, ADMIN_PASSWORD, path, body)


def test_a_stream_needs_edit_on_each_runs_experiment(governed):
    tokens, names = {}, {}
    for role in ("viewer", "editor"):
        name = names[role] = f"{role}-{uuid.uuid4().hex[:6]}"
        _admin(governed, "/api/2.0/mlflow/users/create", {"username": name, "password": uuid.uuid4().hex})
        _admin(
            governed,
            "/api/2.0/flowport/auth/role-bindings/set",
            {"principal_kind": "user", "principal_name": name, "role": role},
        )
        tokens[role] = _admin(governed, "/api/2.0/flowport/auth/tokens/create", {"username": name})["secret"]
    column = ("m", [1.0, 2.0], [1, 2], [1, 2])
    with (
        FlowportClient(governed.grpc_target, token=tokens["editor"]) as editor,
        FlowportClient(governed.grpc_target, token=tokens["viewer"]) as viewer,
        FlowportClient(governed.grpc_target) as anonymous,
    ):
        run_id = _new_run(editor)
        with pytest.raises(ApiError) as err:
            viewer.log_metric_stream(run_id, [column])
        assert err.value.error_code == "PERMISSION_DENIED"
        with pytest.raises(ApiError) as err:
            anonymous.log_metric_stream(run_id, [column])
        assert err.value.error_code == "UNAUTHENTICATED"
        assert _history(editor, run_id, "m") == []
        assert editor.log_metric_stream(run_id, [column]) == 2
        assert _history(editor, run_id, "m") == [(1, 1, 1.0), (2, 2, 2.0)]

        # A run the stream switches to is authorized on its own: here the editor is shut out of its
        # experiment, so that transaction is refused and writes nothing.
        name = f"closed-{uuid.uuid4().hex[:6]}"
        closed_experiment = editor.tracking.CreateExperiment(tracking_pb2.CreateExperiment(name=name))
        closed = editor.tracking.CreateRun(
            tracking_pb2.CreateRun(experiment_id=closed_experiment.experiment_id)
        ).run.info.run_id
        _admin(
            governed,
            "/api/2.0/flowport/auth/permissions/set",
            {
                "resource_kind": "experiment",
                "resource_id": closed_experiment.experiment_id,
                "principal_kind": "user",
                "principal_name": names["editor"],
                "permission": "DENY",
            },
        )
        point = [tracking_pb2.MetricColumn(key="x", values=[1.0], timestamps=[1])]
        with pytest.raises(ApiError) as err:
            editor.tracking.LogMetricStream(
                iter(
                    [
                        tracking_pb2.LogMetricStream(run_id=run_id, columns=point),
                        tracking_pb2.LogMetricStream(run_id=closed, columns=point),
                    ]
                )
            )
        assert err.value.error_code == "PERMISSION_DENIED"
        assert _history(editor, run_id, "x") == [(0, 1, 1.0)]
    with FlowportClient(governed.grpc_target, username="admin", password=ADMIN_PASSWORD) as admin:
        assert _history(admin, closed, "x") == []
