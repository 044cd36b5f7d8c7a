"""Copy an experiment's traces (MLflow 3): info, tags, metadata, every span, and assessments.

A trace is written the way the MLflow client writes one, through the Backend contract: `StartTraceV3`
(the info, with `flowport.migrated_from=<source trace id>` among its tags, links in its metadata
mapped to the copies: `mlflow.sourceRun`, `mlflow.modelId`), then its spans as one OTLP export per
500 spans (`LogSpans`; an `mlflow` target receives them on its `/v1/traces`), then each assessment
(`CreateAssessment`, with the source's id in its metadata under the lineage key). The info goes first
so a copy interrupted before its spans is already findable by its lineage tag; spans and the info are
keyed by trace and span id upstream, so writing them again replaces, never duplicates.

The trace id is kept (it is the OpenTelemetry trace id) unless the target already holds that id, or
the source id is not of that form: then the copy gets a new one, written into its spans too, and the
id map (kind `trace`) says which.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping

from google.protobuf import json_format
from opentelemetry.proto.trace.v1 import trace_pb2 as otel

from flowport.adapters.backend import Backend
from flowport.adapters.capabilities import Capability
from flowport.adapters.otel_values import attribute_text
from flowport.gateway.migrate import reading
from flowport.gateway.migrate.content import MIGRATED_FROM, value_digest
from flowport.gateway.migrate.context import MigrationContext
from flowport.gateway.migrate.experiments import ExperimentCopy
from flowport.v1 import tracing_pb2, tracking_pb2
from flowport.v1.errors import ApiError

KIND = "trace"
# Tags a server sets on its own traces (where their files live, where their spans are).
SERVER_TAGS = frozenset({"mlflow.artifactLocation", "mlflow.trace.spansLocation"})
INFO_FINALIZED = "mlflow.trace.infoFinalized"  # set by the target on its StartTraceV3
SOURCE_RUN = "mlflow.sourceRun"
MODEL_ID = "mlflow.modelId"
ASSESSMENT_SOURCE_RUN = "mlflow.assessment.sourceRunId"
TRACE_REQUEST_ID = "mlflow.traceRequestId"  # a span attribute naming its trace (JSON string)
SIZE_STATS = "mlflow.trace.sizeStats"  # metadata: {"num_spans": …} as the client counted them
SPANS_PER_EXPORT = 500
MAX_TRACE_LINKS = 100  # MLflow's LinkTracesToRun limit
_OTEL_TRACE_ID = re.compile(r"tr-[0-9a-f]{32}")


# ---- what "the same" means for a trace (shared with verify_traces) ------------------------------


def copied_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags a copy carries: all but the server's own and flowport's lineage tag."""
    return {k: v for k, v in tags.items() if k not in SERVER_TAGS and k != MIGRATED_FROM}


def mapped_metadata(
    info: tracing_pb2.TraceInfoV3, run_ids: Mapping[str, str], model_ids: Mapping[str, str]
) -> dict[str, str]:
    """The metadata a copy carries: links to runs and logged models point at their copies."""
    metadata = {k: v for k, v in info.trace_metadata.items() if k != INFO_FINALIZED}
    for key, ids in ((SOURCE_RUN, run_ids), (MODEL_ID, model_ids)):
        if metadata.get(key) in ids:
            metadata[key] = ids[metadata[key]]
    return metadata


def info_fields(info: tracing_pb2.TraceInfoV3) -> dict[str, object]:
    """The trace fields a copy must match (its id and location differ by design)."""

    def optional(field: str) -> object:
        return getattr(info, field) if info.HasField(field) else None

    return {
        "client_request_id": optional("client_request_id"),
        "request_time": info.request_time.ToMilliseconds(),
        "execution_duration": (
            info.execution_duration.ToMilliseconds() if info.HasField("execution_duration") else None
        ),
        "state": tracing_pb2.TraceInfoV3.State.Name(info.state),
        "request_preview": optional("request_preview"),
        "response_preview": optional("response_preview"),
    }


def info_form(
    info: tracing_pb2.TraceInfoV3, run_ids: Mapping[str, str], model_ids: Mapping[str, str]
) -> dict[str, object]:
    return info_fields(info) | {
        "tags": copied_tags(info.tags),
        "metadata": mapped_metadata(info, run_ids, model_ids),
    }


def _attributes(values: Iterable) -> dict[str, str]:
    return {kv.key: attribute_text(kv.value) for kv in values if kv.key != TRACE_REQUEST_ID}


