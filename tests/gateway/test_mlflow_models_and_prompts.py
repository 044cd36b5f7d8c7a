"""MLflow 3 logged models and the prompt registry, through the stock `mlflow` client against a real
`flowport serve` (SQLite and PostgreSQL). Each test uses its own experiment and names.
"""

from __future__ import annotations

import json
import threading
import uuid

import mlflow
import pytest
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException


@pytest.fixture
def client(client):
    """conftest's client, plus: the client's background prompt-link threads finish within the test."""
    yield client
    _join_prompt_links()


def _join_prompt_links() -> None:
    """Wait for the threads in which the client links prompts to experiments and models.

    register_prompt and load_prompt start them and return; joining makes their writes part of the
    test, deterministically, and keeps them from outliving the gateway.
    """
    for thread in threading.enumerate():
        if thread.name.startswith("link_prompt"):
            thread.join()


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class _Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [x * 2 for x in model_input]


# ---- logged models -------------------------------------------------------------------------------


def test_pyfunc_log_model_makes_a_ready_logged_model(client):
    experiment_id = mlflow.set_experiment(_name("lm")).experiment_id
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(
            name="doubler", python_model=_Doubler(), params={"alpha": "0.5"}, tags={"team": "ml"}
        )
        mlflow.log_metric("rmse", 0.25, model_id=info.model_id)
    model = client.get_logged_model(info.model_id)
    assert model.status == LoggedModelStatus.READY
    assert model.name == "doubler" and model.experiment_id == experiment_id
    assert model.source_run_id == run.info.run_id
    assert model.artifact_location == f"mlflow-artifacts:/{experiment_id}/models/{info.model_id}/artifacts"
    assert model.params == {"alpha": "0.5"} and model.tags["team"] == "ml"
    assert [(m.key, m.value, m.run_id) for m in model.metrics] == [("rmse", 0.25, run.info.run_id)]

    assert mlflow.pyfunc.load_model(f"models:/{info.model_id}").predict([1, 4]) == [2, 8]
    assert "MLmodel" in {f.path for f in client.list_logged_model_artifacts(info.model_id)}
    # The run records the model as one of its outputs.
    outputs = client.get_run(run.info.run_id).outputs.model_outputs
    assert [o.model_id for o in outputs] == [info.model_id]


def test_logged_model_client_lifecycle(client):
    experiment_id = client.create_experiment(_name("lm-life"))
    model = client.create_logged_model(
        experiment_id, name="bare", tags={"stage": "dev"}, params={"lr": "0.1"}, model_type="agent"
    )
    assert model.status == LoggedModelStatus.PENDING and model.model_type == "agent"
    assert model.model_id.startswith("m-") and model.artifact_location.startswith("mlflow-artifacts:")

    client.log_model_params(model.model_id, {"epochs": "3", "lr": "0.1"})
    # Params are immutable (mlflow server 3.17.2 answers BAD_REQUEST from a leaked IntegrityError).
    with pytest.raises(MlflowException) as info:
        client.log_model_params(model.model_id, {"lr": "0.2"})
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    client.set_logged_model_tags(model.model_id, {"stage": "prod", "owner": "ana"})
    client.delete_logged_model_tag(model.model_id, "owner")
    finalized = client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    assert finalized.status == LoggedModelStatus.READY
    fetched = client.get_logged_model(model.model_id)
    assert fetched.params == {"lr": "0.1", "epochs": "3"}
    assert fetched.tags == {"stage": "prod"}
    assert fetched.last_updated_timestamp >= fetched.creation_timestamp

    with pytest.raises(MlflowException) as info:
        client.delete_logged_model_tag(model.model_id, "never-set")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    client.delete_logged_model(model.model_id)
    with pytest.raises(MlflowException) as info:
        client.get_logged_model(model.model_id)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.search_logged_models([experiment_id]) == []
    # What `mlflow gc` asks for: the deleted model, by `?allow_deleted=true`.
    store = client._tracking_client.store
    assert store.get_logged_model(model.model_id, allow_deleted=True).model_id == model.model_id


