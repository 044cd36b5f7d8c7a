"""The Unity Catalog registry flavour (adapters/databricks/unity_catalog.py) against the UC stand-in.

The stand-in parses every request with MLflow's own UC messages and hands out temporary S3
credentials that only its own check in front of moto accepts, so a version's files land in moto
only if the adapter really used them; the tests read the bytes back from moto themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Iterator

import boto3
import botocore.exceptions
import pytest

from flowport.adapters.artifact_store import ArtifactStore
from flowport.adapters.artifacts.local import LocalArtifactStore
from flowport.adapters.databricks.unity_catalog import REQUEST_ID_TAG, UnityCatalogRegistry
from flowport.adapters.mlflow_rest.artifact_uris import ArtifactUriMap
from flowport.adapters.mlflow_rest.transport import RestTransport
from flowport.adapters.resilience import Resilience, RetryPolicy
from flowport.v1 import registry_pb2 as reg
from flowport.v1.errors import ApiError, invalid_parameter
from tests.fixtures.unity_catalog import UnityCatalogSetup, run_unity_catalog
from tests.fixtures.upstream_proxy import REJECTED, ForwardThenReset, Respond

TOKEN = "dapi-uc-test-token"
NATIVE_ROOT = "dbfs:/databricks/mlflow-tracking"
SOURCE = "mlflow-artifacts:/1/run-1/artifacts/model"  # what a client of the gateway sends
SIGNED_MLMODEL = b"""artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
signature:
  inputs: '[{"type": "double", "name": "x", "required": true}]'
  outputs: '[{"type": "double", "required": true}]'
