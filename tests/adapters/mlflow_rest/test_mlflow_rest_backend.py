"""The `mlflow` backend in-process against a real `mlflow server`, through a proxy that checks auth
and records what crosses the wire: auth, path prefix, error mapping, request ids, batch splits."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from flowport.adapters.mlflow_rest.auth import auth_from_config
from flowport.adapters.mlflow_rest.backend import MlflowRestBackend
from flowport.adapters.registry import build_backend
from flowport.adapters.resilience import RetryPolicy
from flowport.v1 import registry_pb2, tracking_pb2
from flowport.v1.errors import ApiError
from tests.fixtures.processes import run_mlflow_server
from tests.fixtures.upstream_proxy import BasicCheck, BearerCheck, Respond, UpstreamProxy

FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, call_timeout=20)


def _run(coro):
    return asyncio.run(coro)


async def _with_backend(url: str, fn, **options):
    backend = MlflowRestBackend("upstream-x", url=url, retry=FAST, **options)
    await backend.start()
    try:
        return await fn(backend)
    finally:
        await backend.close()


def _create_experiment(name: str):
    async def call(backend):
        return await backend.invoke("CreateExperiment", tracking_pb2.CreateExperiment(name=name))

    return call


@pytest.mark.parametrize(
    "check, good, bad",
    [
        (
            BearerCheck("tok-123"),
            {"type": "bearer", "token": "tok-123"},
            {"type": "bearer", "token": "tok-wrong-secret"},
        ),
        (
            BasicCheck("ml", "pw-123"),
            {"type": "basic", "username": "ml", "password": "pw-123"},
            {"type": "basic", "username": "ml", "password": "pw-wrong-secret"},
        ),
    ],
    ids=["bearer", "basic"],
)
def test_auth_for_plain_mlflow_servers(mlflow_upstream, check, good, bad):
    with UpstreamProxy(mlflow_upstream, check=check) as proxy:
        created = _run(
            _with_backend(
                proxy.url, _create_experiment(f"auth-{uuid.uuid4().hex[:8]}"), auth=auth_from_config(good)
            )
        )
        assert created.experiment_id
        with pytest.raises(ApiError) as info:
            _run(_with_backend(proxy.url, _create_experiment("never"), auth=auth_from_config(bad)))
    # The upstream's refusal is the gateway's problem, not the caller's: named, and no secret shown.
    assert info.value.error_code == "PERMISSION_DENIED"
    assert "'upstream-x'" in info.value.message and "wrong-secret" not in info.value.message
    assert [r.rejection is not None for r in proxy.records] == [False, True]


def test_path_prefix_and_an_unserved_route_is_endpoint_not_found(mlflow_upstream):
    with UpstreamProxy(mlflow_upstream) as proxy:
        with pytest.raises(ApiError) as info:
            _run(_with_backend(proxy.url, _create_experiment("prefixed"), path_prefix="/mlflow/"))
    assert proxy.records[0].path == "/mlflow/api/2.0/mlflow/experiments/create"
    # mlflow server answers an unknown path with an HTML 404: clients fall back only on this code.
    assert info.value.error_code == "ENDPOINT_NOT_FOUND"


def test_upstream_errors_keep_mlflow_codes_and_messages(mlflow_upstream):
    async def missing(backend):
        return await backend.invoke("GetExperiment", tracking_pb2.GetExperiment(experiment_id="987654"))

    with pytest.raises(ApiError) as info:
        _run(_with_backend(mlflow_upstream, missing))
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST" and "987654" in info.value.message


def test_a_non_retryable_upstream_failure_is_not_retried(mlflow_upstream):
    with UpstreamProxy(mlflow_upstream) as proxy:
        proxy.inject(
            "GET", r"/experiments/get$", Respond(501, {"error_code": "NOT_IMPLEMENTED", "message": "no"})
        )

        async def get(backend):
            return await backend.invoke("GetExperiment", tracking_pb2.GetExperiment(experiment_id="0"))

        with pytest.raises(ApiError) as info:
            _run(_with_backend(proxy.url, get))
    assert info.value.error_code == "NOT_IMPLEMENTED" and len(proxy.records) == 1


def test_creates_carry_a_request_id_upstream_and_never_show_it(mlflow_upstream):
    name = f"rid-{uuid.uuid4().hex[:8]}"

    async def scenario(backend):
        exp_id = (
            await backend.invoke("CreateExperiment", tracking_pb2.CreateExperiment(name=name))
        ).experiment_id
        run = (await backend.invoke("CreateRun", tracking_pb2.CreateRun(experiment_id=exp_id))).run
        await backend.invoke("CreateRegisteredModel", registry_pb2.CreateRegisteredModel(name=name))
        version = (
            await backend.invoke(
                "CreateModelVersion",
                registry_pb2.CreateModelVersion(
                    name=name, source=run.info.artifact_uri, run_id=run.info.run_id
                ),
            )
        ).model_version
        got_exp = (
            await backend.invoke("GetExperiment", tracking_pb2.GetExperiment(experiment_id=exp_id))
        ).experiment
        got_run = (await backend.invoke("GetRun", tracking_pb2.GetRun(run_id=run.info.run_id))).run
        return run, version, got_exp, got_run

    with UpstreamProxy(mlflow_upstream) as proxy:
        run, version, got_exp, got_run = _run(_with_backend(proxy.url, scenario))
    sent = {r.path.rsplit("/mlflow/", 1)[1]: r.json() for r in proxy.recorded("POST", r"/create$")}
    request_ids = {
        path: [t["value"] for t in body["tags"] if t["key"] == "flowport.request_id"]
        for path, body in sent.items()
    }
    assert set(request_ids) == {
        "experiments/create",
        "runs/create",
        "registered-models/create",
        "model-versions/create",
    }
    assert all(len(ids) == 1 and len(ids[0]) == 32 for ids in request_ids.values())
    for tags in (run.data.tags, version.tags, got_exp.tags, got_run.data.tags):
        assert all(t.key != "flowport.request_id" for t in tags)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")


def test_log_batch_within_limits_is_sent_whole(mlflow_upstream):
    async def scenario(backend):
        exp_id = (
            await backend.invoke(
                "CreateExperiment", tracking_pb2.CreateExperiment(name=f"b-{uuid.uuid4().hex[:8]}")
            )
        ).experiment_id
        run_id = (
            await backend.invoke("CreateRun", tracking_pb2.CreateRun(experiment_id=exp_id))
        ).run.info.run_id
        batch = tracking_pb2.LogBatch(run_id=run_id)
        batch.metrics.extend(tracking_pb2.Metric(key="m", value=i, timestamp=i, step=i) for i in range(900))
        batch.params.extend(tracking_pb2.Param(key=f"p{i}", value="v") for i in range(100))
        await backend.invoke("LogBatch", batch)

    with UpstreamProxy(mlflow_upstream) as proxy:
        _run(_with_backend(proxy.url, scenario))
    assert len(proxy.recorded("POST", r"/runs/log-batch$")) == 1


def test_a_server_with_an_s3_root_gets_its_artifacts_straight_to_s3(tmp_path, moto, monkeypatch):
    """A self-hosted server that does not proxy artifacts: the gateway writes to its S3 root itself,
    and clients still see only `mlflow-artifacts:` locations."""
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="self-hosted", CreateBucketConfiguration={"LocationConstraint": moto.region})
    aws = {"AWS_ACCESS_KEY_ID": moto.access_key, "AWS_SECRET_ACCESS_KEY": moto.secret_key}
    for key, value in {**aws, "AWS_DEFAULT_REGION": moto.region}.items():
        monkeypatch.setenv(key, value)
    server_args = ("--default-artifact-root", "s3://self-hosted/root", "--no-serve-artifacts")
    with run_mlflow_server(
        tmp_path, extra=server_args, env={"MLFLOW_S3_ENDPOINT_URL": moto.endpoint_url}
    ) as url:
        backend = build_backend(
            "self-hosted",
            "mlflow",
            {"url": url, "artifact_store_uri": "s3://self-hosted/root", "s3_endpoint_url": moto.endpoint_url},
        )

        async def scenario():
            await backend.start()
            try:
                exp = await backend.invoke("CreateExperiment", tracking_pb2.CreateExperiment(name="s3-root"))
                run = (
                    await backend.invoke("CreateRun", tracking_pb2.CreateRun(experiment_id=exp.experiment_id))
                ).run
                path = run.info.artifact_uri.removeprefix("mlflow-artifacts:/") + "/model.pkl"

                async def body():
                    yield b"pickled"

                await backend.artifact_store.write(path, body())
                return run
            finally:
                await backend.close()

        run = _run(scenario())
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
    key = f"root/{run.info.experiment_id}/{run.info.run_id}/artifacts/model.pkl"
    assert s3.get_object(Bucket="self-hosted", Key=key)["Body"].read() == b"pickled"