def test_missing_logged_model_is_resource_does_not_exist(client):
    with pytest.raises(MlflowException) as info:
        client.get_logged_model(f"m-{uuid.uuid4().hex}")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def _three_models(client, experiment_id: str) -> dict[str, str]:
    """Models a, b, c with params, metrics on two datasets, and tags; returns name → model_id."""
    run = client.create_run(experiment_id)
    ids = {}
    for name, alpha, rmse, eval_rmse in [
        ("a", "0.5", 0.2, 3.0),
        ("b", "0.9", 0.7, 0.1),
        ("c", "0.5", 1.5, 0.4),
    ]:
        model = client.create_logged_model(
            experiment_id, name=name, source_run_id=run.info.run_id, params={"alpha": alpha}
        )
        ids[name] = model.model_id
        # Distinct timestamps: MLflow keys a model metric by (name, timestamp, step, run).
        for ts, dataset, digest, value in [(1, "train", "d1", rmse), (2, "eval", "d2", eval_rmse)]:
            client.log_metric(
                run.info.run_id,
                "rmse",
                value,
                timestamp=1_700_000_000_000 + ts,
                step=0,
                dataset_name=dataset,
                dataset_digest=digest,
                model_id=model.model_id,
            )
    client.set_logged_model_tags(ids["b"], {"release": "v1"})
    client.finalize_logged_model(ids["a"], LoggedModelStatus.READY)
    return ids


def test_search_logged_models_filters(client):
    experiment_id = client.create_experiment(_name("lm-search"))
    ids = _three_models(client, experiment_id)
    by_id = {v: k for k, v in ids.items()}

    def names(filter_string=None, **kwargs):
        models = mlflow.search_logged_models(
            experiment_ids=[experiment_id], filter_string=filter_string, output_format="list", **kwargs
        )
        return sorted(by_id[m.model_id] for m in models)

    assert names() == ["a", "b", "c"]
    assert names("params.alpha = '0.5'") == ["a", "c"]
    assert names("params.alpha != '0.5'") == ["b"]
    assert names("params.alpha IN ('0.9', '0.1')") == ["b"]
    # Any metric row counts when no dataset is given: b has 0.7 on train and 0.1 on eval.
    assert names("metrics.rmse < 0.5") == ["a", "b", "c"]
    assert names("metrics.rmse > 1") == ["a", "c"]
    # A dataset given by name alone matches any digest, as the client documents. (mlflow server
    # 3.17.2 instead matches only metrics logged without a digest, so it answers [] here.)
    assert names("metrics.rmse < 0.5", datasets=[{"dataset_name": "train"}]) == ["a"]
    assert names("metrics.rmse < 0.5", datasets=[{"dataset_name": "eval", "dataset_digest": "d2"}]) == [
        "b",
        "c",
    ]
    assert names("metrics.rmse < 0.5", datasets=[{"dataset_name": "eval", "dataset_digest": "nope"}]) == []
    assert names("name = 'b'") == ["b"]
    assert names("attributes.name LIKE '%'  AND params.alpha = '0.5' AND metrics.rmse <= 0.2") == ["a"]
    assert names("status = 'READY'") == ["a"]
    assert names("tags.release = 'v1'") == ["b"]
    assert names(f"model_id = '{ids['c']}'") == ["c"]

    frame = mlflow.search_logged_models(experiment_ids=[experiment_id], filter_string="name = 'a'")
    assert list(frame["model_id"]) == [ids["a"]]

    with pytest.raises(MlflowException) as info:
        mlflow.search_logged_models(experiment_ids=[experiment_id], filter_string="metrics.rmse < 'x'")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_search_logged_models_order_by_and_pages(client):
    experiment_id = client.create_experiment(_name("lm-order"))
    ids = _three_models(client, experiment_id)
    by_id = {v: k for k, v in ids.items()}

    def order(order_by, **kwargs):
        models = client.search_logged_models([experiment_id], order_by=order_by, **kwargs)
        return [by_id[m.model_id] for m in models]

    assert order([{"field_name": "name", "ascending": False}]) == ["c", "b", "a"]
    assert order([{"field_name": "name"}]) == ["a", "b", "c"]
    # Newest first by default.
    assert order(None) == ["c", "b", "a"]
    # A metric orders by its latest value: eval was logged last.
    assert order([{"field_name": "metrics.rmse", "ascending": True}]) == ["b", "c", "a"]
    assert order([{"field_name": "metrics.rmse", "ascending": True, "dataset_name": "train"}]) == [
        "a",
        "b",
        "c",
    ]
    # a is READY (2), b and c PENDING (1); ties broken by the second key.
    assert order(
        [{"field_name": "status", "ascending": False}, {"field_name": "name", "ascending": False}]
    ) == ["a", "c", "b"]
    with pytest.raises(MlflowException) as info:
        order([{"field_name": "params.alpha"}])
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"

    page1 = client.search_logged_models([experiment_id], max_results=2, order_by=[{"field_name": "name"}])
    assert [by_id[m.model_id] for m in page1] == ["a", "b"] and page1.token
    page2 = client.search_logged_models(
        [experiment_id], max_results=2, order_by=[{"field_name": "name"}], page_token=page1.token
    )
    assert [by_id[m.model_id] for m in page2] == ["c"] and not page2.token