def span_form(span: otel.Span) -> dict[str, object]:
    """A span as content: ids within the trace, name, kind, times, status, attributes and events as
    MLflow reads them (typed values as JSON text), less the attribute naming the trace's id."""
    return {
        "span_id": span.span_id.hex(),
        "parent_span_id": span.parent_span_id.hex(),
        "name": span.name,
        "kind": span.kind,
        "start": span.start_time_unix_nano,
        "end": span.end_time_unix_nano,
        "status": [span.status.code, span.status.message],
        "attributes": _attributes(span.attributes),
        "events": [[e.name, e.time_unix_nano, _attributes(e.attributes)] for e in span.events],
        "links": [[link.span_id.hex(), _attributes(link.attributes)] for link in span.links],
    }


def spans_digest(spans: Iterable[otel.Span]) -> tuple[int, str]:
    """(number of spans, sha256 of their content in span-id order)."""
    forms = sorted((span_form(s) for s in spans), key=lambda f: str(f["span_id"]))
    return len(forms), value_digest(forms)


def _pruned(value: object) -> object:
    """Without empty strings, lists and maps: set-but-empty and unset fields mean the same."""
    if isinstance(value, dict):
        kept = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in ("", [], {}, None)}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def assessment_form(
    a: tracing_pb2.Assessment,
    assessment_ids: Mapping[str, str] | None = None,
    run_ids: Mapping[str, str] | None = None,
) -> dict:
    """An assessment as content (no ids of its own, no update time: a target sets that); with maps,
    the assessment it overrides and the run in its metadata as their copies."""
    form = json_format.MessageToDict(a, preserving_proto_field_name=True)
    for field in ("assessment_id", "trace_id", "last_update_time"):
        form.pop(field, None)
    metadata = {k: v for k, v in a.metadata.items() if k != MIGRATED_FROM}
    if run_ids is not None and metadata.get(ASSESSMENT_SOURCE_RUN) in run_ids:
        metadata[ASSESSMENT_SOURCE_RUN] = run_ids[metadata[ASSESSMENT_SOURCE_RUN]]
    form["metadata"] = metadata
    if a.overrides and assessment_ids is not None:
        form["overrides"] = assessment_ids.get(a.overrides, "")
    form["valid"] = a.valid
    return _pruned(form)  # type: ignore[return-value]


def in_creation_order(assessments: Iterable[tracing_pb2.Assessment]) -> list[tracing_pb2.Assessment]:
    """Oldest first, an overriding assessment after the one it overrides (which must exist first)."""
    pending = sorted(assessments, key=lambda a: (a.create_time.ToNanoseconds(), a.assessment_id))
    ids = {a.assessment_id for a in pending}
    ordered: list[tracing_pb2.Assessment] = []
    done: set[str] = set()
    while pending:
        ready = [a for a in pending if not a.overrides or a.overrides in done or a.overrides not in ids]
        ready = ready or pending[:1]  # a cycle (never made by MLflow): keep going in time order
        for a in ready:
            ordered.append(a)
            done.add(a.assessment_id)
        pending = [a for a in pending if a.assessment_id not in done]
    return ordered


def assessment_origins(info: tracing_pb2.TraceInfoV3) -> dict[str, tracing_pb2.Assessment]:
    """A copy's assessments by the source assessment they came from (their lineage metadata)."""
    found: dict[str, tracing_pb2.Assessment] = {}
    for a in info.assessments:
        origin = a.metadata.get(MIGRATED_FROM)
        if origin and origin not in found:
            found[origin] = a
    return found


def new_trace_id() -> str:
    return "tr-" + uuid.uuid4().hex


def retargeted(spans: Iterable[otel.Span], source_id: str, target_id: str) -> list[otel.Span]:
    """The spans as the copy's: its trace id in every span, link and `mlflow.traceRequestId`."""
    spans = list(spans)
    if source_id == target_id:
        return spans
    new = bytes.fromhex(target_id.removeprefix("tr-"))
    out = []
    for span in spans:
        copy = otel.Span()
        copy.CopyFrom(span)
        old = copy.trace_id
        copy.trace_id = new
        for kv in copy.attributes:
            if kv.key == TRACE_REQUEST_ID:
                kv.value.string_value = json.dumps(target_id)
        for link in copy.links:
            if link.trace_id == old:
                link.trace_id = new
        out.append(copy)
    return out


def _keeps_id(source_id: str, spans: list[otel.Span]) -> bool:
    """Whether the copy can carry the source's id: one made from its spans' OpenTelemetry trace id."""
    return bool(_OTEL_TRACE_ID.fullmatch(source_id)) and all(
        "tr-" + s.trace_id.hex() == source_id for s in spans
    )


