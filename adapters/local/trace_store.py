"""The local backend's traces (MLflow 3): the TracingService RPCs and span ingest, each one transaction.

A trace arrives in two halves that may come in either order: its spans (OTLP, `log_spans`) and its
info (`StartTraceV3`, sent by the MLflow client once the root span ends). Whichever comes first
creates the `trace_info` row; the other merges into it, as `mlflow server` does.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from google.protobuf import json_format
from sqlalchemy import orm

from flowport.adapters.local import schema, search, trace_rows, trace_search, workspace_rows
from flowport.adapters.local.clock import now_ms
from flowport.adapters.local.db import Sessions
from flowport.adapters.local.span_rows import (
    SPAN_INPUTS,
    SPAN_OUTPUTS,
    TRACE_TAG_PREFIX,
    SpanRow,
    span_from_content,
    span_row,
)
from flowport.adapters.local.trace_schema import (
    Assessment,
    Span,
    TraceInfo,
    TraceRequestMetadata,
    TraceRunLink,
    TraceTag,
)
from flowport.adapters.local.validation import parse_experiment_id, validate_max_results
from flowport.adapters.otel_values import any_value
from flowport.v1 import tracing_pb2 as pb
from flowport.v1.errors import does_not_exist, invalid_parameter

TRACE_NAME_TAG = "mlflow.traceName"
ARTIFACT_LOCATION_TAG = "mlflow.artifactLocation"
SPANS_LOCATION_TAG = "mlflow.trace.spansLocation"
SPANS_IN_TRACKING_STORE = "TRACKING_STORE"
LINKED_PROMPTS_TAG = "mlflow.linkedPrompts"
INFO_FINALIZED = "mlflow.trace.infoFinalized"
SIZE_STATS = "mlflow.trace.sizeStats"
SCHEMA_VERSION = "mlflow.trace_schema.version"
PREVIEW_LENGTH = 1000
MAX_TRACE_LINKS = 100
# Tags the server owns: a client's StartTraceV3 may not overwrite them.
_SERVER_TAGS = frozenset({SPANS_LOCATION_TAG, ARTIFACT_LOCATION_TAG})


def _preview(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= PREVIEW_LENGTH else text[: PREVIEW_LENGTH - 3] + "..."


def _wrong_experiment(trace_id: str, actual: int, claimed: int) -> Exception:
    return invalid_parameter(f"Trace {trace_id} belongs to experiment {actual}, not {claimed}.")


def _trace_not_found(trace_id: str) -> Exception:
    return does_not_exist(f"Trace with ID {trace_id} is not found.")


def _assessment_value(a: pb.Assessment) -> str | None:
    """The value a filter compares with, as JSON: `feedback.quality = 'good'` matches `"good"`."""
    if a.HasField("feedback") and a.feedback.HasField("value"):
        return json.dumps(json_format.MessageToDict(a.feedback.value))
    if a.HasField("expectation"):
        if a.expectation.HasField("value"):
            return json.dumps(json_format.MessageToDict(a.expectation.value))
        if a.expectation.HasField("serialized_value"):
            return a.expectation.serialized_value.value
    return None


class TraceStore:
    """TracingService handlers over the trace tables; experiments and runs are only read here."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    # -- reading ---------------------------------------------------------------------------------

    def _trace(self, s: orm.Session, trace_id: str) -> TraceInfo:
        if not trace_id:
            raise invalid_parameter("Missing value for required parameter 'trace_id'.")
        row = s.scalars(
            sa.select(TraceInfo).where(TraceInfo.request_id == trace_id, workspace_rows.trace_visible())
        ).one_or_none()
        if row is None:
            raise _trace_not_found(trace_id)
        return row

    @staticmethod
    def _not_this_experiment(s: orm.Session, trace: TraceInfo, experiment: schema.Experiment) -> Exception:
        """A trace id already used in another experiment: name it only if it is in this workspace."""
        other = s.scalar(
            sa.select(schema.Experiment.experiment_id).where(
                schema.Experiment.experiment_id == trace.experiment_id, workspace_rows.experiment_visible()
            )
        )
        if other is None:
            return _trace_not_found(trace.request_id)
        return _wrong_experiment(trace.request_id, trace.experiment_id, experiment.experiment_id)

    def _trace_infos(self, s: orm.Session, rows: Sequence[TraceInfo]) -> list[pb.TraceInfoV3]:
        """TraceInfoV3 messages for `rows`, in their order, with tags, metadata and assessments."""
        ids = [r.request_id for r in rows]
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        metadata: dict[str, dict[str, str]] = defaultdict(dict)
        assessments: dict[str, list[pb.Assessment]] = defaultdict(list)
        for chunk in _chunks(ids):
            for t in s.scalars(sa.select(TraceTag).where(TraceTag.request_id.in_(chunk))):
                tags[t.request_id][t.key] = t.value or ""
            for m in s.scalars(
                sa.select(TraceRequestMetadata).where(TraceRequestMetadata.request_id.in_(chunk))
            ):
                metadata[m.request_id][m.key] = m.value or ""
            query = (
                sa.select(Assessment)
                .where(Assessment.trace_id.in_(chunk))
                .order_by(Assessment.created_timestamp, Assessment.assessment_id)
            )
            for a in s.scalars(query):
                assessments[a.trace_id].append(_assessment_proto(a))
        out = []
        for r in rows:
            info = pb.TraceInfoV3(
                trace_id=r.request_id,
                trace_location=pb.TraceLocation(
                    type=pb.TraceLocation.MLFLOW_EXPERIMENT,
                    mlflow_experiment=pb.TraceLocation.MlflowExperimentLocation(
                        experiment_id=str(r.experiment_id)
                    ),
                ),
                state=r.status,
                trace_metadata=metadata[r.request_id],
                tags=tags[r.request_id],
                assessments=assessments[r.request_id],
            )
            info.request_time.FromMilliseconds(r.timestamp_ms)
            if r.execution_time_ms is not None:
                info.execution_duration.FromMilliseconds(r.execution_time_ms)
            for column in ("client_request_id", "request_preview", "response_preview"):
                value = getattr(r, column)
                if value is not None:
                    setattr(info, column, value)
            out.append(info)
        return out

    def _spans(self, s: orm.Session, trace_ids: Iterable[str]) -> dict[str, list[Any]]:
        by_trace: dict[str, list[Any]] = defaultdict(list)
        for chunk in _chunks(list(trace_ids)):
            # Root spans first, then by start time: the order MLflow returns them in.
            query = (
                sa.select(Span.trace_id, Span.content)
                .where(Span.trace_id.in_(chunk))
                .order_by(Span.trace_id, Span.parent_span_id.is_not(None), Span.start_time_unix_nano)
            )
            for trace_id, content in s.execute(query):
                by_trace[trace_id].append(span_from_content(content))
        return by_trace

    def _scoped(self, trace_ids: Sequence[str], experiment_ids: Sequence[str]) -> sa.Select:
        query = sa.select(TraceInfo).where(
            TraceInfo.request_id.in_(list(trace_ids)), workspace_rows.trace_visible()
        )
        if experiment_ids:
            query = query.where(TraceInfo.experiment_id.in_([parse_experiment_id(e) for e in experiment_ids]))
        return query

    def get_trace_info_v3(self, request: pb.GetTraceInfoV3) -> pb.GetTraceInfoV3.Response:
        with self._sessions.transaction() as s:
            (info,) = self._trace_infos(s, [self._trace(s, request.trace_id)])
        return pb.GetTraceInfoV3.Response(trace=pb.Trace(trace_info=info))

    def get_trace(self, request: pb.GetTrace) -> pb.GetTrace.Response:
        with self._sessions.transaction() as s:
            row = self._trace(s, request.trace_id)
            (info,) = self._trace_infos(s, [row])
            spans = self._spans(s, [row.request_id])[row.request_id]
        expected = _expected_span_count(info)
        if not request.allow_partial and expected is not None and len(spans) < expected:
            raise does_not_exist(
                f"Trace with ID {request.trace_id} is not fully exported yet, please try again later."
            )
        return pb.GetTrace.Response(trace=pb.Trace(trace_info=info, spans=spans))

    def batch_get_traces(self, request: pb.BatchGetTraces) -> pb.BatchGetTraces.Response:
        with self._sessions.transaction() as s:
            rows = _in_request_order(
                s.scalars(self._scoped(request.trace_ids, request.experiment_ids)), request
            )
            infos = self._trace_infos(s, rows)
            spans = self._spans(s, [r.request_id for r in rows])
        return pb.BatchGetTraces.Response(
            traces=[pb.Trace(trace_info=i, spans=spans[i.trace_id]) for i in infos]
        )

    def batch_get_trace_infos(self, request: pb.BatchGetTraceInfos) -> pb.BatchGetTraceInfos.Response:
        with self._sessions.transaction() as s:
            rows = _in_request_order(
                s.scalars(self._scoped(request.trace_ids, request.experiment_ids)), request
            )
            return pb.BatchGetTraceInfos.Response(trace_infos=self._trace_infos(s, rows))

    def search_traces_v3(self, request: pb.SearchTracesV3) -> pb.SearchTracesV3.Response:
        experiment_ids = []
        for location in request.locations:
            if location.WhichOneof("identifier") != "mlflow_experiment":
                raise invalid_parameter(
                    "Only MLflow experiment locations are supported when searching traces on this server."
                )
            experiment_ids.append(parse_experiment_id(location.mlflow_experiment.experiment_id))
        if not experiment_ids:
            raise invalid_parameter("At least one experiment location must be given to search traces.")
        validate_max_results(request.max_results)
        comparisons = search.parse_trace_filter(request.filter or None)
        order_keys = search.parse_trace_order_by(list(request.order_by))
        offset = search.decode_page_token(request.page_token)
        query = sa.select(TraceInfo).where(
            TraceInfo.experiment_id.in_(experiment_ids),
            workspace_rows.trace_visible(),
            *trace_search.filter_clauses(comparisons),
        )
        query = trace_search.apply_order(query, order_keys)
        with self._sessions.transaction() as s:
            rows = list(s.scalars(query.offset(offset).limit(request.max_results + 1)))
            page = rows[: request.max_results]
            response = pb.SearchTracesV3.Response(traces=self._trace_infos(s, page))
        if len(rows) > request.max_results:
            response.next_page_token = search.encode_page_token(offset + request.max_results)
        return response

    # -- writing trace info ----------------------------------------------------------------------

    def _experiment(self, s: orm.Session, experiment_id: str) -> schema.Experiment:
        row = s.scalars(
            sa.select(schema.Experiment).where(
                schema.Experiment.experiment_id == parse_experiment_id(experiment_id),
                workspace_rows.experiment_visible(),
            )
        ).one_or_none()
        if row is None:
            raise does_not_exist(f"Could not find experiment with ID {experiment_id}")
        if row.lifecycle_stage != schema.ACTIVE:
            raise invalid_parameter(
                f"The experiment {experiment_id} must be in the 'active' state. "
                f"Current state is {row.lifecycle_stage}."
            )
        return row

    def _lock_traces(
        self, s: orm.Session, trace_ids: Sequence[str], experiment: schema.Experiment
    ) -> dict[str, TraceInfo]:
        """The stored `trace_info` rows of `trace_ids`, locked until commit (on PostgreSQL, in id order;
        SQLite's writer already holds the database), each read after the lock so it holds what a
        racing writer committed. A trace of another experiment rejects the whole call."""
        rows: dict[str, TraceInfo] = {}
        for chunk in _chunks(sorted(trace_ids)):
            query = (
                sa.select(TraceInfo)
                .where(TraceInfo.request_id.in_(chunk))
                .order_by(TraceInfo.request_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            rows.update((r.request_id, r) for r in s.scalars(query))
        for trace_id in trace_ids:  # in the caller's order: the first foreign trace names the error
            row = rows.get(trace_id)
            if row is None:  # deleted by a concurrent DeleteTraces since create_traces saw it
                raise _trace_not_found(trace_id)
            if row.experiment_id != experiment.experiment_id:
                raise self._not_this_experiment(s, row, experiment)
        return rows

    def start_trace_v3(self, request: pb.StartTraceV3) -> pb.StartTraceV3.Response:
        info = request.trace.trace_info
        if not info.trace_id:
            raise invalid_parameter("Missing value for required parameter 'trace.trace_info.trace_id'.")
        if info.trace_location.WhichOneof("identifier") != "mlflow_experiment":
            raise invalid_parameter(
                "Missing value for required parameter "
                "'trace.trace_info.trace_location.mlflow_experiment.experiment_id'."
            )
        # The client's info is final: it overrides what spans suggested.
        given: dict[str, Any] = {
            "timestamp_ms": info.request_time.ToMilliseconds(),
            "execution_time_ms": (
                info.execution_duration.ToMilliseconds() if info.HasField("execution_duration") else None
            ),
            "status": pb.TraceInfoV3.State.Name(info.state),
        }
        for column in ("client_request_id", "request_preview", "response_preview"):
            if info.HasField(column):
                given[column] = getattr(info, column)
        with self._sessions.transaction() as s:
            experiment = self._experiment(s, info.trace_location.mlflow_experiment.experiment_id)
            new_row = {"request_id": info.trace_id, "experiment_id": experiment.experiment_id, **given}
            created = trace_rows.create_traces(s, [new_row])
            row = self._lock_traces(s, [info.trace_id], experiment)[info.trace_id]
            if created:
                location = _artifact_location(experiment, info.trace_id)
                _upsert(s, TraceTag, info.trace_id, {ARTIFACT_LOCATION_TAG: location})
            else:
                for column, value in given.items():
                    setattr(row, column, value)
            client_tags = {k: v for k, v in info.tags.items() if k not in _SERVER_TAGS}
            _upsert(s, TraceTag, info.trace_id, client_tags)
            _upsert(s, TraceRequestMetadata, info.trace_id, {**info.trace_metadata, INFO_FINALIZED: "true"})
            for a in info.assessments:
                a.trace_id = info.trace_id
                self._insert_assessment(s, a)
            s.flush()
            (stored,) = self._trace_infos(s, [row])
        return pb.StartTraceV3.Response(trace=pb.Trace(trace_info=stored))

    def log_spans(self, request: pb.LogSpans) -> pb.LogSpans.Response:
        if not request.experiment_id:
            raise invalid_parameter(
                "Missing experiment id: send the 'x-mlflow-experiment-id' header with OTLP exports."
            )
        by_trace: dict[str, list[SpanRow]] = defaultdict(list)
        resource_tags: dict[str, dict[str, str]] = defaultdict(dict)
        for resource_spans in request.resource_spans:
            resource = {
                kv.key: any_value(kv.value)
                for kv in resource_spans.resource.attributes
                # OTel SDK bookkeeping and MLflow's own namespace never become tags (as in MLflow).
                if not kv.key.startswith(("telemetry.sdk.", "mlflow."))
            }
            resource_text = {
                k: v if isinstance(v, str) else json.dumps(v, default=str) for k, v in resource.items()
            }
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    row = span_row(span)
                    by_trace[row.trace_id].append(row)
                    resource_tags[row.trace_id].update(resource_text)
        if not by_trace:
            raise invalid_parameter("Invalid OpenTelemetry export: no spans found.")
        with self._sessions.transaction() as s:
            experiment = self._experiment(s, request.experiment_id)
            if request.run_id:
                self._require_run(s, request.run_id)
            self._store_spans(s, experiment, by_trace, resource_tags)
            if request.run_id:
                links = [
                    {"request_id": trace_id, "run_id": request.run_id}
                    for trace_id, rows in sorted(by_trace.items())
                    if any(r.is_root for r in rows)
                ]
                trace_rows.link_runs(s, links)
        return pb.LogSpans.Response(trace_ids=list(by_trace))

    def _store_spans(
        self,
        s: orm.Session,
        experiment: schema.Experiment,
        by_trace: dict[str, list[SpanRow]],
        resource_tags: dict[str, dict[str, str]],
    ) -> None:
        """One export's spans, their traces' info and tags: a few multi-row statements, whatever the
        number of spans. New traces are inserted whole; stored ones are locked, then rolled up."""
        starts = {t: min(r.start_time_unix_nano for r in rows) // 1_000_000 for t, rows in by_trace.items()}
        roots = {t: next((r for r in rows if r.is_root), None) for t, rows in by_trace.items()}
        # Every row is built before the first write: on SQLite that write takes the database's one
        # write lock, held until commit.
        fresh = [
            {
                "request_id": trace_id,
                "experiment_id": experiment.experiment_id,
                "status": "IN_PROGRESS",
                **_rolled_up(starts[trace_id], None, None, starts[trace_id], roots[trace_id]),
            }
            for trace_id in by_trace
        ]
        # Tags a client set (StartTraceV3, SetTraceTag) win over what spans suggest; ours always apply.
        ours, suggested = [], []
        for trace_id in sorted(by_trace):
            tags = _span_tags(experiment, trace_id, roots[trace_id], resource_tags[trace_id])
            for key, value in tags.items():
                row = {"request_id": trace_id, "key": key, "value": value}
                (ours if key in _SERVER_TAGS else suggested).append(row)
        spans = trace_rows.span_rows(
            experiment.experiment_id, (r for rows in by_trace.values() for r in rows)
        )

        created = trace_rows.create_traces(s, fresh)
        trace_rows.upsert_metadata(
            s, [{"request_id": t, "key": SCHEMA_VERSION, "value": "3"} for t in sorted(created)]
        )
        if stored_ids := [t for t in by_trace if t not in created]:
            stored = self._lock_traces(s, stored_ids, experiment)
            # Read after the lock: a StartTraceV3 that committed while we waited is seen.
            finalized: set[str] = set()
            for chunk in _chunks(stored_ids):
                finalized.update(
                    s.scalars(
                        sa.select(TraceRequestMetadata.request_id).where(
                            TraceRequestMetadata.key == INFO_FINALIZED,
                            TraceRequestMetadata.request_id.in_(chunk),
                        )
                    )
                )
            for trace_id in stored_ids:
                if trace_id not in finalized:
                    row = stored[trace_id]
                    rolled = _rolled_up(
                        row.timestamp_ms,
                        row.request_preview,
                        row.response_preview,
                        starts[trace_id],
                        roots[trace_id],
                    )
                    for column, value in rolled.items():
                        setattr(row, column, value)
            s.flush()
        trace_rows.upsert_tags(s, ours)
        trace_rows.insert_missing_tags(s, suggested)
        trace_rows.upsert_spans(s, spans)

    def _require_run(self, s: orm.Session, run_id: str) -> schema.Run:
        run = s.scalars(
            sa.select(schema.Run).where(schema.Run.run_uuid == run_id, workspace_rows.run_visible())
        ).one_or_none()
        if run is None or run.lifecycle_stage != schema.ACTIVE:
            raise does_not_exist(f"Run with id={run_id} not found")
        return run

    # -- tags, links, deletes --------------------------------------------------------------------

    def _set_tag(self, trace_id: str, key: str, value: str) -> None:
        if not key:
            raise invalid_parameter("Missing value for required parameter 'key'.")
        if key in _SERVER_TAGS:
            raise invalid_parameter(f"Tag '{key}' is set by the server and cannot be changed.")
        with self._sessions.transaction() as s:
            self._trace(s, trace_id)
            if key == TRACE_NAME_TAG and not value:
                raise invalid_parameter("A trace name must not be empty.")
            _upsert(s, TraceTag, trace_id, {key: value})

    def _delete_tag(self, trace_id: str, key: str) -> None:
        with self._sessions.transaction() as s:
            self._trace(s, trace_id)
            deleted = s.execute(
                sa.delete(TraceTag).where(TraceTag.request_id == trace_id, TraceTag.key == key)
            ).rowcount
            if not deleted:
                raise does_not_exist(f"No trace tag with key '{key}' for trace with ID '{trace_id}'")

    def set_trace_tag(self, request: pb.SetTraceTag) -> pb.SetTraceTag.Response:
        self._set_tag(request.request_id, request.key, request.value)
        return pb.SetTraceTag.Response()

    def set_trace_tag_v3(self, request: pb.SetTraceTagV3) -> pb.SetTraceTagV3.Response:
        self._set_tag(request.trace_id, request.key, request.value)
        return pb.SetTraceTagV3.Response()

    def delete_trace_tag(self, request: pb.DeleteTraceTag) -> pb.DeleteTraceTag.Response:
        self._delete_tag(request.request_id, request.key)
        return pb.DeleteTraceTag.Response()

    def delete_trace_tag_v3(self, request: pb.DeleteTraceTagV3) -> pb.DeleteTraceTagV3.Response:
        self._delete_tag(request.trace_id, request.key)
        return pb.DeleteTraceTagV3.Response()

    def _delete_traces(self, request: pb.DeleteTraces | pb.DeleteTracesV3) -> int:
        if not request.experiment_id:
            raise invalid_parameter("Missing value for required parameter 'experiment_id'.")
        by_time = request.HasField("max_timestamp_millis")
        if by_time == bool(request.request_ids):
            raise invalid_parameter(
                "Exactly one of 'max_timestamp_millis' and 'request_ids' must be specified."
            )
        if request.HasField("max_traces") and request.max_traces <= 0:
            raise invalid_parameter("'max_traces' must be a positive integer.")
        experiment_id = parse_experiment_id(request.experiment_id)
        query = sa.select(TraceInfo.request_id).where(
            TraceInfo.experiment_id == experiment_id, workspace_rows.trace_visible()
        )
        if by_time:
            query = query.where(TraceInfo.timestamp_ms <= request.max_timestamp_millis).order_by(
                TraceInfo.timestamp_ms
            )
            if request.HasField("max_traces"):
                query = query.limit(request.max_traces)
        else:
            query = query.where(TraceInfo.request_id.in_(list(request.request_ids)))
        with self._sessions.transaction() as s:
            ids = list(s.scalars(query))
            for chunk in _chunks(ids):
                # Children first: SQLite enforces ON DELETE CASCADE only with foreign keys on, and
                # explicit deletes keep PostgreSQL and SQLite identical.
                for table in (Span, Assessment):
                    s.execute(sa.delete(table).where(table.trace_id.in_(chunk)))
                for table in (TraceTag, TraceRequestMetadata, TraceRunLink):
                    s.execute(sa.delete(table).where(table.request_id.in_(chunk)))
                s.execute(sa.delete(TraceInfo).where(TraceInfo.request_id.in_(chunk)))
        return len(ids)

    def delete_traces(self, request: pb.DeleteTraces) -> pb.DeleteTraces.Response:
        return pb.DeleteTraces.Response(traces_deleted=self._delete_traces(request))

    def delete_traces_v3(self, request: pb.DeleteTracesV3) -> pb.DeleteTracesV3.Response:
        return pb.DeleteTracesV3.Response(traces_deleted=self._delete_traces(request))

    def link_traces_to_run(self, request: pb.LinkTracesToRun) -> pb.LinkTracesToRun.Response:
        if not request.run_id:
            raise invalid_parameter("Missing value for required parameter 'run_id'.")
        if len(request.trace_ids) > MAX_TRACE_LINKS:
            raise invalid_parameter(
                f"Cannot link more than {MAX_TRACE_LINKS} traces to a run in a single request. "
                f"Provided {len(request.trace_ids)} traces."
            )
        with self._sessions.transaction() as s:
            self._require_run(s, request.run_id)
            trace_ids = list(dict.fromkeys(request.trace_ids))
            for trace_id in trace_ids:
                self._trace(s, trace_id)
            trace_rows.link_runs(s, [{"request_id": t, "run_id": request.run_id} for t in sorted(trace_ids)])
        return pb.LinkTracesToRun.Response()

    def link_prompts_to_trace(self, request: pb.LinkPromptsToTrace) -> pb.LinkPromptsToTrace.Response:
        with self._sessions.transaction() as s:
            self._trace(s, request.trace_id)
            current = s.get(TraceTag, {"key": LINKED_PROMPTS_TAG, "request_id": request.trace_id})
            linked = json.loads(current.value) if current is not None and current.value else []
            for ref in request.prompt_versions:
                entry = {"name": ref.name, "version": ref.version}
                if entry not in linked:
                    linked.append(entry)
            _upsert(s, TraceTag, request.trace_id, {LINKED_PROMPTS_TAG: json.dumps(linked)})
        return pb.LinkPromptsToTrace.Response()

    # -- assessments -----------------------------------------------------------------------------

    def _insert_assessment(self, s: orm.Session, a: pb.Assessment) -> pb.Assessment:
        if not a.assessment_name:
            raise invalid_parameter("Missing value for required parameter 'assessment.assessment_name'.")
        kind = a.WhichOneof("value")
        if kind not in ("feedback", "expectation"):
            raise invalid_parameter("An assessment needs exactly one of 'feedback' or 'expectation'.")
        now = now_ms()
        a.assessment_id = a.assessment_id or "a-" + uuid.uuid4().hex
        if not a.HasField("create_time"):
            a.create_time.FromMilliseconds(now)
        a.last_update_time.FromMilliseconds(now)
        if not a.HasField("valid"):
            a.valid = True
        if a.overrides:
            overridden = s.get(Assessment, a.overrides)
            if overridden is None or overridden.trace_id != a.trace_id:
                raise does_not_exist(f"Assessment with ID '{a.overrides}' not found for trace '{a.trace_id}'")
            _store_assessment(overridden, _with_valid(_assessment_proto(overridden), False))
        row = Assessment(assessment_id=a.assessment_id, trace_id=a.trace_id)
        _store_assessment(row, a)
        s.add(row)
        return a

    def create_assessment(self, request: pb.CreateAssessment) -> pb.CreateAssessment.Response:
        a = pb.Assessment()
        a.CopyFrom(request.assessment)
        a.ClearField("assessment_id")
        with self._sessions.transaction() as s:
            self._trace(s, a.trace_id)
            self._insert_assessment(s, a)
        return pb.CreateAssessment.Response(assessment=a)

    def _assessment(self, s: orm.Session, trace_id: str, assessment_id: str) -> Assessment:
        self._trace(s, trace_id)
        row = s.get(Assessment, assessment_id)
        if row is None or row.trace_id != trace_id:
            raise does_not_exist(f"Assessment with ID '{assessment_id}' not found for trace '{trace_id}'")
        return row

    def get_assessment(self, request: pb.GetAssessmentRequest) -> pb.GetAssessmentRequest.Response:
        with self._sessions.transaction() as s:
            row = self._assessment(s, request.trace_id, request.assessment_id)
            return pb.GetAssessmentRequest.Response(assessment=_assessment_proto(row))

    def update_assessment(self, request: pb.UpdateAssessment) -> pb.UpdateAssessment.Response:
        change = request.assessment
        paths = list(request.update_mask.paths)
        allowed = {"assessment_name", "expectation", "feedback", "rationale", "metadata"}
        if unknown := [p for p in paths if p not in allowed]:
            raise invalid_parameter(f"Cannot update assessment fields {unknown}; allowed: {sorted(allowed)}")
        with self._sessions.transaction() as s:
            row = self._assessment(s, change.trace_id, change.assessment_id)
            a = _assessment_proto(row)
            for path in paths:
                if path in ("expectation", "feedback") and a.WhichOneof("value") != path:
                    raise invalid_parameter(
                        f"Cannot change the type of assessment '{a.assessment_id}' "
                        f"from {a.WhichOneof('value')} to {path}."
                    )
                if path == "metadata":
                    a.metadata.update(change.metadata)
                elif path in ("expectation", "feedback"):
                    getattr(a, path).CopyFrom(getattr(change, path))
                else:
                    setattr(a, path, getattr(change, path))
            if not a.assessment_name:
                raise invalid_parameter("An assessment name must not be empty.")
            a.last_update_time.FromMilliseconds(now_ms())
            _store_assessment(row, a)
        return pb.UpdateAssessment.Response(assessment=a)

    def delete_assessment(self, request: pb.DeleteAssessment) -> pb.DeleteAssessment.Response:
        with self._sessions.transaction() as s:
            row = self._assessment(s, request.trace_id, request.assessment_id)
            if row.overrides:
                # The assessment this one overrode counts again, as in MLflow.
                overridden = s.get(Assessment, row.overrides)
                if overridden is not None:
                    _store_assessment(overridden, _with_valid(_assessment_proto(overridden), True))
            s.delete(row)
        return pb.DeleteAssessment.Response()


def _assessment_proto(row: Assessment) -> pb.Assessment:
    return json_format.Parse(row.content, pb.Assessment())


def _with_valid(a: pb.Assessment, valid: bool) -> pb.Assessment:
    a.valid = valid
    return a


def _store_assessment(row: Assessment, a: pb.Assessment) -> None:
    row.name = a.assessment_name
    row.assessment_type = a.WhichOneof("value")
    row.value = _assessment_value(a)
    decoded = json.loads(row.value) if row.value and a.HasField("feedback") else None
    numeric = isinstance(decoded, int | float) and not isinstance(decoded, bool)
    row.numeric_value = float(decoded) if numeric else None
    row.created_timestamp = a.create_time.ToMilliseconds()
    row.last_updated_timestamp = a.last_update_time.ToMilliseconds()
    row.span_id = a.span_id or None
    row.valid = a.valid
    row.overrides = a.overrides or None
    row.content = json_format.MessageToJson(a, indent=None)


def _rolled_up(
    timestamp_ms: int,
    request_preview: str | None,
    response_preview: str | None,
    start_ms: int,
    root: SpanRow | None,
) -> dict[str, Any]:
    """The `trace_info` columns an export's spans set on a trace (stored with `timestamp_ms` and the
    previews given) until the client's StartTraceV3 arrives: the spans are all we know of it until then.
    `start_ms` is the export's earliest span start, `root` its root span if it has one."""
    start_ms = min(timestamp_ms, start_ms)
    columns: dict[str, Any] = {"timestamp_ms": start_ms}
    if root is not None:
        columns["status"] = "ERROR" if root.status == "ERROR" else "OK"
        if root.end_time_unix_nano:
            columns["execution_time_ms"] = root.end_time_unix_nano // 1_000_000 - start_ms
        columns["request_preview"] = request_preview or _preview(root.attributes.get(SPAN_INPUTS))
        columns["response_preview"] = response_preview or _preview(root.attributes.get(SPAN_OUTPUTS))
    return columns


def _span_tags(
    experiment: schema.Experiment, trace_id: str, root: SpanRow | None, resource_tags: dict[str, str]
) -> dict[str, str]:
    """The tags one export's spans suggest for their trace: its resource's, the root's name and
    `mlflow.traceTag.*` attributes, and where the trace's spans and files live."""
    tags = {**resource_tags, SPANS_LOCATION_TAG: SPANS_IN_TRACKING_STORE}
    tags.setdefault(ARTIFACT_LOCATION_TAG, _artifact_location(experiment, trace_id))
    if root is not None:
        tags.setdefault(TRACE_NAME_TAG, root.name)
        for key, value in root.attributes.items():
            if key.startswith(TRACE_TAG_PREFIX):
                tags[key[len(TRACE_TAG_PREFIX) :]] = value
    return tags


def _upsert(s: orm.Session, table: Any, trace_id: str, values: dict[str, str]) -> None:
    """Set one trace's tags or metadata, overwriting stored values."""
    upsert = trace_rows.upsert_tags if table is TraceTag else trace_rows.upsert_metadata
    upsert(s, [{"request_id": trace_id, "key": k, "value": v} for k, v in sorted(values.items())])


def _artifact_location(experiment: schema.Experiment, trace_id: str) -> str:
    # Trace files (spans of old clients, attachments) live beside run artifacts, as in MLflow.
    base = (experiment.artifact_location or "").rstrip("/")
    return f"{base}/traces/{trace_id}/artifacts"


def _expected_span_count(info: pb.TraceInfoV3) -> int | None:
    stats = info.trace_metadata.get(SIZE_STATS)
    if not stats:
        return None
    try:
        return int(json.loads(stats).get("num_spans", 0))
    except (ValueError, TypeError, AttributeError):
        return None


def _in_request_order(rows: Iterable[TraceInfo], request: Any) -> list[TraceInfo]:
    order = {trace_id: n for n, trace_id in enumerate(request.trace_ids)}
    return sorted(rows, key=lambda r: order[r.request_id])


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