def test_model_metrics_show_on_the_model_and_its_run(client):
    mlflow.set_experiment(_name("lm-metrics"))
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="m", python_model=_Doubler())
        for step in range(3):
            mlflow.log_metric("acc", 0.5 + step / 10, step=step, model_id=info.model_id)
        mlflow.log_metrics({"f1": 0.8, "loss": 0.1}, model_id=info.model_id)
    model = client.get_logged_model(info.model_id)
    assert sorted((m.key, m.step, round(m.value, 6)) for m in model.metrics) == [
        ("acc", 0, 0.5),
        ("acc", 1, 0.6),
        ("acc", 2, 0.7),
        ("f1", 0, 0.8),
        ("loss", 0, 0.1),
    ]
    assert all(m.model_id == info.model_id and m.run_id == run.info.run_id for m in model.metrics)
    assert client.get_run(run.info.run_id).data.metrics["acc"] == pytest.approx(0.7)


def test_register_a_logged_model_by_its_id(client):
    mlflow.set_experiment(_name("lm-register"))
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="m", python_model=_Doubler())
    model_name = _name("from-logged")
    version = mlflow.register_model(f"models:/{info.model_id}", model_name)
    assert version.version == "1" and version.run_id == run.info.run_id
    assert version.source == f"models:/{info.model_id}"
    assert mlflow.pyfunc.load_model(f"models:/{model_name}/1").predict([3]) == [6]
    # The logged model remembers where it was registered. Server and client both append an entry
    # (version as int, then as str), exactly as against `mlflow server` 3.17.2.
    registrations = json.loads(client.get_logged_model(info.model_id).tags["mlflow.modelVersions"])
    assert {(r["name"], str(r["version"])) for r in registrations} == {(model_name, "1")}


def test_set_active_model_by_name_finds_or_creates_one(client):
    mlflow.set_experiment(_name("lm-active"))
    try:
        created = mlflow.set_active_model(name="agent-v1")
        assert mlflow.get_active_model_id() == created.model_id
        # The second call finds the model by `name='agent-v1'` instead of creating another.
        assert mlflow.set_active_model(name="agent-v1").model_id == created.model_id
        assert [m.name for m in mlflow.search_logged_models(output_format="list")] == ["agent-v1"]
    finally:
        mlflow.clear_active_model()


# ---- prompts -------------------------------------------------------------------------------------


def test_register_load_and_format_prompts(client):
    name = _name("greeting")
    v1 = mlflow.genai.register_prompt(
        name=name, template="Hello {{name}}!", commit_message="first", tags={"author": "ana"}
    )
    assert v1.version == 1 and v1.commit_message == "first"
    v2 = mlflow.genai.register_prompt(
        name=name,
        template="Hi {{name}}, you are {{age}} ✓.",
        commit_message="second",
        tags={"author": "bo"},
        response_format={"type": "object", "properties": {"reply": {"type": "string"}}},
        model_config={"model_name": "gpt-4o-mini", "temperature": 0.2},
    )
    assert v2.version == 2

    loaded = mlflow.genai.load_prompt(f"prompts:/{name}/1")
    assert loaded.template == "Hello {{name}}!" and loaded.commit_message == "first"
    assert loaded.format(name="Ada") == "Hello Ada!"
    assert loaded.tags["author"] == "ana"
    loaded = mlflow.genai.load_prompt(name, version=2)
    assert loaded.format(name="Ada", age=36) == "Hi Ada, you are 36 ✓."
    assert loaded.response_format == {"type": "object", "properties": {"reply": {"type": "string"}}}
    assert loaded.model_config == {"model_name": "gpt-4o-mini", "temperature": 0.2}
    latest = mlflow.genai.load_prompt(f"prompts:/{name}@latest", cache_ttl_seconds=0)
    assert latest.version == 2
    # Prompt-level tags follow the latest registration.
    assert mlflow.genai.get_prompt_tags(name)["author"] == "bo"

    chat_name = _name("chat")
    messages = [
        {"role": "system", "content": "You are a {{style}} assistant."},
        {"role": "user", "content": "{{question}}"},
    ]
    mlflow.genai.register_prompt(name=chat_name, template=messages)
    chat = mlflow.genai.load_prompt(f"prompts:/{chat_name}/1")
    assert chat.template == messages and not chat.is_text_prompt
    assert chat.format(style="terse", question="Why?") == [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Why?"},
    ]

    with pytest.raises(MlflowException) as info:
        mlflow.genai.load_prompt(f"prompts:/{name}/7")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert mlflow.genai.load_prompt(f"prompts:/{name}/7", allow_missing=True) is None


