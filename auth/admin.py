"""The auth API's handlers (AuthService): users, groups, tokens, role bindings, resource permissions
and audit queries, over the gateway state database.

The gateway has already authorized the call by the policy table (`auth.policy`) when a handler
runs; what a handler still checks is what only it can see — that a self-service password change
names the current password, that a token being revoked is the caller's own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from google.protobuf.message import Message

from flowport.auth import audit
from flowport.auth.access import Grant, Level, ResourceKind, Role
from flowport.auth.principal import Method, Principal, PrincipalKind
from flowport.auth.store import AuthStore, TokenRecord, UserRecord
from flowport.v1 import auth_pb2 as pb
from flowport.v1.errors import ApiError, invalid_parameter

T = TypeVar("T")
Blocking = Callable[..., Awaitable[Any]]  # runs a blocking function off the event loop


def resource_kind(text: str) -> ResourceKind:
    try:
        return ResourceKind(text)
    except ValueError:
        raise invalid_parameter(f"Unknown resource type '{text}' (experiment, registered_model)") from None


def principal_kind(text: str) -> str:
    return text or "user"


class Administration:
    def __init__(
        self,
        store: AuthStore,
        blocking: Blocking,
        *,
        default_role: Role | None,
        on_change: Callable[[], None],
        check_password: Blocking,
    ) -> None:
        self.store = store
        self._blocking = blocking
        self._check_password = check_password  # on the password pool: a scrypt check is slow
        self.default_role = default_role
        self._on_change = on_change

    async def invoke(self, rpc: str, request: Message, principal: Principal, workspace: str) -> Message:
        handler = getattr(self, "".join("_" + c.lower() if c.isupper() else c for c in rpc))  # _create_user
        response = await handler(request, principal, workspace)
        if not rpc.startswith(("Get", "List", "Search")):
            self._on_change()
        return response

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self._blocking(lambda: fn(*args, **kwargs))

    # --- users (MLflow's API) ---------------------------------------------------------------------

    async def _create_user(self, request: pb.CreateUser, principal: Principal, workspace: str) -> Message:
        kind = PrincipalKind.SERVICE if request.service_account else PrincipalKind.USER
        if not request.username:
            raise invalid_parameter("Username cannot be empty.")
        user = await self._run(
            self.store.create_user,
            request.username,
            request.password or None,
            kind=kind,
            is_admin=request.is_admin,
        )
        return pb.CreateUser.Response(user=_user(user))

    async def _get_user(self, request: pb.GetUser, principal: Principal, workspace: str) -> Message:
        return pb.GetUser.Response(user=_user(await self._run(self.store.get_user, request.username)))

    async def _get_current_user(self, request: Message, principal: Principal, workspace: str) -> Message:
        record = await self._run(self.store.find_user, principal.name)
        user = (
            _user(record)
            if record is not None
            else pb.User(
                id=0,
                username=principal.name,
                is_admin=principal.admin,
                kind=str(principal.kind),
                groups=sorted(principal.groups),
            )
        )
        return pb.GetCurrentUser.Response(user=user, is_basic_auth=principal.method is Method.BASIC)

    async def _list_users(self, request: Message, principal: Principal, workspace: str) -> Message:
        return pb.ListUsers.Response(users=[_user(u) for u in await self._run(self.store.list_users)])

    async def _update_user_password(
        self, request: pb.UpdateUserPassword, principal: Principal, workspace: str
    ) -> Message:
        username = request.username or principal.name
        if not principal.admin:
            # A caller changing their own password proves they know the current one (MLflow does too).
            if (
                not request.current_password
                or await self._check_password(username, request.current_password) is None
            ):
                raise ApiError("The current password is missing or wrong", "PERMISSION_DENIED")
        await self._run(self.store.set_password, username, request.password)
        return pb.UpdateUserPassword.Response()

    async def _update_user_admin(self, request: pb.UpdateUserAdmin, principal: Principal, workspace: str):
        await self._run(self.store.set_admin, request.username, request.is_admin)
        return pb.UpdateUserAdmin.Response()

    async def _delete_user(self, request: pb.DeleteUser, principal: Principal, workspace: str) -> Message:
        await self._run(self.store.delete_user, request.username)
        return pb.DeleteUser.Response()

    # --- one user's permission on one resource (MLflow's API) -----------------------------------

    async def _grant_user_permission(
        self, request: pb.GrantUserPermission, principal: Principal, workspace: str
    ):
        kind = resource_kind(request.resource_type)
        grant = _grant(request.permission)
        await self._run(self.store.get_user, request.username)
        await self._run(
            self.store.set_permission, workspace, kind, request.resource_id, "user", request.username, grant
        )
        return pb.GrantUserPermission.Response()

    async def _revoke_user_permission(
        self, request: pb.RevokeUserPermission, principal: Principal, workspace: str
    ) -> Message:
        kind = resource_kind(request.resource_type)
        await self._run(self.store.get_user, request.username)
        await self._run(
            self.store.delete_permission, workspace, kind, request.resource_id, "user", request.username
        )
        return pb.RevokeUserPermission.Response()

    async def _get_user_permission(
        self, request: pb.GetUserPermission, principal: Principal, workspace: str
    ) -> Message:
        kind = resource_kind(request.resource_type)
        user = await self._run(self.store.get_user, request.username)
        access = await self._run(
            self.store.access,
            workspace,
            user.name,
            user.groups,
            admin=user.is_admin,
            default_role=self.default_role,
        )
        level = access.level_on(kind, request.resource_id)
        name = "DENY" if (kind, request.resource_id) in access.denied and not access.admin else level.name
        name = "NO_PERMISSIONS" if name == "NONE" else name
        return pb.GetUserPermission.Response(allowed=level >= Level.READ, permission=name)

    # --- groups ---------------------------------------------------------------------------------

    async def _create_group(self, request: pb.CreateGroup, principal: Principal, workspace: str) -> Message:
        await self._run(self.store.create_group, request.name)
        return pb.CreateGroup.Response(group=pb.Group(name=request.name))

    async def _delete_group(self, request: pb.DeleteGroup, principal: Principal, workspace: str) -> Message:
        await self._run(self.store.delete_group, request.name)
        return pb.DeleteGroup.Response()

    async def _list_groups(self, request: Message, principal: Principal, workspace: str) -> Message:
        groups = await self._run(self.store.list_groups)
        return pb.ListGroups.Response(groups=[pb.Group(name=n, members=m) for n, m in groups.items()])

    async def _add_group_member(self, request: pb.AddGroupMember, principal: Principal, workspace: str):
        await self._run(self.store.add_member, request.group, request.username)
        return pb.AddGroupMember.Response()

    async def _remove_group_member(self, request: pb.RemoveGroupMember, principal: Principal, workspace: str):
        await self._run(self.store.remove_member, request.group, request.username)
        return pb.RemoveGroupMember.Response()

    # --- tokens ---------------------------------------------------------------------------------

    async def _create_token(self, request: pb.CreateToken, principal: Principal, workspace: str) -> Message:
        if request.expires_in_seconds < 0:
            raise invalid_parameter("expires_in_seconds must be positive (or absent: no expiry)")
        expires_at = (
            int(time.time() * 1000) + request.expires_in_seconds * 1000
            if request.expires_in_seconds
            else None
        )
        token, secret = await self._run(
            self.store.create_token,
            request.username or principal.name,
            description=request.description,
            expires_at=expires_at,
        )
        return pb.CreateToken.Response(token=_token(token), secret=secret)

    async def _list_tokens(self, request: pb.ListTokens, principal: Principal, workspace: str) -> Message:
        tokens = await self._run(self.store.list_tokens, request.username or principal.name)
        return pb.ListTokens.Response(tokens=[_token(t) for t in tokens])

    async def _revoke_token(self, request: pb.RevokeToken, principal: Principal, workspace: str) -> Message:
        token = await self._run(self.store.get_token, request.token_id)
        if token.user != principal.name and not principal.admin:
            raise ApiError("Permission denied: the token is not yours", "PERMISSION_DENIED")
        return pb.RevokeToken.Response(token=_token(await self._run(self.store.revoke_token, token.id)))

    # --- role bindings --------------------------------------------------------------------------

    async def _set_role_binding(self, request: pb.SetRoleBinding, principal: Principal, workspace: str):
        try:
            role = Role.parse(request.role)
        except ValueError as err:
            raise invalid_parameter(str(err)) from None
        binding = await self._run(
            self.store.bind_role,
            request.workspace or workspace,
            principal_kind(request.principal_kind),
            request.principal_name,
            role,
        )
        return pb.SetRoleBinding.Response(binding=_binding(binding))

    async def _delete_role_binding(self, request: pb.DeleteRoleBinding, principal: Principal, workspace: str):
        await self._run(
            self.store.unbind_role,
            request.workspace or workspace,
            principal_kind(request.principal_kind),
            request.principal_name,
        )
        return pb.DeleteRoleBinding.Response()

    async def _list_role_bindings(self, request: pb.ListRoleBindings, principal: Principal, workspace: str):
        bindings = await self._run(self.store.list_bindings, request.workspace or workspace)
        return pb.ListRoleBindings.Response(bindings=[_binding(b) for b in bindings])

    # --- resource permissions -------------------------------------------------------------------

    async def _set_resource_permission(
        self, request: pb.SetResourcePermission, principal: Principal, workspace: str
    ) -> Message:
        permission = await self._run(
            self.store.set_permission,
            workspace,
            resource_kind(request.resource_kind),
            request.resource_id,
            principal_kind(request.principal_kind),
            request.principal_name,
            _grant(request.permission),
        )
        return pb.SetResourcePermission.Response(permission=_permission(permission))

    async def _delete_resource_permission(
        self, request: pb.DeleteResourcePermission, principal: Principal, workspace: str
    ) -> Message:
        await self._run(
            self.store.delete_permission,
            workspace,
            resource_kind(request.resource_kind),
            request.resource_id,
            principal_kind(request.principal_kind),
            request.principal_name,
        )
        return pb.DeleteResourcePermission.Response()

    async def _list_resource_permissions(
        self, request: pb.ListResourcePermissions, principal: Principal, workspace: str
    ) -> Message:
        kind = resource_kind(request.resource_kind) if request.resource_kind else None
        permissions = await self._run(
            self.store.list_permissions, workspace, kind, request.resource_id or None
        )
        return pb.ListResourcePermissions.Response(permissions=[_permission(p) for p in permissions])

    # --- audit ----------------------------------------------------------------------------------

    async def _search_audit_events(
        self, request: pb.SearchAuditEvents, principal: Principal, workspace: str
    ) -> Message:
        query = audit.AuditQuery(
            principal=request.principal or None,
            action=request.action or None,
            resource=request.resource or None,
            workspace=request.workspace or None,
            outcome=request.outcome or None,
            since_ms=request.since_ms if request.HasField("since_ms") else None,
            until_ms=request.until_ms if request.HasField("until_ms") else None,
            limit=min(request.max_results or 100, 10_000),
        )
        records = await self._run(audit.search, self.store.engine, query)
        return pb.SearchAuditEvents.Response(events=[audit_event(r) for r in records])


def _grant(text: str) -> Grant:
    try:
        return Grant.parse(text)
    except ValueError as err:
        raise invalid_parameter(str(err)) from None


def _user(user: UserRecord) -> pb.User:
    return pb.User(
        id=user.id,
        username=user.name,
        is_admin=user.is_admin,
        kind=str(user.kind),
        groups=sorted(user.groups),
    )


def _token(token: TokenRecord) -> pb.Token:
    out = pb.Token(
        id=token.id, username=token.user, description=token.description, created_at=token.created_at
    )
    if token.expires_at is not None:
        out.expires_at = token.expires_at
    if token.revoked_at is not None:
        out.revoked_at = token.revoked_at
    return out


def _binding(binding) -> pb.RoleBinding:  # noqa: ANN001
    return pb.RoleBinding(
        workspace=binding.workspace,
        principal_kind=binding.principal_kind,
        principal_name=binding.principal_name,
        role=binding.role.name.lower(),
    )


def _permission(permission) -> pb.ResourcePermission:  # noqa: ANN001
    return pb.ResourcePermission(
        workspace=permission.workspace,
        resource_kind=str(permission.resource_kind),
        resource_id=permission.resource_id,
        principal_kind=permission.principal_kind,
        principal_name=permission.principal_name,
        permission=str(permission.grant),
    )


def audit_event(record: audit.AuditRecord) -> pb.AuditEvent:
    return pb.AuditEvent(
        event_id=record.event_id,
        event_time=record.event_time,
        request_id=record.request_id,
        principal=record.principal,
        principal_kind=record.principal_kind,
        auth_method=record.auth_method,
        groups=record.groups,
        source_ip=record.source_ip,
        user_agent=record.user_agent,
        workspace=record.workspace,
        backend=record.backend,
        service_name=record.service_name,
        action=record.action,
        resources=record.resources,
        request_params=json.dumps(record.request_params, sort_keys=True),
        outcome=record.outcome,
        status_code=record.status_code,
        error_code=record.error_code,
        latency_ms=record.latency_ms,
    )
