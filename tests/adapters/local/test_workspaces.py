"""Two workspaces on one local backend (SQLite and PostgreSQL): the same names live in both, an id
of one is RESOURCE_DOES_NOT_EXIST in the other, searches and deletes stay inside their workspace."""

from __future__ import annotations

import pytest

from flowport.adapters.local.db import Sessions
from flowport.adapters.local.logged_model_store import LoggedModelStore
from flowport.adapters.local.registry_store import RegistryStore
from flowport.adapters.local.trace_store import TraceStore
from flowport.adapters.local.tracking_store import TrackingStore
from flowport.adapters.workspace_scope import in_workspace
from flowport.v1 import registry_pb2 as rpb
from flowport.v1 import tracing_pb2 as tpb
from flowport.v1 import tracking_pb2 as pb
from flowport.v1.errors import ApiError

TEAM = "team-a"


class Stores:
    def __init__(self, engine) -> None:  # noqa: ANN001
        sessions = Sessions(engine)
        self.tracking = TrackingStore(sessions)
        self.registry = RegistryStore(sessions)
        self.logged_models = LoggedModelStore(sessions)
        self.traces = TraceStore(sessions)


@pytest.fixture
def stores(engine) -> Stores:
    s = Stores(engine)
    s.tracking.ensure_default_experiment()
    return s


def _missing(call, *args) -> ApiError:  # noqa: ANN001
    """The call fails as if the object did not exist: never a different error that would leak it."""
    with pytest.raises(ApiError) as info:
        call(*args)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST", info.value.message
    return info.value


def _experiment(stores: Stores, name: str) -> str:
    return stores.tracking.create_experiment(pb.CreateExperiment(name=name)).experiment_id


def _run(stores: Stores, experiment_id: str) -> str:
    return stores.tracking.create_run(pb.CreateRun(experiment_id=experiment_id)).run.info.run_id


def _start_trace(stores: Stores, trace_id: str, experiment_id: str) -> None:
    info = tpb.TraceInfoV3(trace_id=trace_id, state="OK")
    info.trace_location.mlflow_experiment.experiment_id = experiment_id
    info.request_time.FromMilliseconds(1_700_000_000_000)
    stores.traces.start_trace_v3(tpb.StartTraceV3(trace=tpb.Trace(trace_info=info)))


def test_the_same_experiment_name_lives_in_each_workspace(stores):
    default_id = _experiment(stores, "shared")
    with in_workspace(TEAM):
        team_id = _experiment(stores, "shared")
        found = stores.tracking.get_experiment_by_name(pb.GetExperimentByName(experiment_name="shared"))
        with pytest.raises(ApiError) as twice:
            _experiment(stores, "shared")
    assert twice.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert team_id != default_id
    assert found.experiment.experiment_id == team_id
    assert found.experiment.workspace == TEAM
    # MLflow's layout: non-default workspaces under workspaces/<name>/, default keeps the root.
    assert found.experiment.artifact_location == f"mlflow-artifacts:/workspaces/{TEAM}/{team_id}"
    default = stores.tracking.get_experiment_by_name(pb.GetExperimentByName(experiment_name="shared"))
    assert default.experiment.experiment_id == default_id
    assert default.experiment.workspace == "default"
    assert default.experiment.artifact_location == f"mlflow-artifacts:/{default_id}"


