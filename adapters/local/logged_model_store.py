"""The local backend's logged models (MLflow 3): their TrackingService RPCs, each one transaction,
as `mlflow server` 3.17 with a SQL store. Experiments are only read here (schema.py owns them).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from flowport.adapters.local import registry_search, schema, search, workspace_rows
from flowport.adapters.local.clock import now_ms
from flowport.adapters.local.db import Sessions
from flowport.adapters.local.logged_model_schema import (
    LIFECYCLE_ACTIVE,
    LIFECYCLE_DELETED,
    STATUS_PENDING,
    LoggedModel,
    LoggedModelParam,
    LoggedModelTag,
)
from flowport.adapters.local.names import random_name
from flowport.adapters.local.validation import parse_experiment_id, require
from flowport.v1 import tracking_pb2 as pb
from flowport.v1.errors import does_not_exist, invalid_parameter

SEARCH_DEFAULT_MAX_RESULTS = 100
_BAD_NAME_CHARS = ("/", ":", ".", "%", '"', "'")


def _validate_name(name: str | None) -> None:
    if name is None:
        return
    if not name or any(c in name for c in _BAD_NAME_CHARS):
        raise invalid_parameter(
            f"Invalid model name ({name!r}) provided. Model name must be a non-empty string "
            f"and cannot contain the following characters: {_BAD_NAME_CHARS}"
        )


def _join_uri(base: str, *parts: str) -> str:
    """Append path segments to a URI's path, keeping any query string at the end."""
    head, sep, query = base.partition("?")
    joined = head.rstrip("/") + "/" + "/".join(p.strip("/") for p in parts)
    return joined + (sep + query if sep else "")


def _not_found(model_id: str) -> Exception:
    return does_not_exist(f"Logged model with ID '{model_id}' not found.")


def logged_model_proto(lm: LoggedModel) -> pb.LoggedModel:
    info = pb.LoggedModelInfo(
        model_id=lm.model_id,
        experiment_id=str(lm.experiment_id),
        name=lm.name,
        artifact_uri=lm.artifact_location,
        creation_timestamp_ms=lm.creation_timestamp_ms,
        last_updated_timestamp_ms=lm.last_updated_timestamp_ms,
        status=lm.status,
        model_type=lm.model_type,
        source_run_id=lm.source_run_id,
        status_message=lm.status_message,
        tags=[pb.LoggedModelTag(key=t.tag_key, value=t.tag_value) for t in lm.tags],
    )
    data = pb.LoggedModelData(
        params=[pb.LoggedModelParameter(key=p.param_key, value=p.param_value) for p in lm.params],
        metrics=[
            pb.Metric(
                key=m.metric_name,
                value=m.metric_value,
                timestamp=m.metric_timestamp_ms,
                step=m.metric_step,
                run_id=m.run_id,
                dataset_name=m.dataset_name,
                dataset_digest=m.dataset_digest,
                model_id=m.model_id,
            )
            for m in lm.metrics
        ],
    )
    return pb.LoggedModel(info=info, data=data)


_LOAD_CHILDREN = (
    orm.selectinload(LoggedModel.tags),
    orm.selectinload(LoggedModel.params),
    orm.selectinload(LoggedModel.metrics),
)