"""
MODEL_FILES = {
    "MLmodel": SIGNED_MLMODEL,
    "model.pkl": os.urandom(9 << 20),  # beyond the S3 store's part size: a multipart upload
    "requirements.txt": b"scikit-learn==1.5.0\n",
    "code/helpers/util.py": b"def f(x):\n    return x\n",
}


@pytest.fixture(scope="module")
def uc(moto) -> Iterator[UnityCatalogSetup]:
    with run_unity_catalog(moto, token=TOKEN) as setup:
        yield setup


@pytest.fixture(autouse=True)
def _clean_faults(uc):
    yield
    uc.api.clear_faults()
    uc.storage.clear_faults()


def write_model(root, files=MODEL_FILES, where="1/run-1/artifacts/model") -> None:
    for rel, data in files.items():
        path = root / where / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@contextlib.asynccontextmanager
async def registry_for(
    setup: UnityCatalogSetup, root, *, token: str = TOKEN
) -> AsyncIterator[UnityCatalogRegistry]:
    """The registry as the databricks backend wires it, its sources in a local store."""
    store = LocalArtifactStore(root)
    uris = ArtifactUriMap(NATIVE_ROOT)
    resilience = Resilience("dbx", RetryPolicy(initial_backoff=0.01, max_backoff=0.05, breaker_failures=1000))
    transport = RestTransport(
        "dbx", setup.url, resilience=resilience, headers={"Authorization": f"Bearer {token}"}
    )

    def locate_source(uri: str) -> tuple[ArtifactStore, str]:
        if not uri.startswith(NATIVE_ROOT + "/"):
            raise invalid_parameter(f"no store holds {uri}")
        return store, uri[len(NATIVE_ROOT) + 1 :]

    async def run_blocking(fn, *args):
        return await asyncio.to_thread(fn, *args)

    registry = UnityCatalogRegistry(
        transport,
        locate_source=locate_source,
        run_blocking=run_blocking,
        backend_name="dbx",
        to_native=uris.to_native,
        for_client=uris.outbound,
        s3_endpoint_url=setup.s3_endpoint_url,
        s3_region="eu-west-1",
    )
    try:
        yield registry
    finally:
        await registry.close()
        await transport.close()


def run(coro):
    return asyncio.run(coro)


async def failure(coro) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await coro
    return caught.value


def model_name(request) -> str:
    """A fresh three-level name per test."""
    return "main.default." + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")[:60]


async def register(registry: UnityCatalogRegistry, name: str, source: str = SOURCE) -> reg.ModelVersion:
    await registry.create_registered_model(reg.CreateRegisteredModel(name=name))
    created = await registry.create_model_version(
        reg.CreateModelVersion(name=name, source=source, run_id="run-1")
    )
    return created.model_version


def version_location(uc: UnityCatalogSetup, name: str, version: str) -> str:
    return uc.service.models[name].versions[int(version)].storage_location


# --- models ------------------------------------------------------------------------------------


def test_create_get_update_delete_registered_model(uc, tmp_path, request):
    name = model_name(request)

    async def scenario():
        async with registry_for(uc, tmp_path) as registry:
            created = await registry.create_registered_model(
                reg.CreateRegisteredModel(
                    name=name, description="first", tags=[reg.RegisteredModelTag(key="team", value="ml")]
                )
            )
            assert created.registered_model.name == name
            assert [(t.key, t.value) for t in created.registered_model.tags] == [("team", "ml")]
            updated = await registry.update_registered_model(
                reg.UpdateRegisteredModel(name=name, description="second")
            )
            assert updated.registered_model.description == "second"
            got = await registry.get_registered_model(reg.GetRegisteredModel(name=name))
            assert got.registered_model.description == "second"
            # The request id that made the create safe to retry is kept upstream, never shown.
            assert REQUEST_ID_TAG in uc.service.models[name].tags
            assert REQUEST_ID_TAG not in {t.key for t in got.registered_model.tags}
            again = await failure(registry.create_registered_model(reg.CreateRegisteredModel(name=name)))
            assert again.error_code == "RESOURCE_ALREADY_EXISTS"
            await registry.delete_registered_model(reg.DeleteRegisteredModel(name=name))
            gone = await failure(registry.get_registered_model(reg.GetRegisteredModel(name=name)))
            assert gone.error_code == "RESOURCE_DOES_NOT_EXIST"

    run(scenario())


@pytest.mark.parametrize("bad", ["model", "default.model", "main..model", "a.b.c.d", ""])
def test_names_that_are_not_three_levels_are_refused_before_any_call(uc, tmp_path, bad):
    write_model(tmp_path)
    before = len(uc.service.calls)

    async def scenario():
        async with registry_for(uc, tmp_path) as registry:
            for call in (
                registry.create_registered_model(reg.CreateRegisteredModel(name=bad)),
                registry.get_registered_model(reg.GetRegisteredModel(name=bad)),
                registry.create_model_version(reg.CreateModelVersion(name=bad, source=SOURCE)),
                registry.set_registered_model_alias(
                    reg.SetRegisteredModelAlias(name=bad, alias="a", version="1")
                ),
            ):
                err = await failure(call)
                assert err.error_code == "INVALID_PARAMETER_VALUE"
                assert "catalog.schema.model" in err.message and "Spark" in err.message

    run(scenario())
    assert len(uc.service.calls) == before


def test_unity_catalog_codes_become_codes_clients_act_on(uc, tmp_path):
    async def scenario():
        async with registry_for(uc, tmp_path) as registry:
            err = await failure(
                registry.create_registered_model(reg.CreateRegisteredModel(name="main.nope.m"))
            )
            assert err.error_code == "RESOURCE_DOES_NOT_EXIST"
            assert "SCHEMA_DOES_NOT_EXIST" in err.message

    run(scenario())


def test_a_wrong_token_is_the_gateways_problem_not_the_callers(uc, tmp_path):
    async def scenario():
        async with registry_for(uc, tmp_path, token="dapi-wrong") as registry:
            err = await failure(registry.get_registered_model(reg.GetRegisteredModel(name="main.default.x")))
            assert err.error_code == "PERMISSION_DENIED"
            assert "dapi-wrong" not in err.message

    run(scenario())


def test_rename_goes_through_update_with_new_name(uc, tmp_path, request):
    write_model(tmp_path)
    name = model_name(request)
    new_name = name + "_renamed"

    async def scenario():
        async with registry_for(uc, tmp_path) as registry:
            await register(registry, name)
            renamed = await registry.rename_registered_model(
                reg.RenameRegisteredModel(name=name, new_name=new_name)
            )
            assert renamed.registered_model.name == new_name
            version = await registry.get_model_version(reg.GetModelVersion(name=new_name, version="1"))
            assert version.model_version.name == new_name
            old = await failure(registry.get_registered_model(reg.GetRegisteredModel(name=name)))
            assert old.error_code == "RESOURCE_DOES_NOT_EXIST"
            short = await failure(
                registry.rename_registered_model(reg.RenameRegisteredModel(name=new_name, new_name="short"))
            )
            assert short.error_code == "INVALID_PARAMETER_VALUE" and "new_name" in short.message

    run(scenario())
    update = uc.service.calls_to("UpdateRegisteredModel")[-1].message
    assert (update.name, update.new_name) == (name, new_name)


def test_search_drops_the_mlflow_prompt_clause_and_pages(uc, tmp_path, request):
    prefix = model_name(request)
    names = [f"{prefix}_{i}" for i in range(3)]
    prompt_clause = "tag.`mlflow.prompt.is_prompt` != 'true'"

    async def scenario():
        async with registry_for(uc, tmp_path) as registry:
            for name in names:
                await registry.create_registered_model(reg.CreateRegisteredModel(name=name))
            seen: list[str] = []
            token = ""
            for _ in range(100):
                page = await registry.search_registered_models(
                    reg.SearchRegisteredModels(filter=prompt_clause, max_results=2, page_token=token)
                )
                seen += [m.name for m in page.registered_models]
                token = page.next_page_token
                if not token:
                    break
            assert set(names) <= set(seen)
            assert len(seen) == len(set(seen))
            # Prompts-only searches: no UC model is a prompt, and UC is not asked.
            before = len(uc.service.calls_to("SearchRegisteredModels"))
            prompts = await registry.search_registered_models(
                reg.SearchRegisteredModels(filter="tag.`mlflow.prompt.is_prompt` = 'true'")
            )
            assert list(prompts.registered_models) == []
            assert len(uc.service.calls_to("SearchRegisteredModels")) == before
            # What UC's search cannot do is refused, not silently ignored.
            err = await failure(
                registry.search_registered_models(
                    reg.SearchRegisteredModels(filter=f"name LIKE '{prefix}%' AND {prompt_clause}")
                )
            )
            assert err.error_code == "INVALID_PARAMETER_VALUE" and f"name LIKE '{prefix}%'" in err.message
            assert "mlflow.prompt" not in err.message
            err = await failure(
                registry.search_registered_models(reg.SearchRegisteredModels(order_by=["name ASC"]))
            )
            assert err.error_code == "INVALID_PARAMETER_VALUE" and "order_by" in err.message

    run(scenario())
    sent = uc.service.calls_to("SearchRegisteredModels")[-1].message
    assert sent.max_results == 2  # parsed by MLflow's message, which has no filter field at all


# --- versions ----------------------------------------------------------------------------------


def test_a_version_is_created_uploaded_with_temporary_credentials_and_finalized(uc, tmp_path, request):
    write_model(tmp_path)
    name = model_name(request)

    async def scenario():
        async with registry_for(uc, tmp_path) as registry:
            return await register(registry, name)

    uc.storage.clear_records()
    version = run(scenario())
    assert version.status == reg.READY and version.version == "1"
    assert version.source == SOURCE  # the native source, mapped back for the client
    assert version.run_id == "run-1"
    assert REQUEST_ID_TAG not in {t.key for t in version.tags}
    stored = uc.service.models[name].versions[1]
    assert stored.source == f"{NATIVE_ROOT}/1/run-1/artifacts/model"
    # Every byte is in moto under the version's storage location.
    landed = uc.service.stored_objects(stored.storage_location)
    assert {k: hashlib.sha256(v).hexdigest() for k, v in landed.items()} == {
        k: hashlib.sha256(v).hexdigest() for k, v in MODEL_FILES.items()
    }
    # The flow, in MLflow's order, with the write credentials it asks for.
    rpcs = [
        c.rpc
        for c in uc.service.calls
        if c.message.DESCRIPTOR.fields_by_name.get("name") and c.message.name == name
    ]
    flow = [
        r
        for r in rpcs
        if r in ("CreateModelVersion", "GenerateTemporaryModelVersionCredentials", "FinalizeModelVersion")
    ]
    assert flow == ["CreateModelVersion", "GenerateTemporaryModelVersionCredentials", "FinalizeModelVersion"]
    credentials_call = uc.service.calls_to("GenerateTemporaryModelVersionCredentials")[-1].message
    assert credentials_call.operation == 2  # MODEL_VERSION_OPERATION_READ_WRITE
    # Every S3 request was signed by those credentials and stayed in the location (checked by the proxy).
    s3_requests = uc.storage.records
    assert s3_requests and all(r.outcome != REJECTED for r in s3_requests)
    assert any("uploadId=" in r.query for r in s3_requests)  # the large file went in parts


def test_the_storage_check_refuses_other_credentials_and_other_locations(uc, tmp_path, request, moto):
    """The proof that the test above means something: moto is reachable only through the check."""
    write_model(tmp_path)
    name = model_name(request)

    async def scenario():
        async with registry_for(uc, tmp_path) as registry:
            await register(registry, name)

    run(scenario())
    location = version_location(uc, name, "1")
    bucket, key = location[len("s3://") :].split("/", 1)
    outsider = boto3.client(
        "s3",
        endpoint_url=uc.s3_endpoint_url,
        region_name=moto.region,
        aws_access_key_id=moto.access_key,
        aws_secret_access_key=moto.secret_key,
    )
    uc.storage.clear_records()
    with pytest.raises(botocore.exceptions.ClientError) as denied:
        outsider.put_object(Bucket=bucket, Key=f"{key}/extra", Body=b"x")
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert [r.rejection for r in uc.storage.records] == [
        f"UnrecognizedClientException: unknown access key {moto.access_key}"
    ]
    issued = next(iter(uc.service.issued.values()))
    scoped = boto3.client(
        "s3",
        endpoint_url=uc.s3_endpoint_url,
        region_name=moto.region,
        aws_access_key_id=issued.access_key_id,
        aws_secret_access_key=issued.secret_access_key,
        aws_session_token=issued.session_token,
    )
    with pytest.raises(botocore.exceptions.ClientError) as elsewhere:
        scoped.put_object(Bucket=bucket, Key="somewhere/else", Body=b"x")
    assert elsewhere.value.response["Error"]["Code"] == "AccessDenied"
    assert "outside" in uc.storage.records[-1].rejection


def test_credentials_about_to_expire_are_renewed_between_files(moto, tmp_path, request):
    write_model(tmp_path)
    name = model_name(request)
    with run_unity_catalog(moto, token=TOKEN, credential_lifetime_seconds=120) as short_lived:

        async def scenario():
            async with registry_for(short_lived, tmp_path) as registry:
                return await register(registry, name)

        assert run(scenario()).status == reg.READY
        # 120 s is inside the renewal margin: fresh credentials before each of the files.
        assert len(short_lived.service.calls_to("GenerateTemporaryModelVersionCredentials")) == len(
            MODEL_FILES
        )
        location = version_location(short_lived, name, "1")
        assert set(short_lived.service.stored_objects(location)) == set(MODEL_FILES)


@pytest.mark.parametrize(("algorithm", "expected"), [("AWS_SSE_S3", "AES256"), ("AWS_SSE_KMS", "aws:kms")])
def test_uploads_carry_the_encryption_unity_catalog_asks_for(moto, tmp_path, request, algorithm, expected):
    write_model(tmp_path, {"MLmodel": SIGNED_MLMODEL})
    name = model_name(request)
    with run_unity_catalog(moto, token=TOKEN, encryption=algorithm) as encrypted:

        async def scenario():
            async with registry_for(encrypted, tmp_path) as registry:
                return await register(registry, name)

        assert run(scenario()).status == reg.READY
        head = encrypted.service.object_metadata(version_location(encrypted, name, "1"), "MLmodel")
        assert head["ServerSideEncryption"] == expected


@pytest.mark.parametrize(
    ("storage_kind", "named"),
    [
        ("azure_user_delegation_sas", "Azure"),
        ("gcp_oauth_token", "Google Cloud Storage"),
        ("default_storage", "default storage"),
    ],
)
def test_storage_the_gateway_cannot_write_is_refused_and_leaves_no_version(
    moto, tmp_path, request, storage_kind, named
):
    write_model(tmp_path)
    name = model_name(request)
    with run_unity_catalog(moto, token=TOKEN, storage_kind=storage_kind) as other:

        async def scenario():
            async with registry_for(other, tmp_path) as registry:
                await registry.create_registered_model(reg.CreateRegisteredModel(name=name))
                return await failure(
                    registry.create_model_version(reg.CreateModelVersion(name=name, source=SOURCE))
                )

        err = run(scenario())
        assert err.error_code == "NOT_IMPLEMENTED"
        assert named in err.message and "nothing was registered" in err.message
        assert other.service.models[name].versions == {}


def test_a_failed_upload_leaves_no_version_and_no_files(uc, tmp_path, request):
    write_model(tmp_path)
    name = model_name(request)
    # S3 refuses the second file: the first (MLmodel) is already there by then.
    uc.storage.inject(
        "PUT", r"/requirements\.txt$", Respond(403, b"<Error><Code>AccessDenied</Code></Error>")
    )

    async def scenario():
        async with registry_for(uc, tmp_path) as registry:
            await registry.create_registered_model(reg.CreateRegisteredModel(name=name))
            return await failure(
                registry.create_model_version(reg.CreateModelVersion(name=name, source=SOURCE))
            )

    err = run(scenario())
    assert err.error_code == "PERMISSION_DENIED"
    assert "copying the model's files" in err.message and "version was deleted" in err.message
    model = uc.service.models[name]
    assert model.versions == {}
    root = f"s3://{uc.service.bucket}/metastore/models/{model.storage_id}"
    assert uc.service.stored_objects(root) == {}
    assert uc.service.calls_to("DeleteModelVersion")[-1].message.name == name


def test_a_finalize_that_keeps_failing_leaves_no_version(uc, tmp_path, request):
    write_model(tmp_path, {"MLmodel": SIGNED_MLMODEL})
    name = model_name(request)
    uc.api.inject("POST", r"/model-versions/finalize$", *[Respond.unavailable()] * 10)

    async def scenario():
        async with registry_for(uc, tmp_path) as registry:
            await registry.create_registered_model(reg.CreateRegisteredModel(name=name))
            return await failure(
                registry.create_model_version(reg.CreateModelVersion(name=name, source=SOURCE))
            )

    err = run(scenario())
    assert err.error_code == "TEMPORARILY_UNAVAILABLE" and "finalizing" in err.message
    assert uc.service.models[name].versions == {}


def test_retried_creates_and_finalize_make_one_of_each(uc, tmp_path, request):
    """Upstream did the work but the answer was lost: the retry finds it instead of making another."""
    write_model(tmp_path, {"MLmodel": SIGNED_MLMODEL})
    name = model_name(request)
    uc.api.inject("POST", r"/registered-models/create$", ForwardThenReset())
    uc.api.inject("POST", r"/model-versions/create$", ForwardThenReset())
    uc.api.inject("POST", r"/model-versions/finalize$", ForwardThenReset())

    async def scenario():
        async with registry_for(uc, tmp_path) as registry:
            return await register(registry, name)

    version = run(scenario())
    assert uc.api.pending_faults() == 0
    assert version.status == reg.READY and version.version == "1"
    assert list(uc.service.models[name].versions) == [1]


def test_the_model_must_carry_a_signature_as_unity_catalog_requires(uc, tmp_path, request):
    name = model_name(request)
    unsigned = b"artifact_path: model\nflavors:\n  python_function: {}\n"
    inputs_only = unsigned + b'signature:\n  inputs: \'[{"type": "double"}]\'\n'
    write_model(tmp_path, {"MLmodel": unsigned}, "1/unsigned")
    write_model(tmp_path, {"MLmodel": inputs_only}, "1/inputs-only")
    write_model(tmp_path, {"model.pkl": b"x"}, "1/not-a-model")

    async def scenario():
        async with registry_for(uc, tmp_path) as registry:
            await registry.create_registered_model(reg.CreateRegisteredModel(name=name))
            errors = []
            for where in ("unsigned", "inputs-only", "not-a-model"):
                source = f"mlflow-artifacts:/1/{where}"
                errors.append(
                    await failure(
                        registry.create_model_version(reg.CreateModelVersion(name=name, source=source))
                    )
                )
            return errors

    unsigned_err, inputs_err, no_model_err = run(scenario())
    assert all(e.error_code == "INVALID_PARAMETER_VALUE" for e in (unsigned_err, inputs_err, no_model_err))
    assert "did not contain any signature" in unsigned_err.message
    assert "only inputs" in inputs_err.message
    assert "MLmodel" in no_model_err.message
    assert uc.service.models[name].next_version == 1  # nothing was created upstream


def test_run_link_and_prompt_tags_are_refused(uc, tmp_path, request):
    write_model(tmp_path)
    name = model_name(request)

    async def scenario():
        async with registry_for(uc, tmp_path) as registry:
            await registry.create_registered_model(reg.CreateRegisteredModel(name=name))
            link = await failure(
                registry.create_model_version(
                    reg.CreateModelVersion(name=name, source=SOURCE, run_link="http://x")
                )
            )
            prompt = await failure(
                registry.create_model_version(
                    reg.CreateModelVersion(
                        name=name,
                        source=SOURCE,
                        tags=[reg.ModelVersionTag(key="mlflow.prompt.is_prompt", value="true")],
                    )
                )
            )
            return link, prompt

    link, prompt = run(scenario())
    assert link.error_code == "INVALID_PARAMETER_VALUE" and "run_link" in link.message
    assert prompt.error_code == "INVALID_PARAMETER_VALUE" and "Prompts" in prompt.message


def test_aliases_tags_search_update_and_delete_of_versions(uc, tmp_path, request):
    write_model(tmp_path, {"MLmodel": SIGNED_MLMODEL})
    name = model_name(request)

    async def scenario():
        async with registry_for(uc, tmp_path) as registry:
            await register(registry, name)
            second = await registry.create_model_version(reg.CreateModelVersion(name=name, source=SOURCE))
            assert second.model_version.version == "2"

            await registry.set_registered_model_alias(
                reg.SetRegisteredModelAlias(name=name, alias="champion", version="1")
            )
            by_alias = await registry.get_model_version_by_alias(
                reg.GetModelVersionByAlias(name=name, alias="champion")
            )
            assert by_alias.model_version.version == "1"
            assert list(by_alias.model_version.aliases) == ["champion"]
            model = await registry.get_registered_model(reg.GetRegisteredModel(name=name))
            assert [(a.alias, a.version) for a in model.registered_model.aliases] == [("champion", "1")]

            await registry.set_model_version_tag(
                reg.SetModelVersionTag(name=name, version="2", key="stage", value="qa")
            )
            await registry.set_registered_model_tag(
                reg.SetRegisteredModelTag(name=name, key="owner", value="ada")
            )
            v2 = await registry.get_model_version(reg.GetModelVersion(name=name, version="2"))
            assert [(t.key, t.value) for t in v2.model_version.tags] == [("stage", "qa")]
            await registry.delete_model_version_tag(
                reg.DeleteModelVersionTag(name=name, version="2", key="stage")
            )
            await registry.delete_registered_model_tag(reg.DeleteRegisteredModelTag(name=name, key="owner"))
            v2 = await registry.get_model_version(reg.GetModelVersion(name=name, version="2"))
            assert list(v2.model_version.tags) == []
            bad_tag = await failure(
                registry.set_registered_model_tag(reg.SetRegisteredModelTag(name=name, key="a.b", value="x"))
            )
            assert bad_tag.error_code == "INVALID_PARAMETER_VALUE"  # UC's tag rule, from upstream

            updated = await registry.update_model_version(
                reg.UpdateModelVersion(name=name, version="2", description="d")
            )
            assert updated.model_version.description == "d"
            found = await registry.search_model_versions(reg.SearchModelVersions(filter=f"name='{name}'"))
            assert sorted(v.version for v in found.model_versions) == ["1", "2"]
            assert all(v.source == SOURCE for v in found.model_versions)
            err = await failure(
                registry.search_model_versions(reg.SearchModelVersions(order_by=["version DESC"]))
            )
            assert err.error_code == "INVALID_PARAMETER_VALUE"
            uri = await registry.get_model_version_download_uri(
                reg.GetModelVersionDownloadUri(name=name, version="1")
            )
            assert uri.artifact_uri == SOURCE

            location = version_location(uc, name, "1")
            await registry.delete_model_version(reg.DeleteModelVersion(name=name, version="1"))
            assert uc.service.stored_objects(location) == {}
            gone = await failure(
                registry.get_model_version_by_alias(reg.GetModelVersionByAlias(name=name, alias="champion"))
            )
            assert gone.error_code == "RESOURCE_DOES_NOT_EXIST"
            await registry.set_registered_model_alias(
                reg.SetRegisteredModelAlias(name=name, alias="next", version="2")
            )
            await registry.delete_registered_model_alias(
                reg.DeleteRegisteredModelAlias(name=name, alias="next")
            )
            model = await registry.get_registered_model(reg.GetRegisteredModel(name=name))
            assert list(model.registered_model.aliases) == []

    run(scenario())