def test_experiment_and_run_ids_are_unreachable_from_another_workspace(stores):
    with in_workspace(TEAM):
        exp = _experiment(stores, "secret")
        run = _run(stores, exp)
        stores.tracking.log_metric(pb.LogMetric(run_id=run, key="loss", value=0.5, timestamp=1, step=0))
        run_uri = stores.tracking.run_artifact_uri(run)
    assert run_uri.startswith(f"mlflow-artifacts:/workspaces/{TEAM}/{exp}/{run}")
    for workspace in ("default", "team-b"):
        with in_workspace(workspace):
            t = stores.tracking
            _missing(t.get_experiment, pb.GetExperiment(experiment_id=exp))
            _missing(t.get_experiment_by_name, pb.GetExperimentByName(experiment_name="secret"))
            _missing(t.update_experiment, pb.UpdateExperiment(experiment_id=exp, new_name="mine"))
            _missing(t.delete_experiment, pb.DeleteExperiment(experiment_id=exp))
            _missing(t.set_experiment_tag, pb.SetExperimentTag(experiment_id=exp, key="k", value="v"))
            _missing(t.create_run, pb.CreateRun(experiment_id=exp))
            _missing(t.get_run, pb.GetRun(run_id=run))
            _missing(t.update_run, pb.UpdateRun(run_id=run, status=pb.FINISHED))
            _missing(t.delete_run, pb.DeleteRun(run_id=run))
            _missing(t.set_tag, pb.SetTag(run_id=run, key="k", value="v"))
            _missing(t.log_param, pb.LogParam(run_id=run, key="p", value="1"))
            _missing(t.log_metric, pb.LogMetric(run_id=run, key="loss", value=1.0, timestamp=2))
            _missing(t.log_batch, pb.LogBatch(run_id=run, params=[pb.Param(key="p", value="1")]))
            _missing(t.run_artifact_uri, run)
            history = t.get_metric_history(pb.GetMetricHistory(run_id=run, metric_key="loss"))
            assert list(history.metrics) == []
            bulk = t.get_metric_history_bulk_interval(
                pb.GetMetricHistoryBulkInterval(run_ids=[run], metric_key="loss")
            )
            assert list(bulk.metrics) == []
    with in_workspace(TEAM):
        # The default workspace's experiment 0 ("Default") is not this workspace's.
        _missing(stores.tracking.get_experiment, pb.GetExperiment(experiment_id="0"))
        run_back = stores.tracking.get_run(pb.GetRun(run_id=run)).run
    assert run_back.data.metrics[0].value == 0.5
    assert not run_back.data.params  # nothing written by the refused calls


def test_searches_only_see_the_current_workspace(stores):
    default_exp = _experiment(stores, "shared")
    default_run = _run(stores, default_exp)
    with in_workspace(TEAM):
        team_exp = _experiment(stores, "shared")
        team_run = _run(stores, team_exp)
    both = [default_exp, team_exp]
    for workspace, exp, run, names in [
        ("default", default_exp, default_run, {"Default", "shared"}),
        (TEAM, team_exp, team_run, {"shared"}),
    ]:
        with in_workspace(workspace):
            found = stores.tracking.search_experiments(pb.SearchExperiments(max_results=100))
            assert {e.name for e in found.experiments} == names
            assert exp in {e.experiment_id for e in found.experiments}
            runs = stores.tracking.search_runs(pb.SearchRuns(experiment_ids=both, max_results=100))
            assert [r.info.run_id for r in runs.runs] == [run]
    with in_workspace("empty"):
        assert not stores.tracking.search_experiments(pb.SearchExperiments(max_results=100)).experiments


def _model_with_versions(stores: Stores, name: str, sources: list[str], alias_to: int) -> None:
    r = stores.registry
    r.create_registered_model(
        rpb.CreateRegisteredModel(name=name, tags=[rpb.RegisteredModelTag(key="t", value="1")])
    )
    for source in sources:
        r.create_model_version(rpb.CreateModelVersion(name=name, source=source))
    r.set_registered_model_alias(
        rpb.SetRegisteredModelAlias(name=name, alias="champion", version=str(alias_to))
    )
    r.set_model_version_tag(rpb.SetModelVersionTag(name=name, version=str(alias_to), key="ok", value="yes"))