def _unfinished(info: tracing_pb2.TraceInfoV3, copied: str | None) -> bool:
    """Whether the trace may have gained spans since they were copied: none copied yet, still in
    progress, or fewer copied than its size stats count (spans can arrive after the info)."""
    if copied is None or info.state == tracing_pb2.TraceInfoV3.IN_PROGRESS:
        return True
    try:
        expected = int(json.loads(info.trace_metadata.get(SIZE_STATS, "{}")).get("num_spans", 0))
    except (ValueError, TypeError, AttributeError):
        return False
    return int(copied.split(":", 1)[0]) < expected


async def lineage(backend: Backend, experiment_id: str) -> dict[str, list[tracing_pb2.TraceInfoV3]]:
    """origin → the traces of a target experiment whose lineage tag names it."""
    found: dict[str, list[tracing_pb2.TraceInfoV3]] = {}
    for info in await reading.trace_infos(backend, experiment_id):
        origin = info.tags.get(MIGRATED_FROM)
        if origin:
            found.setdefault(origin, []).append(info)
    return found


async def trace_spans(backend: Backend, trace_id: str) -> list[otel.Span]:
    request = tracing_pb2.GetTrace(trace_id=trace_id, allow_partial=True)
    return list((await backend.invoke("GetTrace", request)).trace.spans)


# ---- copying --------------------------------------------------------------------------------------


