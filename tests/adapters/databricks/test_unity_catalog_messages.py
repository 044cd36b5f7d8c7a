"""UC JSON ↔ flowport registry messages (uc_messages.py), names and MLflow's prompt clause, checked
against MLflow's own UC messages: what the adapter reads is what MLflow's messages write."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format
from mlflow.protos import databricks_uc_registry_messages_pb2 as uc
from mlflow.utils.proto_json_utils import message_to_json

from flowport.adapters.databricks import uc_messages
from flowport.adapters.databricks.unity_catalog import split_prompt_clause, three_level_name
from flowport.v1 import registry_pb2 as reg
from flowport.v1.errors import ApiError


def as_json(message) -> dict:
    return json.loads(message_to_json(message))


def test_a_uc_model_version_becomes_flowports():
    version = uc.ModelVersion(
        name="main.default.m",
        version="3",
        creation_timestamp=1700000000000,
        source="dbfs:/databricks/mlflow-tracking/1/r/artifacts/model",
        run_id="r",
        run_experiment_id="1",
        status=uc.READY,
        storage_location="s3://bucket/models/x/versions/y",
        aliases=[uc.RegisteredModelAlias(alias="champion", version="3")],
        tags=[uc.ModelVersionTag(key="k", value="v")],
        model_id="m-1",
        model_params=[uc.ModelParam(name="alpha", value="0.5")],
    )
    data = as_json(version)
    data["a_field_from_the_future"] = {"x": 1}
    ours = uc_messages.model_version(data, "dbx")
    assert (ours.name, ours.version, ours.creation_timestamp) == ("main.default.m", "3", 1700000000000)
    assert ours.status == reg.READY and list(ours.aliases) == ["champion"]
    assert [(t.key, t.value) for t in ours.tags] == [("k", "v")]
    assert [(p.name, p.value) for p in ours.model_params] == [("alpha", "0.5")]
    assert ours.model_id == "m-1" and not ours.HasField("current_stage")
    assert uc_messages.storage_location(data) == "s3://bucket/models/x/versions/y"


def test_an_unspecified_status_is_left_unset():
    ours = uc_messages.model_version(
        as_json(uc.ModelVersion(name="a.b.c", version="1", status=uc.UNSPECIFIED)), "dbx"
    )
    assert not ours.HasField("status")


def test_a_uc_registered_model_becomes_flowports():
    model = uc.RegisteredModel(
        name="main.default.m",
        description="d",
        aliases=[uc.RegisteredModelAlias(alias="a", version="1")],
        tags=[uc.RegisteredModelTag(key="k", value="v")],
    )
    ours = uc_messages.registered_model(as_json(model), "dbx")
    assert [(a.alias, a.version) for a in ours.aliases] == [("a", "1")]
    assert ours.description == "d" and [(t.key, t.value) for t in ours.tags] == [("k", "v")]


def test_an_unreadable_answer_names_the_backend():
    with pytest.raises(ApiError) as caught:
        uc_messages.model_version({"version": {"not": "a string"}}, "dbx")
    assert caught.value.error_code == "INTERNAL_ERROR" and "dbx" in caught.value.message


_TAG = reg.RegisteredModelTag(key="k", value="v")
_REQUESTS = [
    (reg.CreateRegisteredModel(name="a.b.c", description="d", tags=[_TAG]), uc.CreateRegisteredModelRequest),
    (reg.UpdateRegisteredModel(name="a.b.c", description="d"), uc.UpdateRegisteredModelRequest),
    (reg.SetModelVersionTag(name="a.b.c", version="1", key="k", value="v"), uc.SetModelVersionTagRequest),
    (reg.SetRegisteredModelAlias(name="a.b.c", alias="x", version="1"), uc.SetRegisteredModelAliasRequest),
    (reg.GetModelVersionByAlias(name="a.b.c", alias="x"), uc.GetModelVersionByAliasRequest),
    (reg.DeleteModelVersion(name="a.b.c", version="2"), uc.DeleteModelVersionRequest),
]


@pytest.mark.parametrize(("request_message", "uc_class"), _REQUESTS)
def test_request_bodies_are_mlflows_uc_requests(request_message, uc_class):
    body = uc_messages.request_json(request_message)
    parsed = uc_class()
    json_format.ParseDict(body, parsed, ignore_unknown_fields=False)  # an unknown field would raise
    assert as_json(parsed) == body


@pytest.mark.parametrize(
    ("sent", "remaining", "prompts_only"),
    [
        ("tag.`mlflow.prompt.is_prompt` != 'true'", "", False),
        ("tag.`mlflow.prompt.is_prompt` = 'true'", "", True),
        ("tags.`mlflow.prompt.is_prompt` = 'false'", "", False),
        ("name LIKE 'a%' AND tag.`mlflow.prompt.is_prompt` != 'true'", "name LIKE 'a%'", False),
        ("tag.`mlflow.prompt.is_prompt` != 'true' and name = 'x'", "name = 'x'", False),
        ("name = 'x'", "name = 'x'", False),
        ("", "", False),
    ],
)
def test_mlflows_prompt_clause_is_split_off(sent, remaining, prompts_only):
    assert split_prompt_clause(sent) == (remaining, prompts_only)


@pytest.mark.parametrize("name", ["main.default.model", "c.s.m"])
def test_three_level_names_pass(name):
    assert three_level_name(name) == name


@pytest.mark.parametrize("name", ["m", "s.m", ".s.m", "c..m", "a.b.c.d", " . . "])
def test_other_names_are_refused_with_the_form_explained(name):
    with pytest.raises(ApiError) as caught:
        three_level_name(name)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "catalog.schema.model" in caught.value.message
