"""Old ids after a move. A workspace switched to the backend `flowport migrate` copied it to
(`migrated_from:` in the configuration) still answers the ids its clients hold: run, logged model
and trace ids — and the run inside `runs:/<id>/…` and `models:/m-…` sources — that name a migrated
object are replaced by its copy's id before the call reaches the backend.

Run, logged model and trace ids are unique strings (uuids), so an id of the migration's map is always
an old id. Experiment ids are small integers that the target may also use for its own experiments: an
old experiment id is replaced only when the target has no experiment with that id (the target's own
wins), so ids handed out after the switch keep meaning what they mean.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from flowport.adapters.backend import Backend
from flowport.gateway.config import ConfigError, GatewayConfig, default_home
from flowport.gateway.migrate.state import MigrationState, default_state_url
from flowport.v1 import tracking_pb2
from flowport.v1.errors import ApiError

# Field names (anywhere in a request) holding an id of each kind.
_FIELDS = {
    "run": frozenset({"run_id", "run_uuid", "source_run_id", "run_ids"}),
    "logged_model": frozenset({"model_id", "model_ids"}),
    "trace": frozenset({"trace_id", "trace_ids", "request_id", "request_ids"}),
    "experiment": frozenset({"experiment_id", "experiment_ids"}),
}
_URI_FIELDS = frozenset({"source"})  # a model version's source
_RUNS_URI = re.compile(r"^runs:/([^/]+)(/.*)?$")
_MODELS_URI = re.compile(r"^models:/(m-[^/]+)(/.*)?$")


@dataclasses.dataclass(frozen=True)
class MigratedIds:
    """source id → target id per kind, merged over the migrations into one backend."""

    sources: tuple[str, ...]  # the backends migrated from
    ids: Mapping[str, Mapping[str, str]]

    @classmethod
    def load(cls, state_url: str, sources: tuple[str, ...], target: str) -> MigratedIds:
        merged: dict[str, dict[str, str]] = {kind: {} for kind in _FIELDS}
        for source in sources:
            state = MigrationState(state_url, source, target, read_only=True)
            try:
                for kind in _FIELDS:
                    merged[kind].update(state.id_map(kind))
            finally:
                state.close()
        return cls(sources, merged)

    @property
    def empty(self) -> bool:
        return not any(self.ids.values())


class IdTranslation:
    """Rewrites the old ids in one workspace's requests, in place."""

    def __init__(self, migrated: MigratedIds) -> None:
        self.sources = migrated.sources
        self._ids = migrated.ids
        self._native_experiments: set[str] = set()  # old ids the target also has: its own win

    async def translate(self, request: Message, backend: Backend) -> None:
        for message, field, kind in list(_id_fields(request)):
            if field.is_repeated:
                values = getattr(message, field.name)
                values[:] = [await self._id(kind, v, backend) for v in values]
            else:
                setattr(message, field.name, await self._id(kind, getattr(message, field.name), backend))

    async def _id(self, kind: str, value: str, backend: Backend) -> str:
        if kind == "uri":
            return self._uri(value)
        new = self._ids[kind].get(value)
        if new is None or new == value:
            return value
        if kind == "experiment" and await self._target_has_experiment(value, backend):
            return value
        return new

    def _uri(self, value: str) -> str:
        for pattern, kind in ((_RUNS_URI, "run"), (_MODELS_URI, "logged_model")):
            if match := pattern.match(value):
                prefix = "runs:/" if kind == "run" else "models:/"
                new = self._ids[kind].get(match.group(1))
                return f"{prefix}{new}{match.group(2) or ''}" if new else value
        return value

    async def _target_has_experiment(self, experiment_id: str, backend: Backend) -> bool:
        if experiment_id in self._native_experiments:
            return True
        try:
            await backend.invoke("GetExperiment", tracking_pb2.GetExperiment(experiment_id=experiment_id))
        except ApiError as err:
            if err.error_code == "RESOURCE_DOES_NOT_EXIST":
                return False  # not remembered: the target may create that id later
            raise
        self._native_experiments.add(experiment_id)  # experiment ids are never reused
        return True


def _id_fields(message: Message) -> Iterable[tuple[Message, FieldDescriptor, str]]:
    """(message, field, kind) of every set id field, nested messages included."""
    for field, value in message.ListFields():
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                continue
            children = value if field.is_repeated else (value,)
            for child in children:
                yield from _id_fields(child)
        elif field.type == FieldDescriptor.TYPE_STRING:
            if field.name in _URI_FIELDS:
                yield message, field, "uri"
                continue
            for kind, names in _FIELDS.items():
                if field.name in names:
                    yield message, field, kind


def load_translations(config: GatewayConfig, source: str = "") -> dict[str, IdTranslation]:
    """The translation of each workspace that names the backends it was migrated from; ConfigError
    (one line per workspace) when the migration state holds no ids for one of them."""
    state_url = config.migration_state or default_state_url(default_home())
    translations: dict[str, IdTranslation] = {}
    problems: list[str] = []
    for workspace, sources in config.migrated_from.items():
        target = config.workspaces[workspace]
        try:
            migrated = MigratedIds.load(state_url, sources, target)
        except sa.exc.SQLAlchemyError as err:
            reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
            raise ConfigError(
                f"{source}: cannot read the migration state ({_shown(state_url)}): {reason}"
            ) from None
        if migrated.empty:
            problems.append(
                f"{source}: workspaces.{workspace}.migrated_from: no migration from "
                f"{', '.join(repr(s) for s in sources)} to '{target}' is recorded in the migration "
                f"state ({_shown(state_url)})"
            )
            continue
        translations[workspace] = IdTranslation(migrated)
    if problems:
        raise ConfigError("\n".join(problems))
    return translations


def _shown(url: str) -> str:
    """A state URL fit for a message: without its password."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)
