"""Governance around every call: authenticate → authorize by the policy table → (the call) → audit.

`GatewayService.call` runs every unary call through `Governance.govern`; the doors wrap the calls
they stream themselves (artifact bytes) in `Governance.guard`. Either way a call gets exactly one
audit record, and a denied call never reaches the backend. When a rule's target sits behind another
resource (a run's experiment, a trace's, a logged model's), the experiment is found by a lookup
through the gateway's own routing — the same backend the call would reach — and remembered.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import pathlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from cachetools import TTLCache
from google.protobuf.message import Message

from flowport.adapters.artifact_store import normalize_artifact_path
from flowport.auth import policy
from flowport.auth.access import NO_ACCESS, Access, Grant, Level, ResourceKind, Role
from flowport.auth.admin import Administration, resource_kind
from flowport.auth.audit import AuditRecord, Outcome, random_uuid
from flowport.auth.authenticate import CREDENTIALS_REQUIRED, Authenticator, unauthenticated
from flowport.auth.config import AuthConfig
from flowport.auth.principal import ANONYMOUS, Method, Principal
from flowport.auth.store import AuthStore
from flowport.gateway.audit_sink import AuditSink
from flowport.gateway.call import Call
from flowport.v1 import tracing_pb2, tracking_pb2
from flowport.v1.errors import ApiError

if TYPE_CHECKING:
    from flowport.gateway.service import RoutingSnapshot

log = logging.getLogger("flowport.auth")

T = TypeVar("T")
Invoke = Callable[[Call, str], Awaitable[Message]]

AUTH_SERVICE = "flowport.v1.AuthService"
TRACKING_SERVICE = "flowport.v1.TrackingService"
TRACING_SERVICE = "flowport.v1.TracingService"
_ADMIN = Access(admin=True)

# How the experiment behind a run, trace, logged model or experiment name is found: the lookup call
# and where the experiment id is in its answer.
_LOOKUPS: dict[str, tuple[str, str, Callable[[str], Message], str]] = {
    "run": (TRACKING_SERVICE, "GetRun", lambda v: tracking_pb2.GetRun(run_id=v), "run.info.experiment_id"),
    "trace": (
        TRACING_SERVICE,
        "GetTraceInfoV3",
        lambda v: tracing_pb2.GetTraceInfoV3(trace_id=v),
        "trace.trace_info.trace_location.mlflow_experiment.experiment_id",
    ),
    "logged_model": (
        TRACKING_SERVICE,
        "GetLoggedModel",
        lambda v: tracking_pb2.GetLoggedModel(model_id=v),
        "model.info.experiment_id",
    ),
    "experiment_name": (
        TRACKING_SERVICE,
        "GetExperimentByName",
        lambda v: tracking_pb2.GetExperimentByName(experiment_name=v),
        "experiment.experiment_id",
    ),
}
_LABELS = {"run": "run", "source_run": "run", "trace": "trace", "logged_model": "logged_model"}


def permission_denied(rpc: str) -> ApiError:
    return ApiError(f"Permission denied for {rpc}", "PERMISSION_DENIED")


def field_values(message: Message, path: str) -> list[str]:
    """The non-empty values at a dotted path; repeated fields on the way contribute each element."""
    items: list[Any] = [message]
    for part in path.split("."):
        found: list[Any] = []
        for item in items:
            field = item.DESCRIPTOR.fields_by_name.get(part) if isinstance(item, Message) else None
            if field is None:
                continue
            for name in (part, *policy.ALIASES.get(part, ())):
                if name not in item.DESCRIPTOR.fields_by_name:
                    continue
                value = getattr(item, name)
                if item.DESCRIPTOR.fields_by_name[name].is_repeated:
                    found.extend(value)
                elif isinstance(value, Message):
                    if item.HasField(name):
                        found.append(value)
                else:
                    found.append(value)
        items = found
    return list(dict.fromkeys(str(v) for v in items if not isinstance(v, Message) and v not in ("", None)))


def experiment_of_artifact_path(path: str) -> str | None:
    """`[workspaces/<ws>/]<experiment_id>/...` → the experiment id (MLflow's artifact layout). The path
    is normalized exactly as the artifact proxy will (`./2/x` is experiment 2's; `..` is refused)."""
    parts = [p for p in normalize_artifact_path(path).split("/") if p]
    if len(parts) >= 2 and parts[0] == "workspaces":
        parts = parts[2:]
    return parts[0] if parts else None


def run_of_source(source: str) -> str | None:
    """`runs:/<run_id>/path` → the run id."""
    if source.startswith("runs:/"):
        run_id = source[len("runs:/") :].lstrip("/").split("/", 1)[0]
        return run_id or None
    return None


@dataclasses.dataclass
class Admission:
    """An authorized call: who, with what standing, under which rule."""

    principal: Principal
    access: Access
    rule: policy.Rule
    resources: list[str]  # what the audit record names ("experiment:12", "run:ab12…")


class Governance:
    def __init__(
        self,
        config: AuthConfig,
        store: AuthStore,
        *,
        authenticator: Authenticator | None = None,
        audit: AuditSink | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.authenticator = authenticator or Authenticator(config, store)
        self.audit = audit or AuditSink(config.audit, store.engine)
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="flowport-authz")
        self._access: TTLCache[tuple, Access] = TTLCache(50_000, config.cache_seconds)
        # What a run, trace or logged model belongs to never changes; a name can point elsewhere later.
        self._owners: TTLCache[tuple[str, str, str], str | None] = TTLCache(200_000, 3600)
        self._names: TTLCache[tuple[str, str, str], str | None] = TTLCache(10_000, config.cache_seconds)
        self.admin = self._administration()
        self._retiring: set[asyncio.Future] = set()  # what a reload replaced, closed once unused
        self._closing = asyncio.Event()

    @classmethod
    def from_config(cls, config: AuthConfig, home: pathlib.Path) -> Governance:
        """Open (and migrate) the state database; create the bootstrap admin if it is not there."""
        store = AuthStore(config.database_url(home))
        if config.bootstrap_admin is not None:
            username, password = config.bootstrap_admin
            if store.find_user(username) is None:
                store.create_user(username, password, is_admin=True)
                log.info("auth: created the bootstrap admin '%s'", username)
        return cls(config, store)

    def _administration(self) -> Administration:
        return Administration(
            self.store,
            self._blocking,
            default_role=self.config.default_role,
            on_change=self.forget,
            check_password=self.authenticator.check_password,
        )

    def start(self) -> None:
        self.audit.start()

    def reconfigure(self, config: AuthConfig, audit: AuditSink | None, *, grace: float) -> None:
        """Run by `config` from now on (a live reload; gateway.auth_reload decided what may change:
        never the state database). `audit`, started, replaces the audit sink. Cached rows and
        credentials are dropped and read again; the count of failed passwords carries over. The
        replaced authenticator serves the calls already inside it, and is closed `grace` seconds on."""
        old, keep_oidc = self.authenticator, config.oidc == self.config.oidc
        authenticator = Authenticator(config, self.store, oidc=old.oidc if keep_oidc else None)
        authenticator.failed_logins = old.failed_logins
        self.config, self.authenticator = config, authenticator
        self._access = TTLCache(50_000, config.cache_seconds)
        self._names = TTLCache(10_000, config.cache_seconds)
        self.admin = self._administration()
        self._spawn(self._retire(old, keep_oidc, grace))
        if audit is not None:
            replaced, self.audit = self.audit, audit
            self._spawn(replaced.close())  # writes what it holds; new records go to `audit`

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _retire(self, authenticator: Authenticator, keep_oidc: bool, grace: float) -> None:
        with contextlib.suppress(TimeoutError):  # the gateway closing ends the grace early
            await asyncio.wait_for(self._closing.wait(), grace)
        if keep_oidc:  # its successor verifies with the same JWKS client
            authenticator.oidc = None
        await authenticator.close()

    async def close(self) -> None:
        self._closing.set()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        await self.audit.close()
        await self.authenticator.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.store.close()

    def forget(self) -> None:
        """Users, tokens, bindings or permissions changed: drop what was read of them."""
        self._access.clear()
        self.authenticator.forget()

    # --- the one code path ----------------------------------------------------------------------

    async def govern(self, call: Call, service: str, invoke: Invoke, snapshot: RoutingSnapshot) -> Message:
        async with self.guard(call, service, invoke, snapshot) as admission:
            if service == AUTH_SERVICE:
                return await self.admin.invoke(call.rpc, call.request, admission.principal, call.workspace)
            rule = admission.rule
            if rule.request_filter is not None:
                early = self._filter_request(rule.request_filter, admission.access, call)
                if early is not None:
                    return early
            response = await invoke(call, service)
            if rule.response_filter is not None:
                await self._filter_response(rule.response_filter, admission, response)
            await self._after(rule, admission, call, response)
            return response

    @contextlib.asynccontextmanager
    async def guard(
        self, call: Call, service: str, invoke: Invoke, snapshot: RoutingSnapshot
    ) -> AsyncIterator[Admission]:
        """Authenticate and authorize `call` (UNAUTHENTICATED, PERMISSION_DENIED), let the body run,
        and record the call's audit record whatever happens."""
        started, event_time = time.perf_counter(), int(time.time() * 1000)
        request, principal, resources = call.request, ANONYMOUS, []
        outcome, status, error_code = Outcome.ERROR, 200, ""
        try:
            principal = await self.authenticator.authenticate(call.credentials)
            if principal.anonymous:
                raise unauthenticated(CREDENTIALS_REQUIRED)
            # A migrated workspace's old ids become their copies' before permissions are checked on
            # them (and only for a caller who proved who they are: nobody else reaches a backend).
            await snapshot.translate(call)
            rule = policy.rule_for(service, call.rpc)
            if rule is None:  # cannot happen for a served RPC (a test holds that); refuse if it does
                raise permission_denied(call.rpc)
            access = await self._authorize(rule, principal, call, invoke, resources)
            outcome = Outcome.ALLOWED
            yield Admission(principal, access, rule, resources)
        except ApiError as err:
            status, error_code = err.http_status, err.error_code
            if err.error_code == "PERMISSION_DENIED":
                outcome = Outcome.DENIED
            elif err.error_code == "UNAUTHENTICATED" and outcome != Outcome.ALLOWED:
                outcome = Outcome.UNAUTHENTICATED
                if claimed := getattr(err, "claimed", ""):  # whom a failed password was for
                    principal = dataclasses.replace(ANONYMOUS, name=claimed, method=Method.BASIC)
            raise
        except asyncio.CancelledError:
            status, error_code = 499, "CANCELLED"
            raise
        except Exception:
            status, error_code = 500, "INTERNAL_ERROR"
            raise
        finally:
            entry = snapshot.directory.entries.get(call.workspace)
            self.audit.record(
                AuditRecord(
                    event_time=event_time,
                    request_id=call.request_id or random_uuid().hex,
                    principal=principal.name,
                    principal_kind=str(principal.kind),
                    auth_method=str(principal.method),
                    groups=sorted(principal.groups),
                    source_ip=call.source,
                    user_agent=call.user_agent,
                    workspace=call.workspace,
                    backend=entry.backend if entry is not None else "",
                    service_name=service.rsplit(".", 1)[-1],
                    action=call.rpc,
                    resources=resources,
                    request_params={},
                    request=request,
                    outcome=outcome,
                    status_code=status,
                    error_code=error_code,
                    latency_ms=(time.perf_counter() - started) * 1000,
                )
            )

    # --- deciding -------------------------------------------------------------------------------

    async def access(self, principal: Principal, workspace: str) -> Access:
        if principal.admin:
            return _ADMIN
        if principal.anonymous:
            return NO_ACCESS
        key = (workspace, principal.name, principal.kind, principal.groups)
        access = self._access.get(key)
        if access is None:
            access = self._access[key] = await self._blocking(
                self.store.access,
                workspace,
                principal.name,
                principal.groups,
                admin=False,
                default_role=self.config.default_role,
            )
        return access

    async def _authorize(
        self, rule: policy.Rule, principal: Principal, call: Call, invoke: Invoke, resources: list[str]
    ) -> Access:
        need, rpc = rule.need, call.rpc
        if isinstance(need, policy.GatewayAdmin):
            if not principal.admin:
                raise permission_denied(rpc)
            return _ADMIN
        if isinstance(need, policy.SelfOrAdmin):
            named = _first(call.request, need.field) or principal.name
            resources.append(f"user:{named}")
            if named != principal.name and not principal.admin:
                raise permission_denied(rpc)
            return await self.access(principal, call.workspace)
        if isinstance(need, policy.WorkspaceAdmin | policy.WorkspaceMember):
            workspace = _first(call.request, need.field) or call.workspace
            resources.append(f"workspace:{workspace}")
            access = await self.access(principal, workspace)
            allowed = (
                access.has_role(Role.ADMIN) if isinstance(need, policy.WorkspaceAdmin) else access.member
            )
            if not allowed or (workspace == "*" and not principal.admin):
                raise permission_denied(rpc)
            return access
        access = await self.access(principal, call.workspace)
        if isinstance(need, policy.SignedIn):
            return access
        if isinstance(need, policy.InWorkspace):
            if not access.has_role(need.role):
                raise permission_denied(rpc)
            return access
        if isinstance(need, policy.ResourceManager):
            # One resource: MANAGE on it; none named (listing every permission): the manager role.
            kind_text, resource_id = (
                _first(call.request, need.kind_field),
                _first(call.request, need.id_field),
            )
            if kind_text and resource_id:
                kind = resource_kind(kind_text)
                resources.append(f"{kind}:{resource_id}")
                allowed = access.may(Level.MANAGE, kind, resource_id)
            else:
                allowed = access.has_role(Role.MANAGER)
            if not allowed:
                raise permission_denied(rpc)
            return access
        for check in need.checks:
            await self._check(check, access, call, invoke, resources)
        return access

    async def _check(
        self, check: policy.Check, access: Access, call: Call, invoke: Invoke, resources: list[str]
    ) -> None:
        target = check.target
        values = field_values(call.request, target.field)
        label = _LABELS.get(target.lookup, str(target.kind))
        if target.lookup == "artifact_path":
            label = "artifact"
        resources.extend(f"{label}:{v}" for v in values)
        if access.holds_everywhere(check.level):
            return  # whichever resource it is: no need to find out (no lookup)
        if not values:
            if check.optional:
                return
            raise permission_denied(call.rpc)
        if not access.member:  # no standing here at all: refuse before any lookup
            raise permission_denied(call.rpc)
        for value in values:
            resource_id = await self._resolve(target, value, call, invoke)
            if resource_id is None:  # not tied to one resource (an artifact outside experiments)
                if access.role_level < check.level:
                    raise permission_denied(call.rpc)
                continue
            if resource_id != value or label != str(target.kind):
                resources.append(f"{target.kind}:{resource_id}")
            if not access.may(check.level, target.kind, resource_id):
                raise permission_denied(call.rpc)

    async def _resolve(self, target: policy.Target, value: str, call: Call, invoke: Invoke) -> str | None:
        """The id of the experiment (or model) `value` names or belongs to."""
        lookup = target.lookup
        if not lookup:
            return value
        if lookup == "artifact_path":
            return experiment_of_artifact_path(value)
        if lookup == "source_run":
            if value.startswith("mlflow-artifacts:"):
                return experiment_of_artifact_path(value[len("mlflow-artifacts:") :])
            run_id = run_of_source(value)
            if run_id is None:
                return None
            lookup, value = "run", run_id
        cache = self._names if lookup == "experiment_name" else self._owners
        key = (call.workspace, lookup, value)
        if key in cache:
            return cache[key]
        service, rpc, make_request, id_path = _LOOKUPS[lookup]
        lookup_call = Call(
            rpc=rpc, request=make_request(value), workspace=call.workspace, deadline=call.deadline
        )
        response = await invoke(lookup_call, service)
        experiment_id = _first(response, id_path) or None
        cache[key] = experiment_id
        return experiment_id

    # --- around an allowed call -----------------------------------------------------------------

    def _filter_request(self, rf: policy.RequestFilter, access: Access, call: Call) -> Message | None:
        """Narrow the request to what the caller may read; an empty answer if nothing is left."""
        if access.holds_everywhere(Level.READ):
            return None
        request = type(call.request)()
        request.CopyFrom(call.request)
        items = getattr(request, rf.field)
        kept = [
            item
            for item in items
            if (ids := (field_values(item, rf.id_path) if rf.id_path else [str(item)]))
            and all(access.may(Level.READ, ResourceKind.EXPERIMENT, i) for i in ids)
        ]
        if not kept:
            return type(call.request).Response()
        del items[:]
        items.extend(kept)
        call.request = request
        return None

    async def _filter_response(
        self, rf: policy.ResponseFilter, admission: Admission, response: Message
    ) -> None:
        items = getattr(response, rf.field)
        if rf.kind is None:  # workspaces: those the caller has any standing in
            if admission.principal.admin:
                return
            keep = [item for item in items if (await self.access(admission.principal, item.name)).member]
        else:
            access = admission.access
            if access.holds_everywhere(Level.READ):
                return
            keep = [
                item
                for item in items
                if (ids := field_values(item, rf.id_path))
                and all(access.may(Level.READ, rf.kind, i) for i in ids)
            ]
        if len(keep) != len(items):
            kept = [type(item)() for item in keep]
            for new, old in zip(kept, keep, strict=True):
                new.CopyFrom(old)
            del items[:]
            items.extend(kept)

    async def _after(self, rule: policy.Rule, admission: Admission, call: Call, response: Message) -> None:
        """Creators manage what they created; permissions follow renames and go with deletes."""
        workspace, principal = call.workspace, admission.principal
        if rule.creates is not None and (new_id := _first(response, rule.creates.response_id)):
            admission.resources.append(f"{rule.creates.kind}:{new_id}")
            await self._blocking(
                self.store.set_permission,
                workspace,
                rule.creates.kind,
                new_id,
                "user",
                principal.name,
                Grant.MANAGE,
            )
            self._access.pop((workspace, principal.name, principal.kind, principal.groups), None)
        if rule.renames is not None:
            old, new = (
                _first(call.request, rule.renames.old_field),
                _first(call.request, rule.renames.new_field),
            )
            if old and new:
                await self._blocking(self.store.rename_resource, workspace, rule.renames.kind, old, new)
                self._access.clear()
        if rule.forgets is not None and (gone := _first(call.request, rule.forgets.field)):
            await self._blocking(self.store.forget_resource, workspace, rule.forgets.kind, gone)
            self._access.clear()

    async def _blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: fn(*args, **kwargs))


def _first(message: Message, path: str) -> str:
    values = field_values(message, path)
    return values[0] if values else ""