def test_registered_models_versions_tags_and_aliases_are_per_workspace(stores):
    r = stores.registry
    _model_with_versions(stores, "clf", ["s3://b/default-1"], alias_to=1)
    with in_workspace(TEAM):
        _model_with_versions(stores, "clf", ["s3://b/team-1", "s3://b/team-2"], alias_to=2)
        _model_with_versions(stores, "team-only", ["s3://b/t"], alias_to=1)
        r.create_registered_model(
            rpb.CreateRegisteredModel(
                name="greeting", tags=[rpb.RegisteredModelTag(key="mlflow.prompt.is_prompt", value="true")]
            )
        )
        team_alias = r.get_model_version_by_alias(rpb.GetModelVersionByAlias(name="clf", alias="champion"))
        team_models = r.search_registered_models(rpb.SearchRegisteredModels(max_results=100))
        team_versions = r.search_model_versions(rpb.SearchModelVersions(max_results=100))
    assert (team_alias.model_version.version, team_alias.model_version.source) == ("2", "s3://b/team-2")
    assert list(team_alias.model_version.aliases) == ["champion"]
    assert sorted(m.name for m in team_models.registered_models) == ["clf", "team-only"]
    assert sorted((v.name, v.source) for v in team_versions.model_versions) == [
        ("clf", "s3://b/team-1"),
        ("clf", "s3://b/team-2"),
        ("team-only", "s3://b/t"),
    ]

    default_alias = r.get_model_version_by_alias(rpb.GetModelVersionByAlias(name="clf", alias="champion"))
    assert (default_alias.model_version.version, default_alias.model_version.source) == (
        "1",
        "s3://b/default-1",
    )
    model = r.get_registered_model(rpb.GetRegisteredModel(name="clf")).registered_model
    assert [(a.alias, a.version) for a in model.aliases] == [("champion", "1")]
    assert [v.version for v in model.latest_versions] == ["1"]
    assert [
        m.name
        for m in r.search_registered_models(rpb.SearchRegisteredModels(max_results=100)).registered_models
    ] == ["clf"]
    filtered = r.search_model_versions(rpb.SearchModelVersions(filter="tags.ok = 'yes'", max_results=100))
    assert [(v.name, v.version, v.source) for v in filtered.model_versions] == [
        ("clf", "1", "s3://b/default-1")
    ]

    # Names and versions of the other workspace do not exist here, for reads and for writes.
    _missing(r.get_registered_model, rpb.GetRegisteredModel(name="team-only"))
    _missing(r.get_registered_model, rpb.GetRegisteredModel(name="greeting"))
    _missing(r.get_model_version, rpb.GetModelVersion(name="clf", version="2"))
    _missing(r.get_model_version_download_uri, rpb.GetModelVersionDownloadUri(name="clf", version="2"))
    _missing(r.set_registered_model_tag, rpb.SetRegisteredModelTag(name="team-only", key="k", value="v"))
    _missing(r.delete_registered_model, rpb.DeleteRegisteredModel(name="team-only"))
    _missing(r.create_model_version, rpb.CreateModelVersion(name="team-only", source="s3://b/x"))
    _missing(r.set_registered_model_alias, rpb.SetRegisteredModelAlias(name="clf", alias="best", version="2"))
    _missing(r.update_model_version, rpb.UpdateModelVersion(name="clf", version="2", description="x"))
    # A models:/ source resolves in the current workspace only.
    _missing(r.create_model_version, rpb.CreateModelVersion(name="clf", source="models:/team-only/1"))


def test_deleting_and_renaming_in_one_workspace_never_touches_the_other(stores):
    r, t = stores.registry, stores.tracking
    default_exp = _experiment(stores, "shared")
    default_run = _run(stores, default_exp)
    _model_with_versions(stores, "clf", ["s3://b/default-1"], alias_to=1)
    with in_workspace(TEAM):
        team_exp = _experiment(stores, "shared")
        _run(stores, team_exp)
        _model_with_versions(stores, "clf", ["s3://b/team-1", "s3://b/team-2"], alias_to=2)
        r.rename_registered_model(rpb.RenameRegisteredModel(name="clf", new_name="renamed"))
        r.delete_registered_model(rpb.DeleteRegisteredModel(name="renamed"))
        t.delete_experiment(pb.DeleteExperiment(experiment_id=team_exp))
        assert not r.search_registered_models(rpb.SearchRegisteredModels(max_results=100)).registered_models
        # The name is free again here, and only here.
        r.create_registered_model(rpb.CreateRegisteredModel(name="clf"))
    model = r.get_registered_model(rpb.GetRegisteredModel(name="clf")).registered_model
    assert [(a.alias, a.version) for a in model.aliases] == [("champion", "1")]
    assert [(tag.key, tag.value) for tag in model.tags] == [("t", "1")]
    version = r.get_model_version(rpb.GetModelVersion(name="clf", version="1")).model_version
    assert [(tag.key, tag.value) for tag in version.tags] == [("ok", "yes")]
    assert (
        t.get_experiment(pb.GetExperiment(experiment_id=default_exp)).experiment.lifecycle_stage == "active"
    )
    assert t.get_run(pb.GetRun(run_id=default_run)).run.info.lifecycle_stage == "active"


def test_logged_models_are_unreachable_from_another_workspace(stores):
    lm = stores.logged_models
    with in_workspace(TEAM):
        exp = _experiment(stores, "models")
        model = lm.create_logged_model(pb.CreateLoggedModel(experiment_id=exp, name="clf")).model
        model_id = model.info.model_id
        assert model.info.artifact_uri.startswith(f"mlflow-artifacts:/workspaces/{TEAM}/{exp}/")
        found = lm.search_logged_models(pb.SearchLoggedModels(experiment_ids=[exp]))
        assert [m.info.model_id for m in found.models] == [model_id]
    _missing(lm.get_logged_model, pb.GetLoggedModel(model_id=model_id))
    _missing(lm.create_logged_model, pb.CreateLoggedModel(experiment_id=exp, name="mine"))
    _missing(lm.delete_logged_model, pb.DeleteLoggedModel(model_id=model_id))
    _missing(
        lm.set_logged_model_tags,
        pb.SetLoggedModelTags(model_id=model_id, tags=[pb.LoggedModelTag(key="k", value="v")]),
    )
    _missing(lm.logged_model_artifact_uri, model_id)
    assert not lm.search_logged_models(pb.SearchLoggedModels(experiment_ids=[exp])).models
    # Registering it from here fails as for an unknown model.
    stores.registry.create_registered_model(rpb.CreateRegisteredModel(name="reg"))
    _missing(
        stores.registry.create_model_version,
        rpb.CreateModelVersion(name="reg", source="s3://b/m", model_id=model_id, run_id=""),
    )
    with in_workspace(TEAM):
        assert lm.get_logged_model(pb.GetLoggedModel(model_id=model_id)).model.info.name == "clf"


