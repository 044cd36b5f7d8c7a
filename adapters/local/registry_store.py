"""The local backend's model registry: one method per ModelRegistryService RPC, each one transaction,
behaving as `mlflow server` 3.17 with a SQL store does.
"""

from __future__ import annotations

import json
import posixpath
import re
import urllib.parse
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy import orm

from flowport.adapters.local import registry_search, schema, search, workspace_rows
from flowport.adapters.local.clock import now_ms
from flowport.adapters.local.db import Sessions
from flowport.adapters.local.logged_model_schema import LIFECYCLE_DELETED, LoggedModel
from flowport.adapters.local.logged_model_schema import LoggedModelTag as LoggedModelTagRow
from flowport.adapters.local.registry_schema import (
    ALL_STAGES,
    STAGE_ARCHIVED,
    STAGE_DELETED_INTERNAL,
    STAGE_NONE,
    STAGE_PRODUCTION,
    STAGE_STAGING,
    STATUS_READY,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
)
from flowport.adapters.local.validation import (
    exceeds_maximum_length,
    invalid_value,
    missing_value,
    require,
)
from flowport.adapters.workspace_scope import workspace
from flowport.v1 import registry_pb2 as pb
from flowport.v1.errors import ApiError, already_exists, does_not_exist, invalid_parameter
from flowport.v1.mlflow_tags import PROMPT_TAG

SEARCH_REGISTERED_MODELS_MAX = 1000
SEARCH_MODEL_VERSIONS_MAX = 200_000
MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 100_000
MAX_ALIAS_LENGTH = 255
MODEL_VERSIONS_TAG_KEY = "mlflow.modelVersions"
# A version removed by delete_model_version keeps its row with these placeholders.
_REDACTED = {"source": "REDACTED-SOURCE-PATH", "run_id": "REDACTED-RUN-ID", "run_link": "REDACTED-RUN-LINK"}
_CREATE_VERSION_ATTEMPTS = 3

_ALIAS_RE = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS_RE = re.compile(r"^[vV]\d+$")
_NAME_RE = re.compile(r"^[/\w.\- :]*$")
_STAGES_BY_LOWER = {s.lower(): s for s in ALL_STAGES}
_ACTIVE_STAGES = [STAGE_STAGING, STAGE_PRODUCTION]
_STATUS_NUMBERS = {"PENDING_REGISTRATION": 1, "FAILED_REGISTRATION": 2, "READY": 3}


# ---- validation (MLflow's wording) ---------------------------------------------------------


def _path_not_unique(name: str) -> bool:
    norm = posixpath.normpath(name)
    return norm != name or norm == "." or norm.startswith("..") or norm.startswith("/")


def _bad_path_message(name: str) -> str:
    return (
        "Names may be treated as files in certain cases, and must not resolve to other names"
        f" when treated as such. This name would resolve to {posixpath.normpath(name)!r}"
    )


def validate_model_name(name: str | None, path: str = "name") -> None:
    if name is None or name.strip() == "":
        raise invalid_parameter(missing_value(path))
    if "/" in name or ":" in name:
        raise invalid_parameter(f"Invalid model name '{name}'. Names cannot contain '/' or ':'.")
    if _path_not_unique(name):
        raise invalid_parameter(invalid_value(path, name, _bad_path_message(name)))


def validate_version(version: str | int) -> int:
    try:
        return int(version)
    except (TypeError, ValueError):
        raise invalid_parameter(f"Parameter 'version' must be an integer, got '{version}'.") from None


def _validate_tag_key(key: str | None) -> None:
    if key is None:
        raise invalid_parameter(missing_value("key"))
    if not _NAME_RE.match(key):
        raise invalid_parameter(
            invalid_value(
                "key",
                key,
                "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.),"
                " spaces ( ), colon(:) and slashes (/).",
            )
        )
    if _path_not_unique(key):
        raise invalid_parameter(invalid_value("key", key, _bad_path_message(key)))


def _validate_tag(key: str, value: str | None) -> None:
    _validate_tag_key(key)
    if len(key) > MAX_TAG_KEY_LENGTH:
        raise invalid_parameter(exceeds_maximum_length("key", MAX_TAG_KEY_LENGTH))
    if value is not None and len(value) > MAX_TAG_VALUE_LENGTH:
        raise invalid_parameter(exceeds_maximum_length("value", MAX_TAG_VALUE_LENGTH))


def _validate_alias(alias: str | None) -> None:
    if not alias:
        raise invalid_parameter("Registered model alias name cannot be empty.")
    if not _ALIAS_RE.match(alias):
        raise invalid_parameter(
            f"Invalid alias name: '{alias}'. "
            "Names may only contain alphanumerics, underscores (_), and dashes (-)."
        )
    if len(alias) > MAX_ALIAS_LENGTH:
        raise invalid_parameter(exceeds_maximum_length("Registered model alias name", MAX_ALIAS_LENGTH))


