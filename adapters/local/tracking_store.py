"""The local backend's tracking store: experiments, runs, params, metrics, tags, inputs, outputs.

One method per tracking RPC, taking and returning `flowport.v1.tracking_pb2` messages with the
behaviour of `mlflow server` over a SQL database. Every call is one transaction, so a failed call
writes nothing. Blocking: the Backend runs these methods in its thread pool. Artifacts are not
touched here; only their URIs are computed.
"""

from __future__ import annotations

import json
import types
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import exc, orm
from sqlalchemy.dialects import postgresql, sqlite

from flowport.adapters.local import artifact_uris, metric_rows, run_search, schema, search, workspace_rows
from flowport.adapters.local import validation as v
from flowport.adapters.local.clock import now_ms
from flowport.adapters.local.db import Prepared, Sessions, Transaction
from flowport.adapters.local.logged_model_schema import LoggedModel, LoggedModelMetric
from flowport.adapters.local.names import random_name
from flowport.adapters.metric_columns import checked_steps
from flowport.adapters.workspace_scope import DEFAULT_WORKSPACE, workspace
from flowport.v1 import tracking_pb2 as pb
from flowport.v1.errors import already_exists, does_not_exist, invalid_parameter
from flowport.v1.mlflow_tags import RUN_NAME_TAG

DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"
LOGGED_MODELS_TAG = "mlflow.log-model.history"
_STAGES = {
    pb.ACTIVE_ONLY: (schema.ACTIVE,),
    pb.DELETED_ONLY: (schema.DELETED,),
    pb.ALL: (schema.ACTIVE, schema.DELETED),
}
# Bound IN lists well below SQLite's and PostgreSQL's bind-parameter limits.
_CHUNK = 500
_API_DOCS_HINT = " See the API docs for more information about request parameters."


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _append_uri(base: str, *parts: str) -> str:
    if base.startswith(artifact_uris.SCHEME):
        return artifact_uris.uri_for("/".join([artifact_uris.store_path_of(base), *parts]))
    return "/".join([base.rstrip("/"), *parts])


def _insert(session: orm.Session, table: Any) -> Any:
    """A dialect-specific INSERT (for ON CONFLICT) on SQLite and PostgreSQL."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _run_id_of(request: Any) -> str:
    run_id = request.run_id or (request.run_uuid if "run_uuid" in request.DESCRIPTOR.fields_by_name else "")
    if not run_id:
        raise invalid_parameter(v.missing_value("run_id") + _API_DOCS_HINT)
    return run_id


def _run_is_visible(run_uuid: Any) -> sa.ColumnElement[bool]:
    """The run of a child row (metrics, ...) is in the current workspace: another workspace's run
    reads as an unknown one."""
    return sa.exists().where(schema.Run.run_uuid == run_uuid, workspace_rows.run_visible())


def _history_position(after: list[Any]) -> tuple[int, int, float, bool]:
    """The (timestamp, step, value, is_nan) a metric history page token says was served last."""
    try:
        timestamp, step, value, is_nan = after
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (timestamp, step)):
            raise ValueError
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not isinstance(is_nan, bool):
            raise ValueError
    except (TypeError, ValueError):
        raise invalid_parameter(f"Invalid page token, parsed value={after!r}") from None
    return timestamp, step, float(value), is_nan


# Below this many runs in the searched experiments, sorting them all beats walking a metric's values
# in order, which also passes every other experiment's runs with that metric (200 runs beside 10,000
# others: 57 ms walking vs a few sorting).
TIERED_SEARCH_MIN_RUNS = 5000


def _many_runs(s: orm.Session, experiment_ids: list[int]) -> bool:
    """The experiments hold at least TIERED_SEARCH_MIN_RUNS runs (counted no further)."""
    runs = sa.select(sa.literal(1)).where(schema.Run.experiment_id.in_(experiment_ids))
    bounded = runs.limit(TIERED_SEARCH_MIN_RUNS).subquery()
    return s.scalar(sa.select(sa.func.count()).select_from(bounded)) >= TIERED_SEARCH_MIN_RUNS


def _read_tiers(s: orm.Session, tiers: list[sa.Select], offset: int, limit: int) -> list[schema.Run]:
    """Rows `offset` to `offset + limit` of the tiers read one after another. A tier is counted only
    when the page starts past its end."""
    rows: list[schema.Run] = []
    skip = offset
    for stmt in tiers:
        if len(rows) >= limit:
            break
        got = list(s.scalars(stmt.offset(skip).limit(limit - len(rows))))
        if got:
            rows += got
            skip = 0
        elif skip:
            skip -= s.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    return rows


def _batch_points(metrics: Sequence[pb.Metric]) -> list[metric_rows.Point]:
    """(key, value, timestamp, step) of each metric of a batch; MISSING_PARAMETER naming the first one
    that lacks its key, value or timestamp."""
    points = []
    for i, m in enumerate(metrics):
        if not (m.HasField("key") and m.key and m.HasField("value") and m.HasField("timestamp")):
            v.require_value(m.key if m.HasField("key") else None, f"metrics[{i}].key")
            v.require_value(m.value if m.HasField("value") else None, f"metrics[{i}].value")
            v.require_value(m.timestamp if m.HasField("timestamp") else None, f"metrics[{i}].timestamp")
        points.append((m.key, m.value, m.timestamp, m.step))
    return points


def _validate_points(points: Sequence[metric_rows.Point]) -> None:
    """`validate_metric` on each point, in order; a name is checked once (only its first point can
    fail on it), a timestamp every time."""
    named: set[str] = set()
    for i, (key, value, timestamp, step) in enumerate(points):
        if timestamp < 0 or key not in named:
            v.validate_metric(key, value, timestamp, step, path=f"metrics[{i}]")
            named.add(key)


_E, _R = schema.Experiment, schema.Run
# The lookups and inserts of runs/create and log-metric, compiled once (db.Prepared). The workspace
# is a parameter, with workspace_rows' rule: an experiment is its workspace's, a run its experiment's.
_EXPERIMENT_ROW = _E.experiment_id == sa.bindparam("experiment_id"), _E.workspace == sa.bindparam("workspace")
_RUN_ROW = (
    _R.run_uuid == sa.bindparam("run_id"),
    _R.experiment_id.in_(sa.select(_E.experiment_id).where(_E.workspace == sa.bindparam("workspace"))),
)
_EXPERIMENT_STATE = Prepared(
    sa.select(_E.experiment_id, _E.artifact_location, _E.lifecycle_stage).where(*_EXPERIMENT_ROW)
)
_RUN_STATE = Prepared(sa.select(_R.run_uuid, _R.experiment_id, _R.lifecycle_stage).where(*_RUN_ROW))
_RUN_COLUMNS = tuple(c.key for c in _R.__table__.columns)
_INSERT_RUN = Prepared(sa.insert(_R.__table__), column_keys=_RUN_COLUMNS)
_INSERT_TAG = Prepared(sa.insert(schema.Tag.__table__), column_keys=("key", "value", "run_uuid"))
# The ORM reads of one experiment or run, built once; `stages` is an expanding IN list.
_SELECT_EXPERIMENT = sa.select(_E).where(
    *_EXPERIMENT_ROW, _E.lifecycle_stage.in_(sa.bindparam("stages", expanding=True))
)
_SELECT_RUN = sa.select(_R).where(*_RUN_ROW)


class _ExperimentState(NamedTuple):  # a row of _EXPERIMENT_STATE
    experiment_id: int
    artifact_location: str | None
    lifecycle_stage: str | None


class _RunState(NamedTuple):  # a row of _RUN_STATE
    run_uuid: str
    experiment_id: int
    lifecycle_stage: str | None


def _require_active_run(run_uuid: str, lifecycle_stage: str | None) -> None:
    if lifecycle_stage != schema.ACTIVE:
        raise invalid_parameter(
            f"The run {run_uuid} must be in the 'active' state. Current state is {lifecycle_stage}."
        )


def _column(i: int, column: pb.MetricColumn) -> metric_rows.Column:
    """A stream's column, checked as LogBatch checks each of its metrics."""
    path = f"columns[{i}]"
    v.require_value(column.key, f"{path}.key")
    steps = checked_steps(i, column)
    values, timestamps = column.values, column.timestamps
    if values:
        first_bad = next((j for j, t in enumerate(timestamps) if t < 0), 0) if min(timestamps) < 0 else 0
        v.validate_metric(column.key, values[first_bad], timestamps[first_bad], 0, path=path)
    return column.key, values, timestamps, steps


