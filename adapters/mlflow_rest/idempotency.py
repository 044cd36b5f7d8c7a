"""Which MLflow calls may be sent twice, and the request ids that make the creates safe to repeat.

Reads, tag and param writes, updates, deletes and restores converge however often they are
sent; MLflow's SQL store drops exact duplicate metric points, so metric logging does too
(peers.md §3.5). Creates do not: a retried `runs/create` makes a second run. The gateway tags
each create with a request id (`flowport.request_id`) so a retry can find what an earlier
attempt made; the tag is kept upstream and stripped from every answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from google.protobuf.message import Message

from flowport.v1 import tracking_pb2

REQUEST_ID_TAG = "flowport.request_id"
# Not creates by name, yet not repeatable: each call makes a new object.
_NOT_IDEMPOTENT = frozenset({"StartTraceV3", "OverrideAssessment"})

# MLflow's log_batch limits (mlflow/utils/validation.py).
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000


def is_idempotent(rpc: str) -> bool:
    return not rpc.startswith("Create") and rpc not in _NOT_IDEMPOTENT


def with_request_id(
    request: Message, tags: Iterable[Message], tag_type: type[Message]
) -> tuple[str, Message]:
    """A copy of a create request carrying a fresh request id tag; returns (id, copy)."""
    request_id = uuid.uuid4().hex
    copy = type(request)()
    copy.CopyFrom(request)
    copy.tags.append(tag_type(key=REQUEST_ID_TAG, value=request_id))
    return request_id, copy


def carries(tags: Iterable[Any], request_id: str) -> bool:
    return any(t.key == REQUEST_ID_TAG and t.value == request_id for t in tags)


def strip_request_ids(message: Message) -> None:
    """Remove the request id tags from an answer, wherever tags are (runs, experiments, models)."""
    for field, value in message.ListFields():
        if field.message_type is None or field.message_type.GetOptions().map_entry:
            continue
        if not field.is_repeated:
            strip_request_ids(value)
            continue
        if "key" in field.message_type.fields_by_name:
            for i in reversed(range(len(value))):
                if value[i].key == REQUEST_ID_TAG:
                    del value[i]
        for item in value:
            strip_request_ids(item)


def split_log_batch(request: tracking_pb2.LogBatch) -> Iterator[tracking_pb2.LogBatch]:
    """The batch in parts within MLflow's limits, in order: params, then tags, then metrics.

    A batch within the limits comes back whole, unchanged.
    """
    total = len(request.metrics) + len(request.params) + len(request.tags)
    if (
        len(request.metrics) <= MAX_METRICS_PER_BATCH
        and len(request.params) <= MAX_PARAMS_PER_BATCH
        and len(request.tags) <= MAX_TAGS_PER_BATCH
        and total <= MAX_ENTITIES_PER_BATCH
    ):
        yield request
        return
    run_id = request.run_id or request.run_uuid
    for field, size in (
        ("params", MAX_PARAMS_PER_BATCH),
        ("tags", MAX_TAGS_PER_BATCH),
        ("metrics", MAX_METRICS_PER_BATCH),
    ):
        items = list(getattr(request, field))
        for start in range(0, len(items), size):
            part = tracking_pb2.LogBatch(run_id=run_id)
            getattr(part, field).extend(items[start : start + size])
            yield part