def test_prompt_aliases(client):
    name = _name("aliased")
    for text in ("one {{x}}", "two {{x}}", "three {{x}}"):
        mlflow.genai.register_prompt(name=name, template=text)
    mlflow.genai.set_prompt_alias(name, alias="production", version=2)
    assert mlflow.genai.load_prompt(f"prompts:/{name}@production", cache_ttl_seconds=0).version == 2
    assert client.get_prompt_version_by_alias(name, "production").template == "two {{x}}"
    assert client.get_prompt_version(name, 2).aliases == ["production"]

    # Setting an existing alias moves it.
    mlflow.genai.set_prompt_alias(name, alias="production", version=3)
    moved = mlflow.genai.load_prompt(f"prompts:/{name}@production", cache_ttl_seconds=0)
    assert moved.version == 3 and moved.format(x="!") == "three !"

    mlflow.genai.delete_prompt_alias(name, alias="production")
    with pytest.raises(MlflowException) as info:
        mlflow.genai.load_prompt(f"prompts:/{name}@production", cache_ttl_seconds=0)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert (
        mlflow.genai.load_prompt(f"prompts:/{name}@production", allow_missing=True, cache_ttl_seconds=0)
        is None
    )


def test_prompts_and_registered_models_stay_apart(client):
    stem = _name("apart")
    prompt_name, model_name = f"{stem}-prompt", f"{stem}-model"
    mlflow.genai.register_prompt(name=prompt_name, template="t {{a}}", tags={"task": "qa"})
    client.create_registered_model(model_name, tags={"task": "qa"})
    client.create_model_version(model_name, "s3://bucket/model")  # a plain model version

    assert [m.name for m in client.search_registered_models(f"name LIKE '{stem}%'")] == [model_name]
    assert [
        m.name for m in client.search_registered_models("tags.task = 'qa'") if m.name.startswith(stem)
    ] == [model_name]
    assert [p.name for p in mlflow.genai.search_prompts(f"name LIKE '{stem}%'")] == [prompt_name]
    assert [p.name for p in mlflow.genai.search_prompts(f"name LIKE '{stem}%' AND tags.task = 'qa'")] == [
        prompt_name
    ]
    assert [v.name for v in client.search_model_versions(f"name LIKE '{stem}%'")] == [model_name]

    # Names are shared between the two: neither may take the other's.
    with pytest.raises(MlflowException) as info:
        mlflow.genai.register_prompt(name=model_name, template="x")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as info:
        client.create_registered_model(prompt_name)
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"
    # The registry's model view treats a prompt as not found, as mlflow does.
    with pytest.raises(MlflowException) as info:
        client.get_registered_model(prompt_name)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_search_prompts_filters_and_pages(client):
    stem = _name("find")
    for i, task in enumerate(["qa", "qa", "summarize"]):
        mlflow.genai.register_prompt(name=f"{stem}-{i}", template=f"p{i} {{{{q}}}}", tags={"task": task})
    found = mlflow.genai.search_prompts(f"name LIKE '{stem}-%'")
    assert sorted(p.name for p in found) == [f"{stem}-0", f"{stem}-1", f"{stem}-2"]
    assert all("mlflow.prompt.is_prompt" not in p.tags for p in found)
    qa = mlflow.genai.search_prompts(f"name LIKE '{stem}-%' AND tags.task = 'qa'")
    assert sorted(p.name for p in qa) == [f"{stem}-0", f"{stem}-1"]
    assert [p.name for p in mlflow.genai.search_prompts(f"name = '{stem}-2'")] == [f"{stem}-2"]
    assert [p.name for p in mlflow.genai.search_prompts(f"name ILIKE '{stem.upper()}-2'")] == [f"{stem}-2"]

    page1 = client.search_prompts(f"name LIKE '{stem}-%'", max_results=2, order_by=["name DESC"])
    assert [p.name for p in page1] == [f"{stem}-2", f"{stem}-1"] and page1.token
    page2 = client.search_prompts(
        f"name LIKE '{stem}-%'", max_results=2, order_by=["name DESC"], page_token=page1.token
    )
    assert [p.name for p in page2] == [f"{stem}-0"] and not page2.token