class LoggedModelStore:
    """Logged models, their params, tags and metrics in the local SQL database."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    @staticmethod
    def _record(session: orm.Session, model_id: str, *, include_deleted: bool) -> LoggedModel:
        # Another workspace's model (through its experiment) reads as an unknown one.
        lm = session.scalars(
            sa.select(LoggedModel).where(
                LoggedModel.model_id == model_id, workspace_rows.logged_model_visible()
            )
        ).one_or_none()
        if lm is None or (not include_deleted and lm.lifecycle_stage == LIFECYCLE_DELETED):
            raise _not_found(model_id)
        return lm

    def create_logged_model(self, request: pb.CreateLoggedModel) -> pb.CreateLoggedModel.Response:
        require(request, "experiment_id")
        name = request.name or None
        _validate_name(name)
        experiment_id = parse_experiment_id(request.experiment_id)
        with self.sessions.transaction() as session:
            experiment = session.execute(
                sa.select(schema.Experiment.artifact_location, schema.Experiment.lifecycle_stage).where(
                    schema.Experiment.experiment_id == experiment_id, workspace_rows.experiment_visible()
                )
            ).one_or_none()
            if experiment is None:
                raise does_not_exist(f"No Experiment with id={experiment_id} exists")
            if experiment.lifecycle_stage != LIFECYCLE_ACTIVE:
                raise invalid_parameter(
                    f"The experiment {experiment_id} must be in the 'active' state. "
                    f"Current state is {experiment.lifecycle_stage}."
                )
            model_id = f"m-{uuid.uuid4().hex}"
            now = now_ms()
            lm = LoggedModel(
                model_id=model_id,
                experiment_id=experiment_id,
                name=name or random_name(),
                artifact_location=_join_uri(
                    experiment.artifact_location or "", "models", model_id, "artifacts"
                ),
                creation_timestamp_ms=now,
                last_updated_timestamp_ms=now,
                status=STATUS_PENDING,
                lifecycle_stage=LIFECYCLE_ACTIVE,
                model_type=request.model_type,
                source_run_id=request.source_run_id,
            )
            # Repeated keys keep their last value rather than violating the primary key.
            params = {p.key: p.value for p in request.params}
            tags = {t.key: t.value for t in request.tags}
            lm.params = [
                LoggedModelParam(model_id=model_id, experiment_id=experiment_id, param_key=k, param_value=v)
                for k, v in params.items()
            ]
            lm.tags = [
                LoggedModelTag(model_id=model_id, experiment_id=experiment_id, tag_key=k, tag_value=v)
                for k, v in tags.items()
            ]
            lm.metrics = []
            session.add(lm)
            session.flush()
            return pb.CreateLoggedModel.Response(model=logged_model_proto(lm))

    def get_logged_model(self, request: pb.GetLoggedModel) -> pb.GetLoggedModel.Response:
        require(request, "model_id")
        with self.sessions.transaction() as session:
            lm = self._record(session, request.model_id, include_deleted=request.allow_deleted)
            return pb.GetLoggedModel.Response(model=logged_model_proto(lm))

    def finalize_logged_model(self, request: pb.FinalizeLoggedModel) -> pb.FinalizeLoggedModel.Response:
        require(request, "model_id", "status")
        with self.sessions.transaction() as session:
            lm = self._record(session, request.model_id, include_deleted=True)
            lm.status = int(request.status)
            lm.last_updated_timestamp_ms = now_ms()
            session.flush()
            return pb.FinalizeLoggedModel.Response(model=logged_model_proto(lm))

    def delete_logged_model(self, request: pb.DeleteLoggedModel) -> pb.DeleteLoggedModel.Response:
        require(request, "model_id")
        with self.sessions.transaction() as session:
            # Soft delete, as MLflow: the row stays (for garbage collection) but is hidden.
            lm = self._record(session, request.model_id, include_deleted=True)
            lm.lifecycle_stage = LIFECYCLE_DELETED
            lm.last_updated_timestamp_ms = now_ms()
            return pb.DeleteLoggedModel.Response()

    def set_logged_model_tags(self, request: pb.SetLoggedModelTags) -> pb.SetLoggedModelTags.Response:
        require(request, "model_id")
        with self.sessions.transaction() as session:
            lm = self._record(session, request.model_id, include_deleted=True)
            for key, value in {t.key: t.value for t in request.tags}.items():
                session.merge(
                    LoggedModelTag(
                        model_id=lm.model_id, experiment_id=lm.experiment_id, tag_key=key, tag_value=value
                    )
                )
            return pb.SetLoggedModelTags.Response()

    def delete_logged_model_tag(self, request: pb.DeleteLoggedModelTag) -> pb.DeleteLoggedModelTag.Response:
        require(request, "model_id")
        model_id, key = request.model_id, request.tag_key
        with self.sessions.transaction() as session:
            self._record(session, model_id, include_deleted=True)
            deleted = session.execute(
                sa.delete(LoggedModelTag).where(
                    LoggedModelTag.model_id == model_id, LoggedModelTag.tag_key == key
                )
            ).rowcount
            if deleted == 0:
                raise does_not_exist(f"No tag with key {key!r} found for model with ID {model_id!r}.")
            return pb.DeleteLoggedModelTag.Response()

    def log_logged_model_params(
        self, request: pb.LogLoggedModelParamsRequest
    ) -> pb.LogLoggedModelParamsRequest.Response:
        require(request, "model_id")
        with self.sessions.transaction() as session:
            lm = self._record(session, request.model_id, include_deleted=True)
            logged = {p.param_key: p.param_value for p in lm.params}
            for key, value in {p.key: p.value for p in request.params}.items():
                # Params are immutable, as a run's are: re-logging the same value is a no-op (so a
                # retried request succeeds); a new value is refused rather than overwriting.
                if key in logged:
                    if logged[key] != value:
                        raise invalid_parameter(
                            f"Changing param values is not allowed. Param with key='{key}' was already "
                            f"logged with value='{logged[key]}' for logged model ID='{lm.model_id}'. "
                            f"Attempted logging new value '{value}'."
                        )
                    continue
                session.add(
                    LoggedModelParam(
                        model_id=lm.model_id, experiment_id=lm.experiment_id, param_key=key, param_value=value
                    )
                )
            return pb.LogLoggedModelParamsRequest.Response()

    def search_logged_models(self, request: pb.SearchLoggedModels) -> pb.SearchLoggedModels.Response:
        require(request, "experiment_ids")
        if request.datasets and not all(d.dataset_name for d in request.datasets):
            raise invalid_parameter("`dataset_name` in the `datasets` clause must be specified.")
        experiment_ids = list(request.experiment_ids)
        filter_string = request.filter or None
        order_by: list[dict[str, Any]] | None = [
            {
                "field_name": ob.field_name,
                "ascending": ob.ascending,
                "dataset_name": ob.dataset_name or None,
                "dataset_digest": ob.dataset_digest or None,
            }
            for ob in request.order_by
        ] or None
        offset = 0
        if request.page_token:
            token = registry_search.LoggedModelsPageToken.decode(request.page_token)
            token.check_matches(experiment_ids, filter_string, order_by)
            offset = token.offset
        max_results = request.max_results or SEARCH_DEFAULT_MAX_RESULTS
        if max_results < 1:
            raise invalid_parameter(
                f"Invalid value for max_results. It must be a positive integer, but got {max_results}"
            )
        comparisons = search.parse_logged_model_filter(filter_string) if filter_string else []
        query = registry_search.logged_models_query(
            [parse_experiment_id(e) for e in experiment_ids], comparisons, list(request.datasets)
        )
        query = registry_search.logged_models_order_by(query, list(request.order_by))
        query = query.options(*_LOAD_CHILDREN).offset(offset).limit(max_results + 1)
        with self.sessions.transaction() as session:
            models = list(session.scalars(query).unique())
            response = pb.SearchLoggedModels.Response(
                models=[logged_model_proto(lm) for lm in models[:max_results]]
            )
            if len(models) > max_results:
                response.next_page_token = registry_search.LoggedModelsPageToken(
                    experiment_ids=experiment_ids,
                    filter_string=filter_string,
                    order_by=order_by,
                    offset=offset + max_results,
                ).encode()
            return response

    def logged_model_artifact_uri(self, model_id: str) -> str:
        """Where the model's artifacts live (for ListLoggedModelArtifacts and downloads)."""
        with self.sessions.transaction() as session:
            return self._record(session, model_id, include_deleted=False).artifact_location