class TraceCopies:
    """The traces of one source experiment and their copies."""

    def __init__(self, ctx: MigrationContext, experiment: ExperimentCopy) -> None:
        self.ctx = ctx
        self.experiment = experiment
        self.source_ids: set[str] = set()
        self._matched: set[str] = set()

    @property
    def copied(self) -> bool:
        """Whether both ends hold traces (else the gaps list them, counted from the source)."""
        caps = Capability.TRACING
        return caps in self.ctx.source.capabilities and caps in self.ctx.target.capabilities

    async def sync(self) -> None:
        ctx = self.ctx
        if not self.copied:
            return
        infos = await reading.trace_infos(ctx.source, self.experiment.source_id)
        self.source_ids = {i.trace_id for i in infos}
        ctx.display.found("traces", len(infos))
        unmapped = self.source_ids - set(ctx.ids(KIND))
        if unmapped and self.experiment.target_id is not None:
            await self._find_lost_copies(unmapped)
        await ctx.bounded(self._sync_guarded(i) for i in infos)

    async def _find_lost_copies(self, source_ids: set[str]) -> None:
        """Copies an interrupted pass started but did not record, found by their lineage tag."""
        for origin, copies in (await lineage(self.ctx.target, self.experiment.target_id)).items():
            if origin in source_ids and origin not in self.ctx.ids(KIND):
                self.ctx.map_id(KIND, origin, copies[0].trace_id)
                self._matched.add(origin)
                self.ctx.tally.traces.matched += 1

    async def _sync_guarded(self, info: tracing_pb2.TraceInfoV3) -> None:
        try:
            await self._sync(info)
        except ApiError as err:
            self.ctx.tally.traces.failed += 1
            self.ctx.tally.failures.append(
                f"trace {info.trace_id} of experiment '{self.experiment.source.name}': "
                f"{err.error_code}: {err.message}"
            )
        self.ctx.display.advance("traces")

    async def _sync(self, info: tracing_pb2.TraceInfoV3) -> None:
        ctx, source_id = self.ctx, info.trace_id
        aspects = ctx.aspects(KIND)
        target_id = ctx.ids(KIND).get(source_id)
        fresh = target_id is None
        form = info_form(info, ctx.ids("run"), ctx.ids("logged_model"))
        info_digest = value_digest(form)
        info_changed = aspects.get((source_id, "info")) != info_digest
        spans: list[otel.Span] | None = None
        if fresh or info_changed or _unfinished(info, aspects.get((source_id, "spans"))):
            spans = await trace_spans(ctx.source, source_id)
        changed = wrote_spans = False
        if fresh:
            ctx.tally.traces.created += 1
            ctx.tally.tags += len(form["tags"])  # type: ignore[arg-type]
            if ctx.dry_run:
                ctx.tally.spans += len(spans or ())
                ctx.tally.assessments += len(info.assessments)
                return
            await self.experiment.writable()
            target_id = await self._start_copy(info, spans or [])
        if spans is not None:
            count, digest = spans_digest(spans)
            if aspects.get((source_id, "spans")) != f"{count}:{digest}":
                changed, wrote_spans = True, count > 0
                ctx.tally.spans += count
                if not ctx.dry_run:
                    await self.experiment.writable()
                    await self._log_spans(source_id, target_id, spans)
                    ctx.set_aspect(KIND, source_id, "spans", f"{count}:{digest}")
        if ((info_changed and not fresh) or wrote_spans) and not ctx.dry_run:
            # Again after the spans, from which a server may widen the trace's time range: the
            # info has the last word, as when the client writes a trace (spans, then info).
            await self.experiment.writable()
            await self._start(info, target_id)
            if not fresh:
                await self._drop_extra_tags(info, target_id)
        changed |= info_changed and not fresh
        changed |= await self._sync_assessments(info, target_id, fresh)
        if not ctx.dry_run:
            ctx.set_aspect(KIND, source_id, "info", info_digest)
        if not fresh and source_id not in self._matched:
            if changed:
                ctx.tally.traces.updated += 1
            else:
                ctx.tally.traces.unchanged += 1

    def _copy_info(self, info: tracing_pb2.TraceInfoV3, target_id: str) -> tracing_pb2.TraceInfoV3:
        ctx = self.ctx
        copy = tracing_pb2.TraceInfoV3()
        copy.CopyFrom(info)
        copy.trace_id = target_id
        copy.ClearField("assessments")  # written one by one: each carries its lineage
        copy.trace_location.Clear()
        copy.trace_location.type = tracing_pb2.TraceLocation.MLFLOW_EXPERIMENT
        copy.trace_location.mlflow_experiment.experiment_id = self.experiment.target_id
        copy.ClearField("trace_metadata")
        copy.trace_metadata.update(mapped_metadata(info, ctx.ids("run"), ctx.ids("logged_model")))
        copy.ClearField("tags")
        copy.tags.update({**copied_tags(info.tags), MIGRATED_FROM: info.trace_id})
        return copy

    async def _start(self, info: tracing_pb2.TraceInfoV3, target_id: str) -> None:
        request = tracing_pb2.StartTraceV3(
            trace=tracing_pb2.Trace(trace_info=self._copy_info(info, target_id))
        )
        await self.ctx.target.invoke("StartTraceV3", request)

    async def _start_copy(self, info: tracing_pb2.TraceInfoV3, spans: list[otel.Span]) -> str:
        """Start the copy under the source's id if the target has no trace by it, else a new one."""
        source_id = info.trace_id
        target_id = (
            source_id if _keeps_id(source_id, spans) and await self._free(source_id) else new_trace_id()
        )
        try:
            await self._start(info, target_id)
        except ApiError as err:
            # The id is taken where this target's reads do not reach (another workspace).
            if target_id != source_id or err.error_code not in (
                "RESOURCE_DOES_NOT_EXIST",
                "INVALID_PARAMETER_VALUE",
            ):
                raise
            target_id = new_trace_id()
            await self._start(info, target_id)
        self.ctx.map_id(KIND, source_id, target_id)
        return target_id

    async def _free(self, trace_id: str) -> bool:
        try:
            await self.ctx.target.invoke("GetTraceInfoV3", tracing_pb2.GetTraceInfoV3(trace_id=trace_id))
        except ApiError as err:
            if err.error_code == "RESOURCE_DOES_NOT_EXIST":
                return True
            raise
        return False

    async def _drop_extra_tags(self, info: tracing_pb2.TraceInfoV3, target_id: str) -> None:
        """Tags the copy has and the source no longer has (StartTraceV3 only adds and replaces)."""
        request = tracing_pb2.GetTraceInfoV3(trace_id=target_id)
        have = (await self.ctx.target.invoke("GetTraceInfoV3", request)).trace.trace_info.tags
        for key in sorted(set(copied_tags(have)) - set(copied_tags(info.tags))):
            await self.ctx.target.invoke(
                "DeleteTraceTagV3", tracing_pb2.DeleteTraceTagV3(trace_id=target_id, key=key)
            )

    async def _log_spans(self, source_id: str, target_id: str, spans: list[otel.Span]) -> None:
        spans = retargeted(spans, source_id, target_id)
        for start in range(0, len(spans), SPANS_PER_EXPORT):
            export = otel.ResourceSpans(
                scope_spans=[otel.ScopeSpans(spans=spans[start : start + SPANS_PER_EXPORT])]
            )
            request = tracing_pb2.LogSpans(experiment_id=self.experiment.target_id, resource_spans=[export])
            await self.ctx.target.invoke("LogSpans", request)

    async def _sync_assessments(
        self, info: tracing_pb2.TraceInfoV3, target_id: str | None, fresh: bool
    ) -> bool:
        """Bring the copy's assessments level: a missing one created, a changed one replaced (deleted,
        created again), one the source no longer has deleted. True when any was (or would be) written."""
        ctx, source_id = self.ctx, info.trace_id
        run_ids = ctx.ids("run")
        wanted = in_creation_order(info.assessments)
        digest = value_digest([assessment_form(a, run_ids=run_ids) | {"id": a.assessment_id} for a in wanted])
        if ctx.aspects(KIND).get((source_id, "assessments")) == digest:
            return False
        copies: dict[str, tracing_pb2.Assessment] = {}
        unknown: list[tracing_pb2.Assessment] = []
        if not fresh and target_id is not None:
            request = tracing_pb2.GetTraceInfoV3(trace_id=target_id)
            have = (await ctx.target.invoke("GetTraceInfoV3", request)).trace.trace_info
            copies = assessment_origins(have)
            kept = {a.assessment_id for a in copies.values()}
            unknown = [a for a in have.assessments if a.assessment_id not in kept]
        ids = {origin: a.assessment_id for origin, a in copies.items()}
        written = 0
        for a in wanted:
            copy = copies.pop(a.assessment_id, None)
            if copy is not None and assessment_form(copy) == assessment_form(a, ids, run_ids):
                continue
            written += 1
            if ctx.dry_run:
                continue
            await self.experiment.writable()
            if copy is not None:
                await self._delete_assessment(target_id, copy.assessment_id)
            ids[a.assessment_id] = await self._create_assessment(a, target_id, ids, run_ids)
        stale = [*copies.values(), *unknown]
        if not ctx.dry_run:
            for a in stale:
                await self._delete_assessment(target_id, a.assessment_id)
            ctx.set_aspect(KIND, source_id, "assessments", digest)
        ctx.tally.assessments += written
        return bool(written or stale) and not fresh

    async def _create_assessment(
        self,
        a: tracing_pb2.Assessment,
        target_id: str | None,
        ids: Mapping[str, str],
        run_ids: Mapping[str, str],
    ) -> str:
        copy = tracing_pb2.Assessment()
        copy.CopyFrom(a)
        copy.ClearField("assessment_id")
        copy.ClearField("last_update_time")
        copy.trace_id = target_id or ""
        if a.overrides:
            copy.overrides = ids.get(a.overrides, "")
        if copy.metadata.get(ASSESSMENT_SOURCE_RUN) in run_ids:
            copy.metadata[ASSESSMENT_SOURCE_RUN] = run_ids[copy.metadata[ASSESSMENT_SOURCE_RUN]]
        copy.metadata[MIGRATED_FROM] = a.assessment_id
        created = await self.ctx.target.invoke(
            "CreateAssessment", tracing_pb2.CreateAssessment(assessment=copy)
        )
        return created.assessment.assessment_id

    async def _delete_assessment(self, target_id: str | None, assessment_id: str) -> None:
        request = tracing_pb2.DeleteAssessment(trace_id=target_id, assessment_id=assessment_id)
        await self.ctx.target.invoke("DeleteAssessment", request)

    # ---- traces linked to a run afterwards (LinkTracesToRun), written with the run -------------

    async def link_run(
        self, run: tracking_pb2.Run, target_run_id: str | None, writable: Callable[[], Awaitable[None]]
    ) -> bool:
        """Link the run's copy to the copies of the traces linked to the run in the source (beyond
        those logged in it, which their `mlflow.sourceRun` already names). True when any was sent."""
        ctx, run_id = self.ctx, run.info.run_id
        if not self.copied or not self.source_ids:
            return False
        query = f"attribute.run_id = '{run_id}'"
        found = await reading.trace_infos(ctx.source, self.experiment.source_id, filter=query)
        linked = sorted(i.trace_id for i in found if i.trace_metadata.get(SOURCE_RUN) != run_id)
        digest = value_digest(linked)
        if ctx.aspects("run").get((run_id, "trace_links")) == digest:
            return False
        copies = [ctx.ids(KIND)[t] for t in linked if t in ctx.ids(KIND)]
        if not ctx.dry_run and len(copies) < len(linked):
            return False  # a trace's copy failed: linked on a later pass
        ctx.tally.trace_links += len(linked)
        if not ctx.dry_run and copies:
            await writable()
            for start in range(0, len(copies), MAX_TRACE_LINKS):
                request = tracing_pb2.LinkTracesToRun(
                    trace_ids=copies[start : start + MAX_TRACE_LINKS], run_id=target_run_id
                )
                await ctx.target.invoke("LinkTracesToRun", request)
        if not ctx.dry_run:
            ctx.set_aspect("run", run_id, "trace_links", digest)
        return bool(linked)