def test_search_prompts_by_experiment(client):
    """register_prompt tags the prompt with the active experiment; the client rewrites
    `experiment_id = '...'` into a LIKE on that tag."""
    stem = _name("by-exp")
    experiment_id = mlflow.set_experiment(_name("prompt-home")).experiment_id
    mlflow.genai.register_prompt(name=f"{stem}-in", template="in")
    _join_prompt_links()
    other = mlflow.set_experiment(_name("prompt-elsewhere")).experiment_id
    mlflow.genai.register_prompt(name=f"{stem}-out", template="out")
    _join_prompt_links()
    assert client.get_prompt(f"{stem}-in").tags["_mlflow_experiment_ids"] == f",{experiment_id},"
    found = mlflow.genai.search_prompts(f"experiment_id = '{experiment_id}' AND name LIKE '{stem}%'")
    assert [p.name for p in found] == [f"{stem}-in"]
    found = mlflow.genai.search_prompts(f"experiment_id = '{other}'")
    assert [p.name for p in found] == [f"{stem}-out"]


def test_prompt_versions_search_and_delete(client):
    name = _name("versions")
    for i in range(3):
        mlflow.genai.register_prompt(name=name, template=f"v{i} {{{{x}}}}", commit_message=f"c{i}")
    versions = client.search_prompt_versions(name)
    assert [(v.version, v.template, v.commit_message) for v in versions] == [
        (3, "v2 {{x}}", "c2"),
        (2, "v1 {{x}}", "c1"),
        (1, "v0 {{x}}", "c0"),
    ]
    page = client.search_prompt_versions(name, max_results=2)
    assert [v.version for v in page] == [3, 2] and page.token
    rest = client.search_prompt_versions(name, max_results=2, page_token=page.token)
    assert [v.version for v in rest] == [1]

    client.delete_prompt_version(name, "2")
    assert [v.version for v in client.search_prompt_versions(name)] == [3, 1]
    with pytest.raises(MlflowException) as info:
        client.get_prompt_version(name, 2)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # A deleted version's number is not reused.
    assert mlflow.genai.register_prompt(name=name, template="v3").version == 4

    mlflow.genai.set_prompt_version_tag(name, 4, "reviewed", "yes")
    assert client.get_prompt_version(name, 4).tags["reviewed"] == "yes"
    mlflow.genai.delete_prompt_version_tag(name, 4, "reviewed")
    assert "reviewed" not in client.get_prompt_version(name, 4).tags

    client.delete_prompt(name)
    assert client.get_prompt(name) is None
    assert not [p.name for p in mlflow.genai.search_prompts(f"name = '{name}'")]


def test_prompt_linked_to_a_logged_model_and_run(client):
    experiment_id = client.create_experiment(_name("linked"))
    name = _name("linked-prompt")
    mlflow.genai.register_prompt(name=name, template="Q: {{q}}")
    model = client.create_logged_model(experiment_id, name="agent")
    mlflow.genai.load_prompt(f"prompts:/{name}/1", model_id=model.model_id)
    _join_prompt_links()
    linked = json.loads(client.get_logged_model(model.model_id).tags["mlflow.linkedPrompts"])
    assert linked == [{"name": name, "version": "1"}]

    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.genai.load_prompt(f"prompts:/{name}/1", link_to_model=False)
    # Loading inside a run links the prompt to the run, synchronously, through a run tag.
    run_links = json.loads(client.get_run(run.info.run_id).data.tags["mlflow.linkedPrompts"])
    assert run_links == [{"name": name, "version": "1"}]