def test_traces_are_unreachable_from_another_workspace(stores):
    tr = stores.traces
    default_exp = _experiment(stores, "traces")
    with in_workspace(TEAM):
        exp = _experiment(stores, "traces")
        _start_trace(stores, "tr-team", exp)
        tr.set_trace_tag_v3(tpb.SetTraceTagV3(trace_id="tr-team", key="k", value="v"))
    _start_trace(stores, "tr-default", default_exp)

    _missing(tr.get_trace_info_v3, tpb.GetTraceInfoV3(trace_id="tr-team"))
    _missing(tr.set_trace_tag_v3, tpb.SetTraceTagV3(trace_id="tr-team", key="k", value="w"))
    _missing(tr.delete_trace_tag_v3, tpb.DeleteTraceTagV3(trace_id="tr-team", key="k"))
    # Reusing the id in this workspace's experiment must not reveal where it lives.
    err = _missing(_start_trace, stores, "tr-team", default_exp)
    assert exp not in err.message
    search = tpb.SearchTracesV3(max_results=100)
    for experiment_id in (default_exp, exp):
        search.locations.add().mlflow_experiment.experiment_id = experiment_id
    assert [i.trace_id for i in tr.search_traces_v3(search).traces] == ["tr-default"]
    batch = tr.batch_get_trace_infos(tpb.BatchGetTraceInfos(trace_ids=["tr-team", "tr-default"]))
    assert [i.trace_id for i in batch.trace_infos] == ["tr-default"]
    deleted = tr.delete_traces_v3(tpb.DeleteTracesV3(experiment_id=exp, request_ids=["tr-team"]))
    assert deleted.traces_deleted == 0

    with in_workspace(TEAM):
        info = tr.get_trace_info_v3(tpb.GetTraceInfoV3(trace_id="tr-team")).trace.trace_info
        assert info.tags["k"] == "v"
        assert [i.trace_id for i in tr.search_traces_v3(search).traces] == ["tr-team"]


def test_a_non_default_workspace_cannot_choose_an_artifact_location(stores):
    with in_workspace(TEAM), pytest.raises(ApiError) as info:
        stores.tracking.create_experiment(pb.CreateExperiment(name="x", artifact_location="s3://b/elsewhere"))
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    # The default workspace keeps today's behaviour.
    exp = stores.tracking.create_experiment(pb.CreateExperiment(name="x", artifact_location="s3://b/here"))
    got = stores.tracking.get_experiment(pb.GetExperiment(experiment_id=exp.experiment_id))
    assert got.experiment.artifact_location == "s3://b/here"


def test_the_backend_pool_sees_the_callers_workspace(tmp_path):
    """`Backend.run_blocking` carries `current_workspace` into its threads: what the gateway sets
    per call is what the stores scope by."""
    import asyncio

    from flowport.adapters.capabilities import Capability
    from flowport.adapters.local.backend import LocalBackend

    async def scenario() -> tuple[str, str]:
        backend = LocalBackend(
            "local", database_uri=f"sqlite:///{tmp_path / 'db.sqlite'}", artifact_root=tmp_path
        )
        await backend.start()
        try:
            with in_workspace(TEAM):
                created = await backend.run_blocking(
                    backend.tracking.create_experiment, pb.CreateExperiment(name="pooled")
                )
            with in_workspace(TEAM):
                got = await backend.run_blocking(
                    backend.tracking.get_experiment, pb.GetExperiment(experiment_id=created.experiment_id)
                )
            with pytest.raises(ApiError):
                await backend.run_blocking(
                    backend.tracking.get_experiment, pb.GetExperiment(experiment_id=created.experiment_id)
                )
            return got.experiment.workspace, str(Capability.WORKSPACES in backend.capabilities)
        finally:
            await backend.close()

    assert asyncio.run(scenario()) == (TEAM, "True")