class TrackingStore:
    """Experiments and runs over the local database; see the module docstring."""

    def __init__(self, sessions: Sessions, default_artifact_root: str = "mlflow-artifacts:/") -> None:
        self._sessions = sessions
        self._root = default_artifact_root

    # ---- experiments -------------------------------------------------------------------------

    def ensure_default_experiment(self) -> None:
        """Create experiment "0" named "Default" unless it exists (idempotent across replicas).

        As MLflow's workspace store, it belongs to the `default` workspace; other workspaces start
        empty, and experiment 0 is not theirs."""
        with self._sessions.transaction() as s:
            if s.get(schema.Experiment, DEFAULT_EXPERIMENT_ID) is not None:
                return
        now = now_ms()
        try:
            with self._sessions.transaction() as s:
                s.execute(
                    sa.insert(schema.Experiment).values(
                        experiment_id=DEFAULT_EXPERIMENT_ID,
                        name=DEFAULT_EXPERIMENT_NAME,
                        workspace=schema.DEFAULT_WORKSPACE,
                        artifact_location=_append_uri(self._root, str(DEFAULT_EXPERIMENT_ID)),
                        lifecycle_stage=schema.ACTIVE,
                        creation_time=now,
                        last_update_time=now,
                    )
                )
        except exc.IntegrityError:
            with self._sessions.transaction() as s:
                if s.get(schema.Experiment, DEFAULT_EXPERIMENT_ID) is None:
                    raise

    def _experiment(
        self,
        s: orm.Session,
        experiment_id: str | int,
        stages: Iterable[str] = _STAGES[pb.ALL],
        *,
        lock: bool = False,
    ) -> schema.Experiment:
        eid = v.parse_experiment_id(experiment_id)
        stmt = _SELECT_EXPERIMENT.with_for_update() if lock else _SELECT_EXPERIMENT
        params = {"experiment_id": eid, "workspace": workspace(), "stages": list(stages)}
        row = s.scalars(stmt, params).one_or_none()
        if row is None:
            raise does_not_exist(f"No Experiment with id={eid} exists")
        return row

    def _experiment_state(self, s: Transaction, experiment_id: str | int) -> _ExperimentState:
        """(experiment_id, artifact_location, lifecycle_stage) of a visible experiment, as `_experiment`
        finds it in any stage, without loading it through the ORM."""
        eid = v.parse_experiment_id(experiment_id)
        row = _EXPERIMENT_STATE.first(s, {"experiment_id": eid, "workspace": workspace()})
        if row is None:
            raise does_not_exist(f"No Experiment with id={eid} exists")
        return _ExperimentState(*row)

    @staticmethod
    def _check_experiment_active(row: schema.Experiment | _ExperimentState) -> None:
        if row.lifecycle_stage != schema.ACTIVE:
            raise invalid_parameter(
                f"The experiment {row.experiment_id} must be in the 'active' state. "
                f"Current state is {row.lifecycle_stage}."
            )

    def _experiment_protos(self, s: orm.Session, rows: Sequence[schema.Experiment]) -> list[pb.Experiment]:
        tags: dict[int, list[schema.ExperimentTag]] = defaultdict(list)
        ids = [r.experiment_id for r in rows]
        for chunk in _chunks(ids):
            stmt = (
                sa.select(schema.ExperimentTag)
                .where(schema.ExperimentTag.experiment_id.in_(chunk))
                .order_by(schema.ExperimentTag.key)
            )
            for tag in s.scalars(stmt):
                tags[tag.experiment_id].append(tag)
        out = []
        for r in rows:
            e = pb.Experiment(
                experiment_id=str(r.experiment_id),
                name=r.name,
                lifecycle_stage=r.lifecycle_stage,
                workspace=r.workspace,
            )
            if r.artifact_location is not None:
                e.artifact_location = r.artifact_location
            if r.creation_time:
                e.creation_time = r.creation_time
            if r.last_update_time:
                e.last_update_time = r.last_update_time
            for t in tags[r.experiment_id]:
                tag = e.tags.add(key=t.key)
                if t.value is not None:
                    tag.value = t.value
            out.append(e)
        return out

    def create_experiment(self, request: pb.CreateExperiment) -> pb.CreateExperiment.Response:
        v.require(request, "name")
        v.validate_experiment_name(request.name)
        location = request.artifact_location or None
        current = workspace()
        if location:
            if current != DEFAULT_WORKSPACE:
                # As MLflow with workspaces on: a chosen location could reach into another
                # workspace's artifacts, so only the default workspace (today's behaviour) may pick.
                raise invalid_parameter("artifact_location cannot be specified when workspaces are enabled")
            v.validate_artifact_location(location)
        tags: dict[str, str] = {}
        for t in request.tags:
            v.validate_experiment_tag(t.key, t.value)
            tags[t.key] = t.value
        now = now_ms()
        with self._sessions.transaction() as s:
            row = schema.Experiment(
                name=request.name,
                workspace=current,
                artifact_location=location,
                lifecycle_stage=schema.ACTIVE,
                creation_time=now,
                last_update_time=now,
            )
            s.add(row)
            try:
                s.flush()
            except exc.IntegrityError:
                raise already_exists(f"Experiment(name={request.name}) already exists.") from None
            if location is None:
                row.artifact_location = _append_uri(
                    self._root, *workspace_rows.artifact_prefix(), str(row.experiment_id)
                )
            if tags:
                s.execute(
                    sa.insert(schema.ExperimentTag),
                    [{"experiment_id": row.experiment_id, "key": k, "value": val} for k, val in tags.items()],
                )
            return pb.CreateExperiment.Response(experiment_id=str(row.experiment_id))

    def get_experiment(self, request: pb.GetExperiment) -> pb.GetExperiment.Response:
        v.require(request, "experiment_id")
        with self._sessions.transaction() as s:
            row = self._experiment(s, request.experiment_id)
            return pb.GetExperiment.Response(experiment=self._experiment_protos(s, [row])[0])

    def get_experiment_by_name(self, request: pb.GetExperimentByName) -> pb.GetExperimentByName.Response:
        v.require(request, "experiment_name")
        with self._sessions.transaction() as s:
            row = s.scalars(
                sa.select(schema.Experiment).where(
                    schema.Experiment.name == request.experiment_name,
                    workspace_rows.experiment_visible(),
                )
            ).one_or_none()
            if row is None:
                raise does_not_exist(f"Could not find experiment with name '{request.experiment_name}'")
            return pb.GetExperimentByName.Response(experiment=self._experiment_protos(s, [row])[0])

    def search_experiments(self, request: pb.SearchExperiments) -> pb.SearchExperiments.Response:
        # An unset max_results reads as 0 in proto2; treat it as MLflow's client default.
        max_results = request.max_results if request.HasField("max_results") else v.SEARCH_MAX_RESULTS_DEFAULT
        v.validate_max_results(max_results)
        stages = _STAGES.get(request.view_type, _STAGES[pb.ACTIVE_ONLY])
        comparisons = search.parse_experiment_filter(request.filter) if request.filter else []
        order_keys = search.parse_experiment_order_by(list(request.order_by))
        offset = search.decode_page_token(request.page_token or None)
        with self._sessions.transaction() as s:
            stmt = (
                sa.select(schema.Experiment)
                .where(
                    workspace_rows.experiment_visible(),
                    schema.Experiment.lifecycle_stage.in_(stages),
                    *run_search.experiment_filter_clauses(comparisons),
                )
                .order_by(*run_search.experiment_order_clauses(order_keys))
                .offset(offset)
                .limit(max_results + 1)
            )
            rows = list(s.scalars(stmt))
            response = pb.SearchExperiments.Response()
            response.experiments.extend(self._experiment_protos(s, rows[:max_results]))
            if len(rows) > max_results:
                response.next_page_token = search.encode_page_token(offset + max_results)
            return response

    def delete_experiment(self, request: pb.DeleteExperiment) -> pb.DeleteExperiment.Response:
        v.require(request, "experiment_id")
        now = now_ms()
        with self._sessions.transaction() as s:
            row = self._experiment(s, request.experiment_id, _STAGES[pb.ACTIVE_ONLY], lock=True)
            row.lifecycle_stage = schema.DELETED
            row.last_update_time = now
            s.execute(
                sa.update(schema.Run)
                .where(schema.Run.experiment_id == row.experiment_id)
                .values(lifecycle_stage=schema.DELETED, deleted_time=now)
            )
        return pb.DeleteExperiment.Response()

    def restore_experiment(self, request: pb.RestoreExperiment) -> pb.RestoreExperiment.Response:
        v.require(request, "experiment_id")
        with self._sessions.transaction() as s:
            row = self._experiment(s, request.experiment_id, _STAGES[pb.DELETED_ONLY], lock=True)
            row.lifecycle_stage = schema.ACTIVE
            row.last_update_time = now_ms()
            s.execute(
                sa.update(schema.Run)
                .where(schema.Run.experiment_id == row.experiment_id)
                .values(lifecycle_stage=schema.ACTIVE, deleted_time=None)
            )
        return pb.RestoreExperiment.Response()

    def update_experiment(self, request: pb.UpdateExperiment) -> pb.UpdateExperiment.Response:
        v.require(request, "experiment_id", "new_name")
        v.validate_experiment_name(request.new_name)
        with self._sessions.transaction() as s:
            row = self._experiment(s, request.experiment_id, lock=True)
            if row.lifecycle_stage != schema.ACTIVE:
                raise v.state_error("Cannot rename a non-active experiment.")
            row.name = request.new_name
            row.last_update_time = now_ms()
            try:
                s.flush()
            except exc.IntegrityError:
                raise already_exists(f"Experiment(name={request.new_name}) already exists.") from None
        return pb.UpdateExperiment.Response()

    def set_experiment_tag(self, request: pb.SetExperimentTag) -> pb.SetExperimentTag.Response:
        v.require(request, "experiment_id", "key")
        v.validate_experiment_tag(request.key, request.value)
        with self._sessions.transaction() as s:
            row = self._experiment(s, request.experiment_id)
            self._check_experiment_active(row)
            stmt = _insert(s, schema.ExperimentTag).values(
                experiment_id=row.experiment_id, key=request.key, value=request.value
            )
            s.execute(
                stmt.on_conflict_do_update(
                    index_elements=["key", "experiment_id"], set_={"value": stmt.excluded.value}
                )
            )
        return pb.SetExperimentTag.Response()

    def delete_experiment_tag(self, request: pb.DeleteExperimentTag) -> pb.DeleteExperimentTag.Response:
        v.require(request, "experiment_id", "key")
        with self._sessions.transaction() as s:
            row = self._experiment(s, request.experiment_id)
            self._check_experiment_active(row)
            deleted = s.execute(
                sa.delete(schema.ExperimentTag).where(
                    schema.ExperimentTag.experiment_id == row.experiment_id,
                    schema.ExperimentTag.key == request.key,
                )
            )
            if deleted.rowcount == 0:
                raise does_not_exist(
                    f"No tag with name: {request.key} in experiment with id {request.experiment_id}"
                )
        return pb.DeleteExperimentTag.Response()

    # ---- runs ----------------------------------------------------------------------------------

    def _run(self, s: orm.Session, run_id: str, *, lock: bool = False) -> schema.Run:
        stmt = _SELECT_RUN.with_for_update() if lock else _SELECT_RUN
        row = s.scalars(stmt, {"run_id": run_id, "workspace": workspace()}).one_or_none()
        if row is None:
            raise does_not_exist(f"Run with id={run_id} not found")
        return row

    def _active_run(self, s: orm.Session, run_id: str, *, lock: bool = False) -> schema.Run:
        row = self._run(s, run_id, lock=lock)
        _require_active_run(row.run_uuid, row.lifecycle_stage)
        return row

    def _active_run_state(self, s: Transaction, run_id: str) -> _RunState:
        """(run_uuid, experiment_id, lifecycle_stage) of a visible active run, checked as `_active_run`
        checks it, without loading it through the ORM."""
        found = _RUN_STATE.first(s, {"run_id": run_id, "workspace": workspace()})
        if found is None:
            raise does_not_exist(f"Run with id={run_id} not found")
        row = _RunState(*found)
        _require_active_run(row.run_uuid, row.lifecycle_stage)
        return row

    def run_artifact_uri(self, run_id: str) -> str:
        """The run's artifact root URI; RESOURCE_DOES_NOT_EXIST for an unknown run."""
        with self._sessions.transaction() as s:
            return self._run(s, run_id).artifact_uri or ""

    @staticmethod
    def _run_info(row: schema.Run | types.SimpleNamespace, run_name: str | None) -> pb.RunInfo:
        info = pb.RunInfo(
            run_uuid=row.run_uuid,
            run_id=row.run_uuid,
            experiment_id=str(row.experiment_id),
            lifecycle_stage=row.lifecycle_stage,
        )
        name = row.name or run_name
        if name is not None:
            info.run_name = name
        if row.user_id is not None:
            info.user_id = row.user_id
        if row.status:
            info.status = pb.RunStatus.Value(row.status)
        if row.start_time is not None:
            info.start_time = row.start_time
        if row.end_time:
            info.end_time = row.end_time
        if row.artifact_uri:
            info.artifact_uri = row.artifact_uri
        return info

    def _run_protos(
        self, s: orm.Session, rows: Sequence[schema.Run], *, model_inputs: bool = False
    ) -> list[pb.Run]:
        """Runs with data, inputs and outputs, loaded with a few IN queries for the whole page."""
        ids = [r.run_uuid for r in rows]
        params: dict[str, list[tuple[str, str]]] = defaultdict(list)
        tags: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        metrics: dict[str, list[pb.Metric]] = defaultdict(list)
        datasets: dict[str, dict[str, pb.DatasetInput]] = defaultdict(dict)
        outputs: dict[str, list[pb.ModelOutput]] = defaultdict(list)
        inputs: dict[str, list[pb.ModelInput]] = defaultdict(list)
        P, T, L, Inp, D, IT = (
            schema.Param,
            schema.Tag,
            schema.LatestMetric,
            schema.Input,
            schema.Dataset,
            schema.InputTag,
        )
        for chunk in _chunks(ids):
            for run_uuid, key, value in s.execute(
                sa.select(P.run_uuid, P.key, P.value).where(P.run_uuid.in_(chunk)).order_by(P.key)
            ):
                params[run_uuid].append((key, value))
            for run_uuid, key, value in s.execute(
                sa.select(T.run_uuid, T.key, T.value).where(T.run_uuid.in_(chunk)).order_by(T.key)
            ):
                tags[run_uuid].append((key, value))
            for m in s.execute(
                sa.select(L.run_uuid, L.key, L.value, L.timestamp, L.step, L.is_nan)
                .where(L.run_uuid.in_(chunk))
                .order_by(L.key)
            ):
                metrics[m.run_uuid].append(
                    pb.Metric(
                        key=m.key,
                        value=float("nan") if m.is_nan else m.value,
                        timestamp=m.timestamp,
                        step=m.step,
                    )
                )
            dataset_rows = s.execute(
                sa.select(Inp.destination_id, D, IT.name, IT.value)
                .join(D, Inp.source_id == D.dataset_uuid)
                .outerjoin(IT, IT.input_uuid == Inp.input_uuid)
                .where(
                    Inp.destination_type == "RUN", Inp.source_type == "DATASET", Inp.destination_id.in_(chunk)
                )
                .order_by(Inp.destination_id, D.name, IT.name)
            )
            for run_uuid, d, tag_name, tag_value in dataset_rows:
                entry = datasets[run_uuid].get(d.dataset_uuid)
                if entry is None:
                    entry = pb.DatasetInput(
                        dataset=pb.Dataset(
                            name=d.name,
                            digest=d.digest,
                            source_type=d.dataset_source_type,
                            source=d.dataset_source,
                        )
                    )
                    if d.dataset_schema is not None:
                        entry.dataset.schema = d.dataset_schema
                    if d.dataset_profile is not None:
                        entry.dataset.profile = d.dataset_profile
                    datasets[run_uuid][d.dataset_uuid] = entry
                if tag_name is not None:
                    entry.tags.add(key=tag_name, value=tag_value)
            for source_id, destination_id, step in s.execute(
                sa.select(Inp.source_id, Inp.destination_id, Inp.step).where(
                    Inp.source_type == "RUN_OUTPUT",
                    Inp.destination_type == "MODEL_OUTPUT",
                    Inp.source_id.in_(chunk),
                )
            ):
                outputs[source_id].append(pb.ModelOutput(model_id=destination_id, step=step))
            if model_inputs:
                for source_id, destination_id in s.execute(
                    sa.select(Inp.source_id, Inp.destination_id).where(
                        Inp.source_type == "RUN_INPUT",
                        Inp.destination_type == "MODEL_INPUT",
                        Inp.source_id.in_(chunk),
                    )
                ):
                    inputs[source_id].append(pb.ModelInput(model_id=destination_id))
        out = []
        for r in rows:
            run_tags = tags[r.run_uuid]
            tag_name = next((val for key, val in run_tags if key == RUN_NAME_TAG), None)
            run = pb.Run(info=self._run_info(r, tag_name))
            run.data.SetInParent()
            run.data.metrics.extend(metrics[r.run_uuid])
            for key, val in params[r.run_uuid]:
                run.data.params.add(key=key, value=val)
            for key, val in run_tags:
                tag = run.data.tags.add(key=key)
                if val is not None:
                    tag.value = val
            run.inputs.SetInParent()
            run.inputs.dataset_inputs.extend(datasets[r.run_uuid].values())
            run.inputs.model_inputs.extend(inputs[r.run_uuid])
            run.outputs.SetInParent()
            run.outputs.model_outputs.extend(outputs[r.run_uuid])
            out.append(run)
        return out

    def create_run(self, request: pb.CreateRun) -> pb.CreateRun.Response:
        # Clip like MLflow's columns allow; duplicate keys keep the last value.
        tags: dict[str, str] = {}
        for i, t in enumerate(request.tags):
            v.require_value(t.key, f"tags[{i}].key")
            if len(t.key) > v.MAX_ENTITY_KEY_LENGTH:
                raise invalid_parameter(v.exceeds_maximum_length(f"tags[{i}].key", v.MAX_ENTITY_KEY_LENGTH))
            tags.setdefault(t.key, t.value[: v.MAX_TAG_VAL_LENGTH])
        name_tag = tags.get(RUN_NAME_TAG)
        run_name = request.run_name
        if run_name and name_tag and run_name != name_tag:
            raise invalid_parameter(
                "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
                f"different values (run_name='{run_name}', mlflow.runName='{name_tag}')."
            )
        run_name = run_name or name_tag or random_name()
        if not name_tag:
            tags[RUN_NAME_TAG] = run_name
        start_time = request.start_time if request.HasField("start_time") else now_ms()
        with self._sessions.core_transaction() as s:
            experiment = self._experiment_state(s, request.experiment_id or DEFAULT_EXPERIMENT_ID)
            self._check_experiment_active(experiment)
            run_id = uuid.uuid4().hex
            values = {
                "run_uuid": run_id,
                "name": run_name,
                "experiment_id": experiment.experiment_id,
                "artifact_uri": _append_uri(experiment.artifact_location or "", run_id, "artifacts"),
                "source_type": "UNKNOWN",
                "source_name": "",
                "entry_point_name": "",
                "source_version": "",
                "user_id": request.user_id,
                "status": "RUNNING",
                "start_time": start_time,
                "end_time": None,
                "deleted_time": None,
                "lifecycle_stage": schema.ACTIVE,
            }
            _INSERT_RUN.execute(s, values)
            _INSERT_TAG.execute(s, [{"run_uuid": run_id, "key": k, "value": val} for k, val in tags.items()])
            # The row as inserted; a transient ORM object would cost as much as the INSERT.
            run = pb.Run(info=self._run_info(types.SimpleNamespace(**values), run_name))
            run.data.SetInParent()
            for k in sorted(tags):
                run.data.tags.add(key=k, value=tags[k])
            run.inputs.SetInParent()
            return pb.CreateRun.Response(run=run)

    def get_run(self, request: pb.GetRun) -> pb.GetRun.Response:
        run_id = _run_id_of(request)
        with self._sessions.transaction() as s:
            row = self._run(s, run_id)
            return pb.GetRun.Response(run=self._run_protos(s, [row], model_inputs=True)[0])

    def _set_run_name(self, s: orm.Session, row: schema.Run, name: str) -> None:
        row.name = name
        self._upsert_tags(s, row.run_uuid, {RUN_NAME_TAG: name})

    def update_run(self, request: pb.UpdateRun) -> pb.UpdateRun.Response:
        run_id = _run_id_of(request)
        with self._sessions.transaction() as s:
            row = self._active_run(s, run_id, lock=True)
            if request.HasField("status"):
                row.status = pb.RunStatus.Name(request.status)
            if request.HasField("end_time"):
                row.end_time = request.end_time
            if request.run_name:
                self._set_run_name(s, row, request.run_name)
            tag_name = None
            if not row.name:
                tag_name = s.scalar(
                    sa.select(schema.Tag.value).where(
                        schema.Tag.run_uuid == run_id, schema.Tag.key == RUN_NAME_TAG
                    )
                )
            s.flush()
            return pb.UpdateRun.Response(run_info=self._run_info(row, tag_name))

    def delete_run(self, request: pb.DeleteRun) -> pb.DeleteRun.Response:
        v.require(request, "run_id")
        with self._sessions.transaction() as s:
            row = self._run(s, request.run_id, lock=True)
            row.lifecycle_stage = schema.DELETED
            row.deleted_time = now_ms()
        return pb.DeleteRun.Response()

    def restore_run(self, request: pb.RestoreRun) -> pb.RestoreRun.Response:
        v.require(request, "run_id")
        with self._sessions.transaction() as s:
            row = self._run(s, request.run_id, lock=True)
            row.lifecycle_stage = schema.ACTIVE
            row.deleted_time = None
        return pb.RestoreRun.Response()

    def search_runs(self, request: pb.SearchRuns) -> pb.SearchRuns.Response:
        max_results = request.max_results
        if max_results > v.SEARCH_MAX_RESULTS_THRESHOLD:
            raise invalid_parameter(
                v.invalid_value("max_results", max_results, " Hint: Value was of type 'int'.")
                + _API_DOCS_HINT
            )
        v.validate_max_results(max_results)
        experiment_ids = [v.parse_experiment_id(e) for e in request.experiment_ids]
        stages = _STAGES.get(request.run_view_type, _STAGES[pb.ACTIVE_ONLY])
        comparisons = search.parse_run_filter(request.filter) if request.filter else []
        order_keys = search.parse_run_order_by(list(request.order_by))
        offset = search.decode_page_token(request.page_token or None)
        with self._sessions.transaction() as s:
            stmt = sa.select(schema.Run).where(
                schema.Run.experiment_id.in_(experiment_ids),
                workspace_rows.run_visible(),
                schema.Run.lifecycle_stage.in_(stages),
                *run_search.run_filter_clauses(comparisons),
            )
            if _many_runs(s, experiment_ids):
                tiers = run_search.run_order_tiers(stmt, order_keys)
            else:
                tiers = [run_search.apply_run_order(stmt, order_keys)]
            rows = _read_tiers(s, tiers, offset, max_results + 1)
            response = pb.SearchRuns.Response()
            response.runs.extend(self._run_protos(s, rows[:max_results]))
            if len(rows) > max_results:
                response.next_page_token = search.encode_page_token(offset + max_results)
            return response

    # ---- logging -------------------------------------------------------------------------------

    def _upsert_tags(self, s: orm.Session, run_id: str, tags: dict[str, str]) -> None:
        if not tags:
            return
        stmt = _insert(s, schema.Tag).values(
            [{"run_uuid": run_id, "key": k, "value": val} for k, val in tags.items()]
        )
        s.execute(
            stmt.on_conflict_do_update(
                index_elements=["key", "run_uuid"], set_={"value": stmt.excluded.value}
            )
        )

    def _insert_metrics(
        self, s: orm.Session, run_id: str, metrics: Sequence[tuple[str, float, int, int]]
    ) -> None:
        """Append to the history (ignoring exact duplicates) and move latest_metrics forward."""
        metric_rows.insert_points(s, run_id, metrics)

    def _insert_model_metrics(self, s: orm.Session, run: schema.Run, metrics: Sequence[pb.Metric]) -> None:
        with_model = [m for m in metrics if m.model_id]
        if not with_model:
            return
        model_ids = sorted({m.model_id for m in with_model})
        found = set(
            s.scalars(
                sa.select(LoggedModel.model_id).where(
                    LoggedModel.model_id.in_(model_ids), workspace_rows.logged_model_visible()
                )
            )
        )
        for model_id in model_ids:
            if model_id not in found:
                raise does_not_exist(f"Logged model with ID '{model_id}' not found.")
        rows = {}
        for m in with_model:
            _, value = v.sanitize_metric_value(m.value)
            rows[(m.model_id, m.key, m.timestamp, m.step)] = {
                "model_id": m.model_id,
                "metric_name": m.key,
                "metric_timestamp_ms": m.timestamp,
                "metric_step": m.step,
                "metric_value": value,
                "experiment_id": run.experiment_id,
                "run_id": run.run_uuid,
                "dataset_uuid": None,
                "dataset_name": m.dataset_name or None,
                "dataset_digest": m.dataset_digest or None,
            }
        s.execute(_insert(s, LoggedModelMetric).on_conflict_do_nothing(), list(rows.values()))

    def log_metric(self, request: pb.LogMetric) -> pb.LogMetric.Response:
        run_id = _run_id_of(request)
        v.require(request, "key", "value", "timestamp")
        v.validate_metric(request.key, request.value, request.timestamp, request.step)
        with self._sessions.transaction() as s:
            run = self._active_run_state(s, run_id)
            if request.model_id:
                metric = pb.Metric(
                    key=request.key,
                    value=request.value,
                    timestamp=request.timestamp,
                    step=request.step,
                    model_id=request.model_id,
                    dataset_name=request.dataset_name,
                    dataset_digest=request.dataset_digest,
                )
                self._insert_model_metrics(s, run, [metric])  # reads the run's ids only
            self._insert_metrics(s, run_id, [(request.key, request.value, request.timestamp, request.step)])
        return pb.LogMetric.Response()

    def _check_params(
        self, s: orm.Session, run_id: str, params: dict[str, str], *, single: bool
    ) -> dict[str, str]:
        """The params not yet logged; changing a logged value is INVALID_PARAMETER_VALUE."""
        existing: dict[str, str] = {}
        keys = list(params)
        for chunk in _chunks(keys):
            existing.update(
                s.execute(
                    sa.select(schema.Param.key, schema.Param.value).where(
                        schema.Param.run_uuid == run_id, schema.Param.key.in_(chunk)
                    )
                ).all()
            )
        changed = [
            {"key": k, "old_value": existing[k], "new_value": val}
            for k, val in params.items()
            if k in existing and existing[k] != val
        ]
        if changed and single:
            c = changed[0]
            raise invalid_parameter(
                f"Changing param values is not allowed. Param with key='{c['key']}' was already"
                f" logged with value='{c['old_value']}' for run ID='{run_id}'. Attempted logging new value"
                f" '{c['new_value']}'."
            )
        if changed:
            raise invalid_parameter(
                "Changing param values is not allowed. Params were already"
                f" logged='{changed}' for run ID='{run_id}'."
            )
        return {k: val for k, val in params.items() if k not in existing}

    def _insert_params(self, s: orm.Session, run_id: str, params: dict[str, str]) -> None:
        if params:
            s.execute(
                sa.insert(schema.Param),
                [{"run_uuid": run_id, "key": k, "value": val} for k, val in params.items()],
            )

    def log_param(self, request: pb.LogParam) -> pb.LogParam.Response:
        run_id = _run_id_of(request)
        v.require(request, "key")
        key, value = v.validate_param(request.key, request.value)
        with self._sessions.transaction() as s:
            self._active_run(s, run_id)
            self._insert_params(s, run_id, self._check_params(s, run_id, {key: value}, single=True))
        return pb.LogParam.Response()

    def _set_tags(self, s: orm.Session, row: schema.Run, tags: dict[str, str]) -> None:
        name = tags.pop(RUN_NAME_TAG, None)
        # MLflow renames the run from a runName tag and ignores an empty one.
        if name:
            self._set_run_name(s, row, name)
        self._upsert_tags(s, row.run_uuid, tags)

    def set_tag(self, request: pb.SetTag) -> pb.SetTag.Response:
        run_id = _run_id_of(request)
        v.require(request, "key")
        key, value = v.validate_tag(request.key, request.value)
        with self._sessions.transaction() as s:
            row = self._active_run(s, run_id, lock=True)
            self._set_tags(s, row, {key: value})
        return pb.SetTag.Response()

    def delete_tag(self, request: pb.DeleteTag) -> pb.DeleteTag.Response:
        v.require(request, "run_id", "key")
        with self._sessions.transaction() as s:
            self._active_run(s, request.run_id)
            deleted = s.execute(
                sa.delete(schema.Tag).where(
                    schema.Tag.run_uuid == request.run_id, schema.Tag.key == request.key
                )
            )
            if deleted.rowcount == 0:
                raise does_not_exist(f"No tag with name: {request.key} in run with id {request.run_id}")
        return pb.DeleteTag.Response()

    def log_batch(self, request: pb.LogBatch) -> pb.LogBatch.Response:
        v.require(request, "run_id")
        points = _batch_points(request.metrics)
        for i, p in enumerate(request.params):
            v.require_value(p.key, f"params[{i}].key")
        for i, t in enumerate(request.tags):
            v.require_value(t.key, f"tags[{i}].key")
        run_id = request.run_id
        v.validate_run_id(run_id)
        _validate_points(points)
        params = [v.validate_param(p.key, p.value, path=f"params[{i}]") for i, p in enumerate(request.params)]
        tags = [v.validate_tag(t.key, t.value, path=f"tags[{i}]") for i, t in enumerate(request.tags)]
        v.validate_batch_limits(len(points), len(params), len(tags))
        v.validate_param_keys_unique([k for k, _ in params])
        with_model = [m for m in request.metrics if m.model_id] if points else []
        with self._sessions.transaction() as s:
            row = self._active_run(s, run_id, lock=bool(tags))
            self._insert_params(s, run_id, self._check_params(s, run_id, dict(params), single=False))
            metric_rows.insert_points(s, run_id, points)
            self._insert_model_metrics(s, row, with_model)
            self._set_tags(s, row, dict(tags))
        return pb.LogBatch.Response()

    def log_metric_stream(self, request: pb.LogMetricStream) -> pb.LogMetricStream.Response:
        """flowport's columnar ingest: every column of the message in one transaction, no batch limit."""
        v.require(request, "run_id")
        run_id = request.run_id
        v.validate_run_id(run_id)
        columns = [_column(i, c) for i, c in enumerate(request.columns)]
        with self._sessions.transaction() as s:
            self._active_run(s, run_id)
            written = metric_rows.insert_columns(s, run_id, columns)
        return pb.LogMetricStream.Response(points_written=written)

    def log_model(self, request: pb.LogModel) -> pb.LogModel.Response:
        v.require(request, "run_id", "model_json")
        try:
            model = json.loads(request.model_json)
            if not isinstance(model, dict):
                raise ValueError
        except ValueError:
            raise invalid_parameter(
                f"Malformed model info. \n {request.model_json} \n is not a valid JSON."
            ) from None
        missing = {"artifact_path", "flavors", "utc_time_created", "run_id"} - set(model)
        if missing:
            shown = "{" + ", ".join(repr(f) for f in sorted(missing)) + "}"
            raise invalid_parameter(f"Model json is missing mandatory fields: {shown}")
        flavors = model.get("flavors") or {}
        # The summary MLflow keeps per logged model in the run's mlflow.log-model.history tag.
        entry = {
            "run_id": model.get("run_id"),
            "artifact_path": model.get("artifact_path"),
            "utc_time_created": str(model.get("utc_time_created")),
            "model_uuid": model.get("model_uuid"),
            "flavors": {
                name: (
                    {k: val for k, val in conf.items() if k != "config"} if isinstance(conf, dict) else conf
                )
                for name, conf in flavors.items()
            },
        }
        with self._sessions.transaction() as s:
            self._active_run(s, request.run_id, lock=True)
            previous = s.scalar(
                sa.select(schema.Tag.value).where(
                    schema.Tag.run_uuid == request.run_id, schema.Tag.key == LOGGED_MODELS_TAG
                )
            )
            history = json.loads(previous) if previous else []
            key, value = v.validate_tag(LOGGED_MODELS_TAG, json.dumps([*history, entry]))
            self._upsert_tags(s, request.run_id, {key: value})
        return pb.LogModel.Response()

    def log_inputs(self, request: pb.LogInputs) -> pb.LogInputs.Response:
        v.require(request, "run_id")
        run_id = request.run_id
        v.validate_run_id(run_id)
        unique: dict[tuple[str, str], pb.DatasetInput] = {}
        for di in request.datasets:
            if not di.HasField("dataset"):
                raise invalid_parameter("Dataset cannot be None")
            d = di.dataset
            v.validate_dataset(
                d.name,
                d.digest,
                d.source_type,
                d.source,
                d.schema if d.HasField("schema") else None,
                d.profile if d.HasField("profile") else None,
                {f: d.HasField(f) for f in ("name", "digest", "source_type", "source")},
            )
            for t in di.tags:
                v.validate_input_tag(
                    t.key if t.HasField("key") else None, t.value if t.HasField("value") else None
                )
            unique.setdefault((d.name, d.digest), di)
        with self._sessions.transaction() as s:
            run = self._active_run(s, run_id)
            D, Inp = schema.Dataset, schema.Input
            uuids: dict[tuple[str, str], str] = {}
            if unique:
                names = sorted({n for n, _ in unique})
                digests = sorted({g for _, g in unique})
                for name, digest, dataset_uuid in s.execute(
                    sa.select(D.name, D.digest, D.dataset_uuid).where(
                        D.experiment_id == run.experiment_id, D.name.in_(names), D.digest.in_(digests)
                    )
                ):
                    uuids[(name, digest)] = dataset_uuid
            new_datasets, new_inputs, new_tags = [], [], []
            for (name, digest), di in unique.items():
                if (name, digest) not in uuids:
                    uuids[(name, digest)] = uuid.uuid4().hex
                    d = di.dataset
                    new_datasets.append(
                        {
                            "dataset_uuid": uuids[(name, digest)],
                            "experiment_id": run.experiment_id,
                            "name": name,
                            "digest": digest,
                            "dataset_source_type": d.source_type,
                            "dataset_source": d.source,
                            "dataset_schema": d.schema if d.HasField("schema") else None,
                            "dataset_profile": d.profile if d.HasField("profile") else None,
                        }
                    )
            linked = set()
            if uuids:
                linked = set(
                    s.scalars(
                        sa.select(Inp.source_id).where(
                            Inp.source_type == "DATASET",
                            Inp.destination_type == "RUN",
                            Inp.destination_id == run_id,
                            Inp.source_id.in_(list(uuids.values())),
                        )
                    )
                )
            for key, di in unique.items():
                dataset_uuid = uuids[key]
                if dataset_uuid in linked:
                    continue
                input_uuid = uuid.uuid4().hex
                new_inputs.append(
                    {
                        "input_uuid": input_uuid,
                        "source_type": "DATASET",
                        "source_id": dataset_uuid,
                        "destination_type": "RUN",
                        "destination_id": run_id,
                        "step": 0,
                    }
                )
                tags = {t.key: t.value for t in di.tags}
                new_tags += [{"input_uuid": input_uuid, "name": k, "value": val} for k, val in tags.items()]
            if new_datasets:
                s.execute(sa.insert(D), new_datasets)
            if new_inputs:
                s.execute(sa.insert(Inp), new_inputs)
            if new_tags:
                s.execute(sa.insert(schema.InputTag), new_tags)
            models = [
                {
                    "input_uuid": uuid.uuid4().hex,
                    "source_type": "RUN_INPUT",
                    "source_id": run_id,
                    "destination_type": "MODEL_INPUT",
                    "destination_id": m.model_id,
                    "step": 0,
                }
                for m in request.models
            ]
            if models:
                s.execute(_insert(s, Inp).on_conflict_do_nothing(), models)
        return pb.LogInputs.Response()

    def log_outputs(self, request: pb.LogOutputs) -> pb.LogOutputs.Response:
        v.require(request, "run_id")
        with self._sessions.transaction() as s:
            self._active_run(s, request.run_id)
            rows = {
                m.model_id: {
                    "input_uuid": uuid.uuid4().hex,
                    "source_type": "RUN_OUTPUT",
                    "source_id": request.run_id,
                    "destination_type": "MODEL_OUTPUT",
                    "destination_id": m.model_id,
                    "step": m.step,
                }
                for m in request.models
            }
            if rows:
                stmt = _insert(s, schema.Input).values(list(rows.values()))
                s.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["source_type", "source_id", "destination_type", "destination_id"],
                        set_={"step": stmt.excluded.step},
                    )
                )
        return pb.LogOutputs.Response()

    # ---- metric history ------------------------------------------------------------------------

    def get_metric_history(self, request: pb.GetMetricHistory) -> pb.GetMetricHistory.Response:
        run_id = _run_id_of(request)
        v.require(request, "metric_key")
        max_results = request.max_results if request.HasField("max_results") else None
        if max_results is not None and max_results <= 0:
            raise invalid_parameter(
                f"Invalid value {max_results} for parameter 'max_results' supplied. "
                "It must be a positive integer."
            )
        offset, after = search.decode_keyset_token(request.page_token or None)
        M = schema.Metric
        # The sort key is unique within (run, key) — the primary key's other columns — and is the
        # index index_metrics_history: a page is one range scan. The run's visibility is checked
        # once (an uncorrelated EXISTS), not per row.
        sort_key = (M.timestamp, M.step, M.value, M.is_nan)
        stmt = (
            sa.select(*sort_key)
            .where(M.run_uuid == run_id, M.key == request.metric_key, _run_is_visible(sa.literal(run_id)))
            .order_by(*sort_key)
        )
        if after is not None:
            stmt = stmt.where(sa.tuple_(*sort_key) > sa.tuple_(*_history_position(after)))
        elif offset:
            stmt = stmt.offset(offset)
        if max_results is not None:
            stmt = stmt.limit(max_results + 1)
        with self._sessions.transaction() as s:
            # The driver's own tuples: building result rows (ORM or Core) costs more than the fetch
            # on a 25,000-point page. They come unprocessed: is_nan may be 0/1 rather than a bool.
            result = s.connection().execute(stmt)
            try:
                rows = result.cursor.fetchall()
            finally:
                result.close()
        response = pb.GetMetricHistory.Response()
        if max_results is not None and len(rows) > max_results:
            rows = rows[:max_results]
            timestamp, step, value, is_nan = rows[-1]
            response.next_page_token = search.encode_page_token(
                offset + max_results, [timestamp, step, value, bool(is_nan)]
            )
        add, key, nan = response.metrics.add, request.metric_key, float("nan")
        for timestamp, step, value, is_nan in rows:
            add(key=key, value=nan if is_nan else value, timestamp=timestamp, step=step)
        return response

    def get_metric_history_bulk_interval(
        self, request: pb.GetMetricHistoryBulkInterval
    ) -> pb.GetMetricHistoryBulkInterval.Response:
        v.require(request, "run_ids")
        if len(request.run_ids) > v.MAX_RUNS_GET_METRIC_HISTORY_BULK:
            raise invalid_parameter(
                f"GetMetricHistoryBulkInterval request must specify at most "
                f"{v.MAX_RUNS_GET_METRIC_HISTORY_BULK} run_ids. Received {len(request.run_ids)} run_ids."
                + _API_DOCS_HINT
            )
        v.require(request, "metric_key")
        max_results = v.MAX_RESULTS_PER_RUN
        if request.HasField("max_results"):
            max_results = request.max_results
            if not 1 <= max_results <= v.MAX_RESULTS_PER_RUN:
                raise invalid_parameter(
                    f"max_results must be between 1 and {v.MAX_RESULTS_PER_RUN}." + _API_DOCS_HINT
                )
        start = request.start_step if request.HasField("start_step") else None
        end = request.end_step if request.HasField("end_step") else None
        if start is not None and end is not None:
            if start > end:
                raise invalid_parameter(
                    f"end_step must be greater than start_step. Found start_step={start} and end_step={end}."
                )
        elif start is not None or end is not None:
            raise invalid_parameter("If either start step or end step are specified, both must be specified.")
        run_ids = list(dict.fromkeys(request.run_ids))
        sampled = self._sample_history(run_ids, request.metric_key, max_results, start, end)
        response = pb.GetMetricHistoryBulkInterval.Response()
        for run_id in request.run_ids:
            for r in sampled.get(run_id, ()):
                response.metrics.add(
                    key=request.metric_key,
                    value=float("nan") if r.is_nan else r.value,
                    timestamp=r.timestamp,
                    step=r.step,
                    run_id=run_id,
                )
            sampled.pop(run_id, None)
        return response

    def _sample_history(
        self, run_ids: list[str], key: str, max_results: int, start: int | None, end: int | None
    ) -> dict[str, list[Any]]:
        """Per run: the first row of each of `max_results` NTILE buckets over (step, timestamp,
        value, is_nan), with the last row always kept (replacing the final sample when full)."""
        M = schema.Metric
        where = [M.run_uuid.in_(run_ids), M.key == key, _run_is_visible(M.run_uuid)]
        if start is not None and end is not None:
            where += [M.step >= start, M.step <= end]
        asc = [M.step, M.timestamp, M.value, M.is_nan]
        bucketed = (
            sa.select(
                M.run_uuid,
                M.value,
                M.timestamp,
                M.step,
                M.is_nan,
                sa.func.ntile(max_results).over(partition_by=M.run_uuid, order_by=asc).label("bucket"),
                sa.func.row_number()
                .over(partition_by=M.run_uuid, order_by=[c.desc() for c in asc])
                .label("from_end"),
            )
            .where(*where)
            .subquery()
        )
        b = bucketed.c
        ranked = sa.select(
            b.run_uuid,
            b.value,
            b.timestamp,
            b.step,
            b.is_nan,
            b.from_end,
            sa.func.row_number()
            .over(partition_by=[b.run_uuid, b.bucket], order_by=[b.step, b.timestamp, b.value, b.is_nan])
            .label("in_bucket"),
        ).subquery()
        r = ranked.c
        stmt = (
            sa.select(r.run_uuid, r.value, r.timestamp, r.step, r.is_nan, r.in_bucket, r.from_end)
            .where(sa.or_(r.in_bucket == 1, r.from_end == 1))
            .order_by(r.run_uuid, r.step, r.timestamp, r.value, r.is_nan)
        )
        out: dict[str, list[Any]] = defaultdict(list)
        with self._sessions.transaction() as s:
            rows = s.execute(stmt).all()
        by_run: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            by_run[row.run_uuid].append(row)
        for run_id, run_rows in by_run.items():
            picked = [row for row in run_rows if row.in_bucket == 1]
            last = run_rows[-1]
            if last.in_bucket != 1:
                if len(picked) >= max_results:
                    picked[-1] = last
                else:
                    picked.append(last)
            out[run_id] = picked
        return out
