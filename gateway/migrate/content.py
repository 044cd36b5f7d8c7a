"""What "the same" means for a migrated object: canonical forms and digests shared by copy and verify.

A metric point is (step, timestamp, value) with the value as `repr` (so NaN equals NaN and -0.0
is not 0.0); a series is its points sorted; tags compare after the parent-run link is rewritten to
target ids and without the lineage tag flowport adds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

from flowport.v1 import tracking_pb2
from flowport.v1.mlflow_tags import PROMPT_TAG

# Set on every object flowport creates in a target: the source id it came from (lineage, and how a
# create interrupted before its id was recorded is found again instead of repeated).
MIGRATED_FROM = "flowport.migrated_from"
PARENT_RUN_TAG = "mlflow.parentRunId"

Point = tuple[int, int, str]  # (step, timestamp, repr(value))


def point(metric: tracking_pb2.Metric) -> Point:
    return (metric.step, metric.timestamp, repr(float(metric.value)))


def series_digest(points: Iterable[Point]) -> tuple[int, str]:
    """(number of points, sha256 of the sorted series)."""
    ordered = sorted(points)
    digest = hashlib.sha256(json.dumps(ordered, separators=(",", ":")).encode()).hexdigest()
    return len(ordered), digest


def mapping_digest(values: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(values.items()), separators=(",", ":")).encode()).hexdigest()


def value_digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, separators=(",", ":"), sort_keys=True).encode()).hexdigest()


def comparable_tags(tags: Iterable[tracking_pb2.RunTag | tracking_pb2.ExperimentTag]) -> dict[str, str]:
    """Tags as a dict, without flowport's lineage tag (present only on the target side)."""
    return {t.key: t.value for t in tags if t.key != MIGRATED_FROM}


def target_run_tags(run: tracking_pb2.Run, run_ids: Mapping[str, str]) -> dict[str, str]:
    """The tags a source run's copy must carry: its parent link pointing at the parent's copy."""
    tags = comparable_tags(run.data.tags)
    parent = tags.get(PARENT_RUN_TAG)
    if parent and parent in run_ids:
        tags[PARENT_RUN_TAG] = run_ids[parent]
    return tags


def run_info(info: tracking_pb2.RunInfo) -> dict[str, object]:
    """The run fields a copy must match (ids and artifact locations differ by design)."""
    return {
        "run_name": info.run_name,
        "status": tracking_pb2.RunStatus.Name(info.status) if info.HasField("status") else "",
        "start_time": info.start_time if info.HasField("start_time") else None,
        "end_time": info.end_time if info.HasField("end_time") and info.end_time else None,
        "user_id": info.user_id,
    }


# ---- the registry: tags that hold source ids (prompts record the experiments and runs using them) ----

PROMPT_EXPERIMENT_IDS_TAG = "_mlflow_experiment_ids"  # ",1,7," on a prompt
PROMPT_RUN_IDS_TAG = "mlflow.prompt.associatedRunIds"  # "a,b" on a prompt version


def _mapped_list(value: str, ids: Mapping[str, str], wrapped: bool) -> str:
    items = [ids.get(item.strip(), item.strip()) for item in value.strip(",").split(",") if item.strip()]
    return f",{','.join(items)}," if wrapped and items else ",".join(items)


def target_model_tags(tags: Iterable, experiment_ids: Mapping[str, str]) -> dict[str, str]:
    """The tags a registered model's copy must carry: a prompt's experiment list in target ids."""
    wanted = comparable_tags(tags)
    if PROMPT_EXPERIMENT_IDS_TAG in wanted:
        wanted[PROMPT_EXPERIMENT_IDS_TAG] = _mapped_list(
            wanted[PROMPT_EXPERIMENT_IDS_TAG], experiment_ids, True
        )
    return wanted


def target_version_tags(tags: Iterable, run_ids: Mapping[str, str]) -> dict[str, str]:
    """The tags a model version's copy must carry: a prompt version's run list in target ids."""
    wanted = comparable_tags(tags)
    if PROMPT_RUN_IDS_TAG in wanted:
        wanted[PROMPT_RUN_IDS_TAG] = _mapped_list(wanted[PROMPT_RUN_IDS_TAG], run_ids, False)
    return wanted


def is_prompt(tags: Iterable) -> bool:
    return any(t.key == PROMPT_TAG and t.value.lower() == "true" for t in tags)
