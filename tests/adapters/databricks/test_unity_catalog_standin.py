"""The Unity Catalog stand-in (tests/fixtures/unity_catalog.py) checks what it claims to check.

MLflow's own `databricks-uc` client (UcModelRegistryStore) runs its whole registration against it
(the stand-in agrees with the reference client), and requests the real service would refuse are
refused: unknown fields, wrong types, wrong methods, missing or wrong tokens, bad tags, finalizing
before the files are there, writing with read-only or another version's credentials.
"""

from __future__ import annotations

import asyncio
import json

import boto3
import botocore.exceptions
import httpx
import pytest
from aiohttp import web

from tests.fixtures.unity_catalog import PREFIX, UnityCatalogService, run_unity_catalog

TOKEN = "dapi-standin-token"
MLMODEL = """artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.pyfunc.model
signature:
  inputs: '[{"type": "double", "name": "x", "required": true}]'
  outputs: '[{"type": "double", "required": true}]'
"""


@pytest.fixture(scope="module")
def uc(moto):
    with run_unity_catalog(moto, token=TOKEN) as setup:
        yield setup


def call(uc, method: str, route: str, body=None, *, params=None, token: str | None = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(
        method, uc.url + PREFIX + route, json=body, params=params, headers=headers, timeout=30
    )


def error_of(reply: httpx.Response) -> tuple[int, str]:
    return reply.status_code, reply.json()["error_code"]


def test_mlflows_own_databricks_uc_client_registers_against_it(uc, moto, tmp_path, monkeypatch):
    from mlflow.store._unity_catalog.registry.rest_store import UcModelRegistryStore

    for key, value in {
        "MLFLOW_ENABLE_DB_SDK": "false",
        "DATABRICKS_HOST": uc.url,
        "DATABRICKS_TOKEN": TOKEN,
        "DATABRICKS_CONFIG_FILE": str(tmp_path / "no-databrickscfg"),
        "MLFLOW_USE_DATABRICKS_SDK_MODEL_ARTIFACTS_REPO_FOR_UC": "false",
        "MLFLOW_S3_ENDPOINT_URL": uc.s3_endpoint_url,
        "AWS_DEFAULT_REGION": moto.region,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "MLmodel").write_text(MLMODEL)
    (tmp_path / "model" / "weights.bin").write_bytes(b"w" * 3000)
    store = UcModelRegistryStore("databricks-uc", "databricks")
    name = "main.default.reference_client"

    store.create_registered_model(name)
    version = store.create_model_version(
        name, source="s3://elsewhere/model", local_model_path=str(tmp_path / "model")
    )
    assert (version.version, version.status) == ("1", "READY")
    store.set_registered_model_alias(name, "champion", "1")
    assert store.get_model_version_by_alias(name, "champion").aliases == ["champion"]
    assert [v.version for v in store.search_model_versions(f"name='{name}'")] == ["1"]

    stored = uc.service.models[name].versions[1]
    assert uc.service.stored_objects(stored.storage_location) == {
        "MLmodel": MLMODEL.encode(),
        "weights.bin": b"w" * 3000,
    }
    uploads = [r for r in uc.storage.records if r.method == "PUT"]
    assert uploads and all(r.rejection is None for r in uploads)


@pytest.mark.parametrize(
    ("method", "route", "body", "params", "expected"),
    [
        (
            "POST",
            "registered-models/create",
            {"name": "main.default.a", "bogus": 1},
            None,
            (400, "INVALID_PARAMETER_VALUE"),
        ),
        (
            "POST",
            "registered-models/create",
            {"name": ["main.default.a"]},
            None,
            (400, "INVALID_PARAMETER_VALUE"),
        ),
        ("POST", "registered-models/create", {"name": "main.a"}, None, (400, "INVALID_PARAMETER_VALUE")),
        (
            "POST",
            "registered-models/create",
            {"name": "nope.default.a"},
            None,
            (404, "CATALOG_DOES_NOT_EXIST"),
        ),
        # MLflow's UC search request has no filter field: the real service refuses one.
        ("GET", "registered-models/search", None, {"filter": "name='x'"}, (400, "INVALID_PARAMETER_VALUE")),
        ("GET", "registered-models/search", None, {"max_results": "ten"}, (400, "INVALID_PARAMETER_VALUE")),
        ("GET", "registered-models/create", None, None, (405, "BAD_REQUEST")),
        ("POST", "registered-models/nonsense", {}, None, (404, "ENDPOINT_NOT_FOUND")),
        (
            "GET",
            "registered-models/get",
            None,
            {"name": "main.default.missing"},
            (404, "RESOURCE_DOES_NOT_EXIST"),
        ),
    ],
)
def test_requests_the_service_would_refuse_are_refused(uc, method, route, body, params, expected):
    assert error_of(call(uc, method, route, body, params=params)) == expected


def test_the_bearer_token_is_checked(uc):
    assert error_of(call(uc, "GET", "registered-models/search", token=None)) == (401, "UNAUTHENTICATED")
    assert error_of(call(uc, "GET", "registered-models/search", token="dapi-other")) == (
        403,
        "PERMISSION_DENIED",
    )
    assert call(uc, "GET", "registered-models/search").status_code == 200


def test_tag_rules_finalize_and_credential_scopes(uc, moto):
    name = "main.default.rules"
    assert call(uc, "POST", "registered-models/create", {"name": name}).status_code == 200
    bad_tag = call(uc, "POST", "registered-models/set-tag", {"name": name, "key": "mlflow.x", "value": "v"})
    assert error_of(bad_tag) == (400, "INVALID_PARAMETER_VALUE")
    version = call(uc, "POST", "model-versions/create", {"name": name, "source": "s3://x/y"}).json()[
        "model_version"
    ]
    assert version["status"] == "PENDING_REGISTRATION"
    assert isinstance(version["creation_timestamp"], int)  # int64 as a JSON number, as Databricks sends it
    early = call(uc, "POST", "model-versions/finalize", {"name": name, "version": version["version"]})
    assert error_of(early) == (400, "INVALID_PARAMETER_VALUE")  # no files there yet

    def credentials(operation: str) -> dict:
        body = {"name": name, "version": version["version"], "operation": operation}
        reply = call(uc, "POST", "model-versions/generate-temporary-credentials", body)
        assert reply.status_code == 200, reply.text
        aws = reply.json()["credentials"]["aws_temp_credentials"]
        return boto3.client(
            "s3",
            endpoint_url=uc.s3_endpoint_url,
            region_name=moto.region,
            aws_access_key_id=aws["access_key_id"],
            aws_secret_access_key=aws["secret_access_key"],
            aws_session_token=aws["session_token"],
        )

    bucket, prefix = version["storage_location"][len("s3://") :].split("/", 1)
    reader = credentials("MODEL_VERSION_OPERATION_READ")
    with pytest.raises(botocore.exceptions.ClientError) as read_only:
        reader.put_object(Bucket=bucket, Key=f"{prefix}/MLmodel", Body=MLMODEL.encode())
    assert read_only.value.response["Error"]["Code"] == "AccessDenied"
    writer = credentials("MODEL_VERSION_OPERATION_READ_WRITE")
    writer.put_object(Bucket=bucket, Key=f"{prefix}/MLmodel", Body=MLMODEL.encode())
    with pytest.raises(botocore.exceptions.ClientError) as outside:
        writer.put_object(Bucket=bucket, Key="metastore/other/MLmodel", Body=b"x")
    assert outside.value.response["Error"]["Code"] == "AccessDenied"
    done = call(uc, "POST", "model-versions/finalize", {"name": name, "version": version["version"]})
    assert done.json()["model_version"]["status"] == "READY"
    # A READY version's files are final: no more write credentials for it.
    again = call(
        uc,
        "POST",
        "model-versions/generate-temporary-credentials",
        {"name": name, "version": version["version"], "operation": "MODEL_VERSION_OPERATION_READ_WRITE"},
    )
    assert error_of(again) == (400, "INVALID_PARAMETER_VALUE")


def test_it_mounts_on_any_aiohttp_app(moto):
    """Composable: its routes on an app that serves other things too."""
    service = UnityCatalogService(moto, token=TOKEN)

    async def scenario():
        async def health(request: web.Request) -> web.Response:
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_get("/health", health)
        service.add_routes(app)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                headers = {"Authorization": f"Bearer {TOKEN}"}
                created = await client.post(
                    PREFIX + "registered-models/create",
                    json={"name": "main.default.mounted"},
                    headers=headers,
                )
                health = await client.get("/health")
                refused = await client.get(PREFIX + "registered-models/search")
                return created, health, refused
        finally:
            await runner.cleanup()

    created, health, refused = asyncio.run(scenario())
    assert (
        created.status_code == 200
        and json.loads(created.text)["registered_model"]["name"] == "main.default.mounted"
    )
    assert health.text == "ok"
    assert refused.status_code == 401