def _validate_alias_not_reserved(alias: str) -> None:
    if alias.lower() == "latest":
        raise invalid_parameter("'latest' alias name (case insensitive) is reserved.")
    if _VERSION_ALIAS_RE.match(alias):
        raise invalid_parameter(f"Version alias name '{alias}' is reserved.")


def canonical_stage(stage: str) -> str:
    canonical = _STAGES_BY_LOWER.get(stage.lower())
    if canonical is None:
        raise invalid_parameter(
            f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(ALL_STAGES)}."
        )
    return canonical


def _has_prompt_tag(keys: Iterable[str]) -> bool:
    return PROMPT_TAG in set(keys)


# ---- row → proto ------------------------------------------------------------------------------


def _version_proto(mv: ModelVersion, aliases: Sequence[str] = ()) -> pb.ModelVersion:
    proto = pb.ModelVersion(name=mv.name, version=str(mv.version))
    if mv.creation_time is not None:
        proto.creation_timestamp = mv.creation_time
    if mv.last_updated_time is not None:
        proto.last_updated_timestamp = mv.last_updated_time
    for field in ("description", "user_id", "current_stage", "source", "run_id", "run_link"):
        value = getattr(mv, field)
        if value is not None:
            setattr(proto, field, value)
    if mv.status is not None:
        proto.status = _STATUS_NUMBERS.get(mv.status, 3)
    if mv.status_message:
        proto.status_message = mv.status_message
    proto.tags.extend(pb.ModelVersionTag(key=t.key, value=t.value) for t in mv.tags)
    proto.aliases.extend(aliases)
    return proto


def _model_proto(rm: RegisteredModel, latest: Sequence[ModelVersion]) -> pb.RegisteredModel:
    proto = pb.RegisteredModel(name=rm.name)
    if rm.creation_time is not None:
        proto.creation_timestamp = rm.creation_time
    if rm.last_updated_time:
        proto.last_updated_timestamp = rm.last_updated_time
    if rm.description:
        proto.description = rm.description
    # As MLflow, latest_versions carry no aliases; the model's own list has them.
    proto.latest_versions.extend(_version_proto(mv) for mv in latest)
    proto.tags.extend(pb.RegisteredModelTag(key=t.key, value=t.value) for t in rm.tags)
    proto.aliases.extend(
        pb.RegisteredModelAlias(alias=a.alias, version=str(a.version))
        for a in sorted(rm.aliases, key=lambda a: a.alias)
    )
    return proto


def _latest_per_stage(versions: Iterable[ModelVersion]) -> list[ModelVersion]:
    """The highest live version in each stage, stages in order of first appearance."""
    latest: dict[str, ModelVersion] = {}
    for mv in sorted(versions, key=lambda v: v.version):
        if mv.current_stage == STAGE_DELETED_INTERNAL:
            continue
        if mv.current_stage not in latest or latest[mv.current_stage].version < mv.version:
            latest[mv.current_stage] = mv
    return list(latest.values())


# ---- model version sources (the checks `mlflow server` makes before registering) ------------


def _source_error(source: str, id_name: str) -> ApiError:
    return invalid_parameter(
        f"Invalid model version source: '{source}'. The {id_name} request parameter must "
        "identify the resource that contains the source."
    )


def _unquote_fully(value: str, plus: bool = False) -> str:
    unquote = urllib.parse.unquote_plus if plus else urllib.parse.unquote
    while (unquoted := unquote(value)) != value:
        value = unquoted
    return value


def _check_no_relative_path(source: str) -> None:
    """Sources must not reach outside their root with `..` or NUL (path traversal)."""
    message = (
        f"Invalid model version source: '{source}'. If supplying a source as an http, https, "
        "local file path, ftp, objectstore, or mlflow-artifacts uri, an absolute path must be "
        "provided without relative path references present. "
        "Please provide an absolute path."
    )
    unquoted = _unquote_fully(source, plus=True)
    path = re.sub(r"/+", "/", urllib.parse.urlparse(unquoted).path.rstrip("/"))
    if "\x00" in path or any(p == ".." for p in unquoted.split("/")):
        raise invalid_parameter(message)
    if path and posixpath.normpath(path) != path and path != "":
        raise invalid_parameter(message)


def _uri_parts(uri: str) -> tuple[str, str, tuple[str, ...]]:
    parsed = urllib.parse.urlsplit(uri)
    parts = tuple(_unquote_fully(p) for p in parsed.path.split("/") if p)
    return parsed.scheme.lower(), parsed.netloc.lower(), parts


def _is_within(source: str, root: str | None) -> bool:
    if not root:
        return False
    s_scheme, s_host, s_parts = _uri_parts(source)
    r_scheme, r_host, r_parts = _uri_parts(root)
    return s_scheme == r_scheme and s_host == r_host and bool(r_parts) and s_parts[: len(r_parts)] == r_parts


def _is_mlflow_artifacts_source(source: str) -> bool:
    scheme, _, parts = _uri_parts(source)
    if scheme == "mlflow-artifacts":
        return True
    route = ("api", "2.0", "mlflow-artifacts", "artifacts")
    return scheme in ("http", "https") and any(
        parts[i : i + len(route)] == route for i in range(len(parts) - len(route) + 1)
    )


