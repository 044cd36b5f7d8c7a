"""`--verify` for an experiment's traces: each source trace has one copy (found by the id map; no
source trace has two, by lineage tag) with the same info (request time, duration, state, previews,
client request id), tags, metadata (links mapped; keys a target adds of its own are not compared),
the same spans (count and sha256 of their content, naming the spans that differ) and the same
assessments (content, overrides mapped). Reads only."""

from __future__ import annotations

import asyncio
import collections

from flowport.adapters.backend import Backend
from flowport.adapters.capabilities import Capability
from flowport.gateway.migrate import reading, traces
from flowport.gateway.migrate.content import MIGRATED_FROM, value_digest
from flowport.gateway.migrate.logged_models import KIND as LOGGED_MODEL
from flowport.gateway.migrate.traces import (
    assessment_form,
    assessment_origins,
    info_form,
    span_form,
    spans_digest,
)
from flowport.gateway.migrate.verify import Verifier
from flowport.gateway.migrate.verify import _differences as differences
from flowport.v1 import tracing_pb2, tracking_pb2
from flowport.v1.errors import ApiError

TRACES, SPANS, ASSESSMENTS = "traces", "spans", "assessments"
MAX_NAMED = 5  # differing spans or assessments named per trace


async def verify_traces(
    verifier: Verifier, source: tracking_pb2.Experiment, target_id: str, where: str
) -> None:
    if not all(Capability.TRACING in b.capabilities for b in (verifier.source, verifier.target)):
        return
    result = verifier.result
    trace_ids = verifier.state.id_map(traces.KIND)
    model_ids = verifier.state.id_map(LOGGED_MODEL)
    copies = await reading.trace_infos(verifier.target, target_id)
    origins = collections.Counter(c.tags[MIGRATED_FROM] for c in copies if MIGRATED_FROM in c.tags)
    for origin, count in sorted(origins.items()):
        if count > 1:
            result.found(TRACES, f"trace {origin} of {where}", f"{count} copies in the target (duplicates)")
    present = {c.trace_id for c in copies}
    slots = asyncio.Semaphore(4)

    async def one(info: tracing_pb2.TraceInfoV3) -> None:
        copy_id = trace_ids.get(info.trace_id)
        name = f"trace {info.trace_id} → {copy_id} of {where}"
        result.checked[TRACES] += 1
        if copy_id not in present:
            result.found(TRACES, name, "not in the target experiment")
            return
        async with slots:
            try:
                mine = await _trace(verifier.source, info.trace_id)
                theirs = await _trace(verifier.target, copy_id)
            except ApiError as err:
                result.found(TRACES, name, f"cannot be compared: {err.message}")
                return
        _compare_info(verifier, mine.trace_info, theirs.trace_info, model_ids, name)
        _compare_spans(verifier, list(mine.spans), list(theirs.spans), name)
        _compare_assessments(verifier, mine.trace_info, theirs.trace_info, name)

    await asyncio.gather(*(one(i) for i in await reading.trace_infos(verifier.source, source.experiment_id)))


async def _trace(backend: Backend, trace_id: str) -> tracing_pb2.Trace:
    """Info (with assessments) and spans of one trace."""
    response = await backend.invoke("GetTrace", tracing_pb2.GetTrace(trace_id=trace_id, allow_partial=True))
    return response.trace


def _compare_info(
    verifier: Verifier,
    mine: tracing_pb2.TraceInfoV3,
    theirs: tracing_pb2.TraceInfoV3,
    model_ids: dict[str, str],
    name: str,
) -> None:
    wanted = info_form(mine, verifier.run_ids, model_ids)
    have = info_form(theirs, {}, {})
    have["metadata"] = {k: v for k, v in have["metadata"].items() if k in wanted["metadata"]}  # type: ignore[union-attr]
    problems = differences(wanted, have)
    if problems:
        verifier.result.found(TRACES, name, problems)


def _compare_spans(verifier: Verifier, mine: list, theirs: list, name: str) -> None:
    result = verifier.result
    result.checked[SPANS] += len(mine)
    (n_mine, d_mine), (n_theirs, d_theirs) = spans_digest(mine), spans_digest(theirs)
    if (n_mine, d_mine) == (n_theirs, d_theirs):
        return
    forms = {s.span_id.hex(): span_form(s) for s in theirs}
    differing = [
        f"'{s.name}' ({s.span_id.hex()})" for s in mine if forms.pop(s.span_id.hex(), None) != span_form(s)
    ]
    differing += [f"'{f['name']}' ({span_id}, only in the target)" for span_id, f in forms.items()]
    result.mismatched[SPANS] += max(len(differing) - 1, 0)  # `found` counts one
    result.found(
        SPANS,
        name,
        f"source {n_mine} spans (sha256 {d_mine[:12]}), target {n_theirs} spans (sha256 {d_theirs[:12]}); "
        f"differing: {', '.join(differing[:MAX_NAMED])}",
    )


def _compare_assessments(
    verifier: Verifier, mine: tracing_pb2.TraceInfoV3, theirs: tracing_pb2.TraceInfoV3, name: str
) -> None:
    result = verifier.result
    result.checked[ASSESSMENTS] += len(mine.assessments)
    ids = {origin: a.assessment_id for origin, a in assessment_origins(theirs).items()}
    have = collections.Counter(value_digest(assessment_form(a)) for a in theirs.assessments)
    missing = []
    for a in mine.assessments:
        digest = value_digest(assessment_form(a, ids, verifier.run_ids))
        if have[digest] > 0:
            have[digest] -= 1
        else:
            missing.append(f"'{a.assessment_name}' ({a.assessment_id} → {ids.get(a.assessment_id)})")
    extra = sum(have.values())
    if missing or extra:
        problem = f"differing or missing in the target: {', '.join(missing[:MAX_NAMED])}" if missing else ""
        if extra:
            problem += f"{'; ' if problem else ''}{extra} in the target only"
        result.found(ASSESSMENTS, name, problem)