def _is_local(source: str) -> bool:
    return urllib.parse.urlparse(source).scheme in ("", "file")


def _parse_models_uri(source: str) -> dict[str, str | None]:
    """`models:/<model_id>`, `models:/<name>/<version|stage|latest>` or `models:/<name>@<alias>`."""
    improper = invalid_parameter(
        f"Invalid model version source: '{source}'. The model_id request parameter must "
        "identify the resource that contains the source."
    )
    path = urllib.parse.urlparse(source, allow_fragments=False).path
    if not path.startswith("/") or len(path) <= 1:
        raise improper
    parts = path.lstrip("/").split("/")
    if len(parts) > 2 or parts[0].strip() == "":
        raise improper
    if len(parts) == 2:
        name, suffix = parts
        if suffix.strip() == "":
            raise improper
        if suffix.isdigit():
            return {"name": name, "version": suffix}
        if suffix.lower() == "latest":
            return {"name": name}
        return {"name": name, "stage": suffix}
    if "@" in path:
        name, _, alias = parts[0].rpartition("@")
        if not alias.strip():
            raise improper
        return {"name": name, "alias": alias}
    return {"model_id": parts[0]}


def _logged_model(session: orm.Session, model_id: str) -> LoggedModel | None:
    """The logged model if it exists in the current workspace (through its experiment)."""
    return session.scalars(
        sa.select(LoggedModel).where(LoggedModel.model_id == model_id, workspace_rows.logged_model_visible())
    ).one_or_none()


class RegistryStore:
    """Registered models, model versions, tags and aliases in the local SQL database."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    # ---- lookups inside a session ------------------------------------------------------------

    def _model(self, session: orm.Session, name: str) -> RegisteredModel:
        validate_model_name(name)
        rm = session.get(RegisteredModel, {"workspace": workspace(), "name": name})
        if rm is None:
            raise does_not_exist(f"Registered Model with name={name} not found")
        return rm

    def _version(self, session: orm.Session, name: str, version: str | int) -> ModelVersion:
        validate_model_name(name)
        number = validate_version(version)
        mv = session.get(ModelVersion, {"workspace": workspace(), "name": name, "version": number})
        if mv is None or mv.current_stage == STAGE_DELETED_INTERNAL:
            raise does_not_exist(f"Model Version (name={name}, version={number}) not found")
        return mv

    def _aliases_of(self, session: orm.Session, name: str, version: int) -> list[str]:
        rows = session.scalars(
            sa.select(RegisteredModelAlias.alias)
            .where(
                RegisteredModelAlias.workspace == workspace(),
                RegisteredModelAlias.name == name,
                RegisteredModelAlias.version == version,
            )
            .order_by(RegisteredModelAlias.alias)
        )
        return list(rows)

    def _model_with_latest(self, session: orm.Session, rm: RegisteredModel) -> pb.RegisteredModel:
        return _model_proto(rm, _latest_per_stage(rm.versions))

    # ---- registered models -------------------------------------------------------------------

    def create_registered_model(self, request: pb.CreateRegisteredModel) -> pb.CreateRegisteredModel.Response:
        require(request, "name")
        name = request.name
        validate_model_name(name)
        tags: dict[str, str] = {}
        for tag in request.tags:
            _validate_tag(tag.key, tag.value)
            tags[tag.key] = tag.value
        with self.sessions.transaction() as session:
            existing = session.get(RegisteredModel, {"workspace": workspace(), "name": name})
            if existing is not None:
                raise self._name_taken(name, [t.key for t in existing.tags], tags)
            now = now_ms()
            rm = RegisteredModel(
                workspace=workspace(),
                name=name,
                creation_time=now,
                last_updated_time=now,
                description=request.description,
            )
            rm.tags = [
                RegisteredModelTag(workspace=rm.workspace, name=name, key=k, value=v) for k, v in tags.items()
            ]
            session.add(rm)
            try:
                session.flush()
            except sa.exc.IntegrityError:
                raise already_exists(f"Registered Model (name={name}) already exists.") from None
            return pb.CreateRegisteredModel.Response(registered_model=_model_proto(rm, []))

    @staticmethod
    def _name_taken(name: str, existing_keys: Iterable[str], new_keys: Iterable[str]) -> ApiError:
        old = "Prompt" if _has_prompt_tag(existing_keys) else "Registered Model"
        new = "Prompt" if _has_prompt_tag(new_keys) else "Registered Model"
        if old != new:
            return already_exists(
                f"Tried to create a {new.lower()} with name {name!r}, but the name is "
                f"already taken by a {old.lower()}. MLflow does not allow creating a "
                "model and a prompt with the same name."
            )
        return already_exists(f"{new} (name={name}) already exists.")

    def get_registered_model(self, request: pb.GetRegisteredModel) -> pb.GetRegisteredModel.Response:
        require(request, "name")
        with self.sessions.transaction() as session:
            rm = self._model(session, request.name)
            return pb.GetRegisteredModel.Response(registered_model=self._model_with_latest(session, rm))

    def update_registered_model(self, request: pb.UpdateRegisteredModel) -> pb.UpdateRegisteredModel.Response:
        require(request, "name")
        with self.sessions.transaction() as session:
            rm = self._model(session, request.name)
            rm.description = request.description
            rm.last_updated_time = now_ms()
            session.flush()
            return pb.UpdateRegisteredModel.Response(registered_model=self._model_with_latest(session, rm))

    def rename_registered_model(self, request: pb.RenameRegisteredModel) -> pb.RenameRegisteredModel.Response:
        require(request, "name", "new_name")
        name, new_name = request.name, request.new_name
        validate_model_name(new_name, "new_name")
        with self.sessions.transaction() as session:
            self._model(session, name)
            taken = session.get(RegisteredModel, {"workspace": workspace(), "name": new_name})
            if new_name != name and taken is not None:
                raise already_exists(f"Registered Model (name={new_name}) already exists.")
            now = now_ms()
            if new_name != name:
                # Copy-then-delete rather than updating the primary key in place: it needs no
                # ON UPDATE CASCADE support and keeps every child row's references valid.
                self._move_model(session, name, new_name)
            session.execute(
                sa.update(RegisteredModel)
                .where(RegisteredModel.workspace == workspace(), RegisteredModel.name == new_name)
                .values(last_updated_time=now)
            )
            session.execute(
                sa.update(ModelVersion)
                .where(ModelVersion.workspace == workspace(), ModelVersion.name == new_name)
                .values(last_updated_time=now)
            )
            session.expire_all()
            rm = self._model(session, new_name)
            return pb.RenameRegisteredModel.Response(registered_model=self._model_with_latest(session, rm))

    @staticmethod
    def _move_model(session: orm.Session, old: str, new: str) -> None:
        def copy(table: sa.Table, where: sa.ColumnElement[bool]) -> None:
            columns = [c for c in table.c if c.key != "name"]
            source = sa.select(sa.literal(new).label("name"), *columns).where(where)
            session.execute(sa.insert(table).from_select(["name", *[c.key for c in columns]], source))

        rm_t, mv_t = RegisteredModel.__table__, ModelVersion.__table__
        tag_t, mvt_t = RegisteredModelTag.__table__, ModelVersionTag.__table__
        alias_t = RegisteredModelAlias.__table__
        current = workspace()

        def of_old(table: sa.Table) -> sa.ColumnElement[bool]:
            return sa.and_(table.c.workspace == current, table.c.name == old)

        for table in (rm_t, mv_t, tag_t, mvt_t, alias_t):
            copy(table, of_old(table))
        for table in (mvt_t, alias_t, tag_t, mv_t, rm_t):
            session.execute(sa.delete(table).where(of_old(table)))

    def delete_registered_model(self, request: pb.DeleteRegisteredModel) -> pb.DeleteRegisteredModel.Response:
        require(request, "name")
        with self.sessions.transaction() as session:
            name = self._model(session, request.name).name
            # Children first, explicitly, so nothing depends on the database enforcing cascades.
            for table in (
                ModelVersionTag,
                RegisteredModelAlias,
                RegisteredModelTag,
                ModelVersion,
                RegisteredModel,
            ):
                session.execute(sa.delete(table).where(table.workspace == workspace(), table.name == name))
            return pb.DeleteRegisteredModel.Response()

    def search_registered_models(
        self, request: pb.SearchRegisteredModels
    ) -> pb.SearchRegisteredModels.Response:
        max_results = request.max_results
        if max_results > SEARCH_REGISTERED_MODELS_MAX:
            raise invalid_parameter(
                "Invalid value for request parameter max_results. It must be at most "
                f"{SEARCH_REGISTERED_MODELS_MAX}, but got value {max_results}"
            )
        if max_results < 1:
            raise invalid_parameter(
                f"Invalid value for max_results. It must be a positive integer, but got {max_results}"
            )
        comparisons = search.parse_registered_model_filter(request.filter)
        order_keys = search.parse_registered_model_order_by(list(request.order_by))
        offset = search.decode_page_token(request.page_token or None)
        query = (
            registry_search.registered_models_query(comparisons)
            .order_by(*registry_search.registered_models_order_by(order_keys, request.order_by))
            .options(orm.selectinload(RegisteredModel.tags), orm.selectinload(RegisteredModel.aliases))
            .offset(offset)
            .limit(max_results + 1)
        )
        with self.sessions.transaction() as session:
            models = list(session.scalars(query))
            page = models[:max_results]
            latest = self._latest_versions_for(session, [rm.name for rm in page])
            response = pb.SearchRegisteredModels.Response(
                registered_models=[_model_proto(rm, latest.get(rm.name, [])) for rm in page]
            )
            if len(models) > max_results:
                response.next_page_token = search.encode_page_token(offset + max_results)
            return response

    @staticmethod
    def _latest_versions_for(session: orm.Session, names: list[str]) -> dict[str, list[ModelVersion]]:
        """Latest live version per (model, stage) for a page of models, in one query."""
        if not names:
            return {}
        rank = (
            sa.func.row_number()
            .over(
                partition_by=[ModelVersion.workspace, ModelVersion.name, ModelVersion.current_stage],
                order_by=ModelVersion.version.desc(),
            )
            .label("rank")
        )
        ranked = (
            sa.select(ModelVersion.workspace, ModelVersion.name, ModelVersion.version, rank)
            .where(
                ModelVersion.workspace == workspace(),
                ModelVersion.name.in_(names),
                ModelVersion.current_stage != STAGE_DELETED_INTERNAL,
            )
            .subquery()
        )
        rows = session.scalars(
            sa.select(ModelVersion)
            .join(
                ranked,
                sa.and_(
                    ModelVersion.workspace == ranked.c.workspace,
                    ModelVersion.name == ranked.c.name,
                    ModelVersion.version == ranked.c.version,
                ),
            )
            .where(ranked.c.rank == 1)
            .options(orm.selectinload(ModelVersion.tags))
        )
        latest: dict[str, list[ModelVersion]] = {}
        for mv in rows:
            latest.setdefault(mv.name, []).append(mv)
        return {name: _latest_per_stage(versions) for name, versions in latest.items()}

    def get_latest_versions(self, request: pb.GetLatestVersions) -> pb.GetLatestVersions.Response:
        require(request, "name")
        stages = {canonical_stage(s) for s in request.stages} if request.stages else set(ALL_STAGES)
        with self.sessions.transaction() as session:
            rm = self._model(session, request.name)
            aliases: dict[int, list[str]] = {}
            for a in sorted(rm.aliases, key=lambda a: a.alias):
                aliases.setdefault(a.version, []).append(a.alias)
            versions = [mv for mv in _latest_per_stage(rm.versions) if mv.current_stage in stages]
            return pb.GetLatestVersions.Response(
                model_versions=[_version_proto(mv, aliases.get(mv.version, [])) for mv in versions]
            )

    # ---- registered model tags and aliases ---------------------------------------------------

    def set_registered_model_tag(
        self, request: pb.SetRegisteredModelTag
    ) -> pb.SetRegisteredModelTag.Response:
        require(request, "name", "key")
        validate_model_name(request.name)
        _validate_tag(request.key, request.value)
        with self.sessions.transaction() as session:
            self._model(session, request.name)
            session.merge(
                RegisteredModelTag(
                    workspace=workspace(), name=request.name, key=request.key, value=request.value
                )
            )
            return pb.SetRegisteredModelTag.Response()

    def delete_registered_model_tag(
        self, request: pb.DeleteRegisteredModelTag
    ) -> pb.DeleteRegisteredModelTag.Response:
        require(request, "name", "key")
        validate_model_name(request.name)
        _validate_tag_key(request.key)
        with self.sessions.transaction() as session:
            self._model(session, request.name)
            session.execute(
                sa.delete(RegisteredModelTag).where(
                    RegisteredModelTag.workspace == workspace(),
                    RegisteredModelTag.name == request.name,
                    RegisteredModelTag.key == request.key,
                )
            )
            return pb.DeleteRegisteredModelTag.Response()

    def set_registered_model_alias(
        self, request: pb.SetRegisteredModelAlias
    ) -> pb.SetRegisteredModelAlias.Response:
        require(request, "name", "alias", "version")
        validate_model_name(request.name)
        _validate_alias(request.alias)
        _validate_alias_not_reserved(request.alias)
        number = validate_version(request.version)
        with self.sessions.transaction() as session:
            self._version(session, request.name, number)
            # Setting an existing alias moves it to the new version.
            session.merge(
                RegisteredModelAlias(
                    workspace=workspace(), name=request.name, alias=request.alias, version=number
                )
            )
            return pb.SetRegisteredModelAlias.Response()

    def delete_registered_model_alias(
        self, request: pb.DeleteRegisteredModelAlias
    ) -> pb.DeleteRegisteredModelAlias.Response:
        require(request, "name", "alias")
        validate_model_name(request.name)
        _validate_alias(request.alias)
        with self.sessions.transaction() as session:
            self._model(session, request.name)
            session.execute(
                sa.delete(RegisteredModelAlias).where(
                    RegisteredModelAlias.workspace == workspace(),
                    RegisteredModelAlias.name == request.name,
                    RegisteredModelAlias.alias == request.alias,
                )
            )
            return pb.DeleteRegisteredModelAlias.Response()

    def get_model_version_by_alias(
        self, request: pb.GetModelVersionByAlias
    ) -> pb.GetModelVersionByAlias.Response:
        require(request, "name", "alias")
        name, alias = request.name, request.alias
        validate_model_name(name)
        _validate_alias(alias)
        with self.sessions.transaction() as session:
            rm = self._model(session, name)
            if alias.lower() == "latest":
                live = _latest_per_stage(rm.versions)
                if not live:
                    raise does_not_exist(f"Latest version not found for model {name}.")
                mv = max(live, key=lambda v: v.version)
            else:
                row = session.get(
                    RegisteredModelAlias, {"workspace": workspace(), "name": name, "alias": alias}
                )
                if row is None:
                    raise invalid_parameter(f"Registered model alias {alias} not found.")
                mv = self._version(session, name, row.version)
            return pb.GetModelVersionByAlias.Response(
                model_version=_version_proto(mv, self._aliases_of(session, name, mv.version))
            )

    # ---- model versions ----------------------------------------------------------------------

    def create_model_version(self, request: pb.CreateModelVersion) -> pb.CreateModelVersion.Response:
        require(request, "name", "source")
        name = request.name
        validate_model_name(name)
        tags: dict[str, str] = {}
        for tag in request.tags:
            _validate_tag(tag.key, tag.value)
            tags[tag.key] = tag.value
        is_prompt = _has_prompt_tag(tags)
        for attempt in range(_CREATE_VERSION_ATTEMPTS):
            try:
                with self.sessions.transaction() as session:
                    return self._create_version(session, request, tags, is_prompt)
            except sa.exc.IntegrityError:
                # Another writer took the same version number; recount and try again.
                if attempt == _CREATE_VERSION_ATTEMPTS - 1:
                    raise ApiError(
                        f"Model Version creation error (name={name}). Giving up after "
                        f"{_CREATE_VERSION_ATTEMPTS} attempts."
                    ) from None
        raise AssertionError("unreachable")

    def _create_version(
        self, session: orm.Session, request: pb.CreateModelVersion, tags: dict[str, str], is_prompt: bool
    ) -> pb.CreateModelVersion.Response:
        name = request.name
        source, storage_location, run_id, model_id = (
            request.source,
            request.source,
            request.run_id,
            request.model_id,
        )
        if not is_prompt:
            source, storage_location, run_id, model_id = self._resolve_source(session, request)
        rm = self._model(session, name)
        now = now_ms()
        rm.last_updated_time = now
        max_version = session.scalar(
            sa.select(sa.func.max(ModelVersion.version)).where(
                ModelVersion.workspace == rm.workspace, ModelVersion.name == name
            )
        )
        number = (max_version or 0) + 1
        mv = ModelVersion(
            workspace=rm.workspace,
            name=name,
            version=number,
            creation_time=now,
            last_updated_time=now,
            source=source,
            storage_location=storage_location,
            run_id=run_id,
            run_link=request.run_link,
            description=request.description,
            current_stage=STAGE_NONE,
            status=STATUS_READY,
        )
        mv.tags = [
            ModelVersionTag(workspace=rm.workspace, name=name, version=number, key=k, value=v)
            for k, v in tags.items()
        ]
        session.add(mv)
        session.flush()
        if model_id and not is_prompt:
            self._record_registration(session, model_id, name, number)
        return pb.CreateModelVersion.Response(model_version=_version_proto(mv, []))

    @staticmethod
    def _record_registration(session: orm.Session, model_id: str, name: str, version: int) -> None:
        """As mlflow server: the logged model's `mlflow.modelVersions` tag lists its registrations."""
        lm = _logged_model(session, model_id)
        if lm is None or lm.lifecycle_stage == LIFECYCLE_DELETED:
            raise does_not_exist(f"Logged model with ID '{model_id}' not found.")
        entry = {"name": name, "version": version}
        row = session.get(LoggedModelTagRow, (model_id, MODEL_VERSIONS_TAG_KEY))
        entries = json.loads(row.tag_value) if row is not None else []
        if entry not in entries:
            entries.append(entry)
        session.merge(
            LoggedModelTagRow(
                model_id=model_id,
                experiment_id=lm.experiment_id,
                tag_key=MODEL_VERSIONS_TAG_KEY,
                tag_value=json.dumps(entries),
            )
        )

    def _logged_model_for_source(self, session: orm.Session, model_id: str, source: str) -> LoggedModel:
        lm = _logged_model(session, model_id)
        if lm is None or lm.lifecycle_stage == LIFECYCLE_DELETED:
            raise _source_error(source, "model_id")
        return lm

    def _resolve_source(
        self, session: orm.Session, request: pb.CreateModelVersion
    ) -> tuple[str, str, str, str]:
        """(source, storage_location, run_id, model_id) after mlflow server's lineage checks."""
        source, run_id, model_id = request.source, request.run_id, request.model_id
        if urllib.parse.urlparse(source).scheme == "models":
            if urllib.parse.urlparse(source).netloc:
                raise invalid_parameter(
                    f"Invalid model version source: '{source}'. Registered model sources must use the "
                    "active model registry."
                )
            parsed = _parse_models_uri(source)
            if parsed.get("model_id"):
                if not model_id or parsed["model_id"] != model_id:
                    raise _source_error(source, "model_id")
                lm = self._logged_model_for_source(session, model_id, source)
                return source, lm.artifact_location, run_id or (lm.source_run_id or ""), model_id
            src = self._referenced_version(session, source, parsed)
            if (request.HasField("run_id") and run_id != (src.run_id or "")) or (
                request.HasField("model_id") and model_id != ""
            ):
                raise invalid_parameter(
                    f"Invalid model version source: '{source}'. The run_id and model_id request "
                    "parameters must match the referenced model version."
                )
            resolved_run_id = run_id if request.HasField("run_id") else (src.run_id or "")
            return (
                f"models:/{src.name}/{src.version}",
                src.storage_location or src.source or "",
                resolved_run_id,
                model_id,
            )

        if _is_local(source):
            id_name = "model_id" if model_id else "run_id"
            raise invalid_parameter(
                f"Invalid model version source: '{source}'. To use a local path as a model version "
                f"source, the {id_name} request parameter has to be specified and the local path has to "
                f"be contained within the artifact directory of the run specified by the {id_name}."
            )
        _check_no_relative_path(source)
        scheme = urllib.parse.urlparse(source).scheme
        if model_id:
            if scheme == "runs":
                raise _source_error(source, "model_id")
            lm = None
            if _is_mlflow_artifacts_source(source):
                lm = self._logged_model_for_source(session, model_id, source)
                if not _is_within(source, lm.artifact_location):
                    raise _source_error(source, "model_id")
            lm = lm or _logged_model(session, model_id)
            return source, source, run_id or ((lm.source_run_id if lm else None) or ""), model_id
        if scheme == "runs":
            parsed = urllib.parse.urlparse(source)
            source_run_id = parsed.path.lstrip("/").split("/", 1)[0]
            if parsed.netloc or not run_id or source_run_id != run_id:
                raise _source_error(source, "run_id")
        elif _is_mlflow_artifacts_source(source):
            artifact_uri = (
                session.scalar(
                    sa.select(schema.Run.artifact_uri).where(
                        schema.Run.run_uuid == run_id, workspace_rows.run_visible()
                    )
                )
                if run_id
                else None
            )
            if not _is_within(source, artifact_uri):
                raise _source_error(source, "run_id")
        return source, source, run_id, model_id

    def _referenced_version(self, session: orm.Session, source: str, parsed: dict) -> ModelVersion:
        """The version a `models:/name/...` source points at, in this registry."""
        name = parsed["name"]
        rm = self._model(session, name)
        if _has_prompt_tag(t.key for t in rm.tags if t.value == "true"):
            raise invalid_parameter(
                f"Invalid model version source: '{source}'. Prompt versions cannot be used as "
                "model version sources."
            )
        if parsed.get("version"):
            return self._version(session, name, parsed["version"])
        if parsed.get("alias"):
            row = session.get(
                RegisteredModelAlias, {"workspace": workspace(), "name": name, "alias": parsed["alias"]}
            )
            if row is None:
                raise invalid_parameter(f"Registered model alias {parsed['alias']} not found.")
            return self._version(session, name, row.version)
        live = _latest_per_stage(rm.versions)
        if parsed.get("stage"):
            stage = canonical_stage(parsed["stage"])
            live = [mv for mv in live if mv.current_stage == stage]
        if not live:
            stage_text = f" and stage '{parsed['stage']}'" if parsed.get("stage") else ""
            raise ApiError(f"No versions of model with name '{name}'{stage_text} found")
        return max(live, key=lambda mv: mv.version)

    def get_model_version(self, request: pb.GetModelVersion) -> pb.GetModelVersion.Response:
        require(request, "name", "version")
        with self.sessions.transaction() as session:
            mv = self._version(session, request.name, request.version)
            return pb.GetModelVersion.Response(
                model_version=_version_proto(mv, self._aliases_of(session, mv.name, mv.version))
            )

    def update_model_version(self, request: pb.UpdateModelVersion) -> pb.UpdateModelVersion.Response:
        require(request, "name", "version")
        with self.sessions.transaction() as session:
            mv = self._version(session, request.name, request.version)
            mv.description = request.description if request.HasField("description") else None
            mv.last_updated_time = now_ms()
            session.flush()
            return pb.UpdateModelVersion.Response(
                model_version=_version_proto(mv, self._aliases_of(session, mv.name, mv.version))
            )

    def transition_model_version_stage(
        self, request: pb.TransitionModelVersionStage
    ) -> pb.TransitionModelVersionStage.Response:
        require(request, "name", "version", "stage")
        stage = canonical_stage(request.stage)
        if request.archive_existing_versions and stage not in _ACTIVE_STAGES:
            raise invalid_parameter(
                "Model version transition cannot archive existing model versions because "
                f"'{request.stage}' is not an Active stage. Valid stages are {_ACTIVE_STAGES}"
            )
        with self.sessions.transaction() as session:
            mv = self._version(session, request.name, request.version)
            now = now_ms()
            if request.archive_existing_versions:
                session.execute(
                    sa.update(ModelVersion)
                    .where(
                        ModelVersion.workspace == mv.workspace,
                        ModelVersion.name == mv.name,
                        ModelVersion.version != mv.version,
                        ModelVersion.current_stage == stage,
                    )
                    .values(current_stage=STAGE_ARCHIVED, last_updated_time=now)
                    .execution_options(synchronize_session=False)
                )
            mv.current_stage = stage
            mv.last_updated_time = now
            mv.registered_model.last_updated_time = now
            session.flush()
            return pb.TransitionModelVersionStage.Response(
                model_version=_version_proto(mv, self._aliases_of(session, mv.name, mv.version))
            )

    def delete_model_version(self, request: pb.DeleteModelVersion) -> pb.DeleteModelVersion.Response:
        require(request, "name", "version")
        number = validate_version(request.version)
        with self.sessions.transaction() as session:
            mv = self._version(session, request.name, number)
            now = now_ms()
            mv.registered_model.last_updated_time = now
            session.execute(
                sa.delete(RegisteredModelAlias).where(
                    RegisteredModelAlias.workspace == mv.workspace,
                    RegisteredModelAlias.name == mv.name,
                    RegisteredModelAlias.version == number,
                )
            )
            # The row stays (its number is never reused); what it said about the model goes.
            mv.current_stage = STAGE_DELETED_INTERNAL
            mv.last_updated_time = now
            mv.description = None
            mv.user_id = None
            mv.source = _REDACTED["source"]
            mv.run_id = _REDACTED["run_id"]
            mv.run_link = _REDACTED["run_link"]
            mv.status_message = None
            return pb.DeleteModelVersion.Response()

    def get_model_version_download_uri(
        self, request: pb.GetModelVersionDownloadUri
    ) -> pb.GetModelVersionDownloadUri.Response:
        with self.sessions.transaction() as session:
            mv = self._version(session, request.name, request.version)
            return pb.GetModelVersionDownloadUri.Response(artifact_uri=mv.storage_location or mv.source)

    def search_model_versions(self, request: pb.SearchModelVersions) -> pb.SearchModelVersions.Response:
        max_results = request.max_results
        if max_results < 1:
            raise invalid_parameter(
                f"Invalid value for max_results. It must be a positive integer, but got {max_results}"
            )
        if max_results > SEARCH_MODEL_VERSIONS_MAX:
            raise invalid_parameter(
                "Invalid value for request parameter max_results. It must be at most "
                f"{SEARCH_MODEL_VERSIONS_MAX}, but got value {max_results}"
            )
        comparisons = search.parse_model_version_filter(request.filter)
        raw_order = list(request.order_by) or list(registry_search.DEFAULT_MODEL_VERSION_ORDER)
        order_keys = search.parse_model_version_order_by(raw_order)
        offset = search.decode_page_token(request.page_token or None)
        query = (
            registry_search.model_versions_query(comparisons)
            .order_by(*registry_search.model_versions_order_by(order_keys, raw_order))
            .options(orm.selectinload(ModelVersion.tags))
            .offset(offset)
            .limit(max_results + 1)
        )
        with self.sessions.transaction() as session:
            versions = list(session.scalars(query))
            page = versions[:max_results]
            aliases: dict[tuple[str, int], list[str]] = {}
            names = sorted({mv.name for mv in page})
            if names:
                for row in session.scalars(
                    sa.select(RegisteredModelAlias)
                    .where(
                        RegisteredModelAlias.workspace == workspace(), RegisteredModelAlias.name.in_(names)
                    )
                    .order_by(RegisteredModelAlias.alias)
                ):
                    aliases.setdefault((row.name, row.version), []).append(row.alias)
            response = pb.SearchModelVersions.Response(
                model_versions=[_version_proto(mv, aliases.get((mv.name, mv.version), [])) for mv in page]
            )
            if len(versions) > max_results:
                response.next_page_token = search.encode_page_token(offset + max_results)
            return response

    # ---- model version tags ------------------------------------------------------------------

    def set_model_version_tag(self, request: pb.SetModelVersionTag) -> pb.SetModelVersionTag.Response:
        require(request, "name", "version", "key")
        validate_model_name(request.name)
        number = validate_version(request.version)
        _validate_tag(request.key, request.value)
        with self.sessions.transaction() as session:
            self._version(session, request.name, number)
            session.merge(
                ModelVersionTag(
                    workspace=workspace(),
                    name=request.name,
                    version=number,
                    key=request.key,
                    value=request.value,
                )
            )
            return pb.SetModelVersionTag.Response()

    def delete_model_version_tag(
        self, request: pb.DeleteModelVersionTag
    ) -> pb.DeleteModelVersionTag.Response:
        require(request, "name", "version", "key")
        validate_model_name(request.name)
        number = validate_version(request.version)
        _validate_tag_key(request.key)
        with self.sessions.transaction() as session:
            self._version(session, request.name, number)
            session.execute(
                sa.delete(ModelVersionTag).where(
                    ModelVersionTag.workspace == workspace(),
                    ModelVersionTag.name == request.name,
                    ModelVersionTag.version == number,
                    ModelVersionTag.key == request.key,
                )
            )
            return pb.DeleteModelVersionTag.Response()
