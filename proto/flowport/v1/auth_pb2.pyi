from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class User(_message.Message):
    __slots__ = ("id", "username", "is_admin", "kind", "groups")
    ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    IS_ADMIN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    id: int
    username: str
    is_admin: bool
    kind: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[int] = ..., username: _Optional[str] = ..., is_admin: _Optional[bool] = ..., kind: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateUser(_message.Message):
    __slots__ = ("username", "password", "service_account", "is_admin")
    class Response(_message.Message):
        __slots__ = ("user",)
        USER_FIELD_NUMBER: _ClassVar[int]
        user: User
        def __init__(self, user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    IS_ADMIN_FIELD_NUMBER: _ClassVar[int]
    username: str
    password: str
    service_account: bool
    is_admin: bool
    def __init__(self, username: _Optional[str] = ..., password: _Optional[str] = ..., service_account: _Optional[bool] = ..., is_admin: _Optional[bool] = ...) -> None: ...

class GetUser(_message.Message):
    __slots__ = ("username",)
    class Response(_message.Message):
        __slots__ = ("user",)
        USER_FIELD_NUMBER: _ClassVar[int]
        user: User
        def __init__(self, user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    username: str
    def __init__(self, username: _Optional[str] = ...) -> None: ...

class GetCurrentUser(_message.Message):
    __slots__ = ()
    class Response(_message.Message):
        __slots__ = ("user", "is_basic_auth")
        USER_FIELD_NUMBER: _ClassVar[int]
        IS_BASIC_AUTH_FIELD_NUMBER: _ClassVar[int]
        user: User
        is_basic_auth: bool
        def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., is_basic_auth: _Optional[bool] = ...) -> None: ...
    def __init__(self) -> None: ...

class ListUsers(_message.Message):
    __slots__ = ()
    class Response(_message.Message):
        __slots__ = ("users",)
        USERS_FIELD_NUMBER: _ClassVar[int]
        users: _containers.RepeatedCompositeFieldContainer[User]
        def __init__(self, users: _Optional[_Iterable[_Union[User, _Mapping]]] = ...) -> None: ...
    def __init__(self) -> None: ...

class UpdateUserPassword(_message.Message):
    __slots__ = ("username", "password", "current_password")
    class Response(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    username: str
    password: str
    current_password: str
    def __init__(self, username: _Optional[str] = ..., password: _Optional[str] = ..., current_password: _Optional[str] = ...) -> None: ...

class UpdateUserAdmin(_message.Message):
    __slots__ = ("username", "is_admin")
    class Response(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    IS_ADMIN_FIELD_NUMBER: _ClassVar[int]
    username: str
    is_admin: bool
    def __init__(self, username: _Optional[str] = ..., is_admin: _Optional[bool] = ...) -> None: ...

class DeleteUser(_message.Message):
    __slots__ = ("username",)
    class Response(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    username: str
    def __init__(self, username: _Optional[str] = ...) -> None: ...

class GrantUserPermission(_message.Message):
    __slots__ = ("username", "resource_type", "resource_id", "permission")
    class Response(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    username: str
    resource_type: str
    resource_id: str
    permission: str
    def __init__(self, username: _Optional[str] = ..., resource_type: _Optional[str] = ..., resource_id: _Optional[str] = ..., permission: _Optional[str] = ...) -> None: ...

class RevokeUserPermission(_message.Message):
    __slots__ = ("username", "resource_type", "resource_id")
    class Response(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    username: str
    resource_type: str
    resource_id: str
    def __init__(self, username: _Optional[str] = ..., resource_type: _Optional[str] = ..., resource_id: _Optional[str] = ...) -> None: ...

class GetUserPermission(_message.Message):
    __slots__ = ("username", "resource_type", "resource_id")
    class Response(_message.Message):
        __slots__ = ("allowed", "permission")
        ALLOWED_FIELD_NUMBER: _ClassVar[int]
        PERMISSION_FIELD_NUMBER: _ClassVar[int]
        allowed: bool
        permission: str
        def __init__(self, allowed: _Optional[bool] = ..., permission: _Optional[str] = ...) -> None: ...
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    username: str
    resource_type: str
    resource_id: str
    def __init__(self, username: _Optional[str] = ..., resource_type: _Optional[str] = ..., resource_id: _Optional[str] = ...) -> None: ...

class Group(_message.Message):
    __slots__ = ("name", "members")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    members: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., members: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateGroup(_message.Message):
    __slots__ = ("name",)
    class Response(_message.Message):
        __slots__ = ("group",)
        GROUP_FIELD_NUMBER: _ClassVar[int]
        group: Group
        def __init__(self, group: _Optional[_Union[Group, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteGroup(_message.Message):
    __slots__ = ("name",)
    class Response(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListGroups(_message.Message):
    __slots__ = ()
    class Response(_message.Message):
        __slots__ = ("groups",)
        GROUPS_FIELD_NUMBER: _ClassVar[int]
        groups: _containers.RepeatedCompositeFieldContainer[Group]
        def __init__(self, groups: _Optional[_Iterable[_Union[Group, _Mapping]]] = ...) -> None: ...
    def __init__(self) -> None: ...

class AddGroupMember(_message.Message):
    __slots__ = ("group", "username")
    class Response(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    GROUP_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    group: str
    username: str
    def __init__(self, group: _Optional[str] = ..., username: _Optional[str] = ...) -> None: ...

class RemoveGroupMember(_message.Message):
    __slots__ = ("group", "username")
    class Response(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    GROUP_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    group: str
    username: str
    def __init__(self, group: _Optional[str] = ..., username: _Optional[str] = ...) -> None: ...

class Token(_message.Message):
    __slots__ = ("id", "username", "description", "created_at", "expires_at", "revoked_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    username: str
    description: str
    created_at: int
    expires_at: int
    revoked_at: int
    def __init__(self, id: _Optional[str] = ..., username: _Optional[str] = ..., description: _Optional[str] = ..., created_at: _Optional[int] = ..., expires_at: _Optional[int] = ..., revoked_at: _Optional[int] = ...) -> None: ...

class CreateToken(_message.Message):
    __slots__ = ("username", "description", "expires_in_seconds")
    class Response(_message.Message):
        __slots__ = ("token", "secret")
        TOKEN_FIELD_NUMBER: _ClassVar[int]
        SECRET_FIELD_NUMBER: _ClassVar[int]
        token: Token
        secret: str
        def __init__(self, token: _Optional[_Union[Token, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    username: str
    description: str
    expires_in_seconds: int
    def __init__(self, username: _Optional[str] = ..., description: _Optional[str] = ..., expires_in_seconds: _Optional[int] = ...) -> None: ...

class ListTokens(_message.Message):
    __slots__ = ("username",)
    class Response(_message.Message):
        __slots__ = ("tokens",)
        TOKENS_FIELD_NUMBER: _ClassVar[int]
        tokens: _containers.RepeatedCompositeFieldContainer[Token]
        def __init__(self, tokens: _Optional[_Iterable[_Union[Token, _Mapping]]] = ...) -> None: ...
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    username: str
    def __init__(self, username: _Optional[str] = ...) -> None: ...

class RevokeToken(_message.Message):
    __slots__ = ("token_id",)
    class Response(_message.Message):
        __slots__ = ("token",)
        TOKEN_FIELD_NUMBER: _ClassVar[int]
        token: Token
        def __init__(self, token: _Optional[_Union[Token, _Mapping]] = ...) -> None: ...
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    def __init__(self, token_id: _Optional[str] = ...) -> None: ...

class RoleBinding(_message.Message):
    __slots__ = ("workspace", "principal_kind", "principal_name", "role")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_KIND_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    principal_kind: str
    principal_name: str
    role: str
    def __init__(self, workspace: _Optional[str] = ..., principal_kind: _Optional[str] = ..., principal_name: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class SetRoleBinding(_message.Message):
    __slots__ = ("workspace", "principal_kind", "principal_name", "role")
    class Response(_message.Message):
        __slots__ = ("binding",)
        BINDING_FIELD_NUMBER: _ClassVar[int]
        binding: RoleBinding
        def __init__(self, binding: _Optional[_Union[RoleBinding, _Mapping]] = ...) -> None: ...
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_KIND_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    principal_kind: str
    principal_name: str
    role: str
    def __init__(self, workspace: _Optional[str] = ..., principal_kind: _Optional[str] = ..., principal_name: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class DeleteRoleBinding(_message.Message):
    __slots__ = ("workspace", "principal_kind", "principal_name")
    class Response(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_KIND_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_NAME_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    principal_kind: str
    principal_name: str
    def __init__(self, workspace: _Optional[str] = ..., principal_kind: _Optional[str] = ..., principal_name: _Optional[str] = ...) -> None: ...

class ListRoleBindings(_message.Message):
    __slots__ = ("workspace",)
    class Response(_message.Message):
        __slots__ = ("bindings",)
        BINDINGS_FIELD_NUMBER: _ClassVar[int]
        bindings: _containers.RepeatedCompositeFieldContainer[RoleBinding]
        def __init__(self, bindings: _Optional[_Iterable[_Union[RoleBinding, _Mapping]]] = ...) -> None: ...
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    def __init__(self, workspace: _Optional[str] = ...) -> None: ...

class ResourcePermission(_message.Message):
    __slots__ = ("workspace", "resource_kind", "resource_id", "principal_kind", "principal_name", "permission")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_KIND_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_KIND_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_NAME_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    resource_kind: str
    resource_id: str
    principal_kind: str
    principal_name: str
    permission: str
    def __init__(self, workspace: _Optional[str] = ..., resource_kind: _Optional[str] = ..., resource_id: _Optional[str] = ..., principal_kind: _Optional[str] = ..., principal_name: _Optional[str] = ..., permission: _Optional[str] = ...) -> None: ...

class SetResourcePermission(_message.Message):
    __slots__ = ("resource_kind", "resource_id", "principal_kind", "principal_name", "permission")
    class Response(_message.Message):
        __slots__ = ("permission",)
        PERMISSION_FIELD_NUMBER: _ClassVar[int]
        permission: ResourcePermission
        def __init__(self, permission: _Optional[_Union[ResourcePermission, _Mapping]] = ...) -> None: ...
    RESOURCE_KIND_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_KIND_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_NAME_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    resource_kind: str
    resource_id: str
    principal_kind: str
    principal_name: str
    permission: str
    def __init__(self, resource_kind: _Optional[str] = ..., resource_id: _Optional[str] = ..., principal_kind: _Optional[str] = ..., principal_name: _Optional[str] = ..., permission: _Optional[str] = ...) -> None: ...

class DeleteResourcePermission(_message.Message):
    __slots__ = ("resource_kind", "resource_id", "principal_kind", "principal_name")
    class Response(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    RESOURCE_KIND_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_KIND_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_NAME_FIELD_NUMBER: _ClassVar[int]
    resource_kind: str
    resource_id: str
    principal_kind: str
    principal_name: str
    def __init__(self, resource_kind: _Optional[str] = ..., resource_id: _Optional[str] = ..., principal_kind: _Optional[str] = ..., principal_name: _Optional[str] = ...) -> None: ...

class ListResourcePermissions(_message.Message):
    __slots__ = ("resource_kind", "resource_id")
    class Response(_message.Message):
        __slots__ = ("permissions",)
        PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
        permissions: _containers.RepeatedCompositeFieldContainer[ResourcePermission]
        def __init__(self, permissions: _Optional[_Iterable[_Union[ResourcePermission, _Mapping]]] = ...) -> None: ...
    RESOURCE_KIND_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    resource_kind: str
    resource_id: str
    def __init__(self, resource_kind: _Optional[str] = ..., resource_id: _Optional[str] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("event_id", "event_time", "request_id", "principal", "principal_kind", "auth_method", "groups", "source_ip", "user_agent", "workspace", "backend", "service_name", "action", "resources", "request_params", "outcome", "status_code", "error_code", "latency_ms")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_KIND_FIELD_NUMBER: _ClassVar[int]
    AUTH_METHOD_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_IP_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_PARAMS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    event_time: int
    request_id: str
    principal: str
    principal_kind: str
    auth_method: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    source_ip: str
    user_agent: str
    workspace: str
    backend: str
    service_name: str
    action: str
    resources: _containers.RepeatedScalarFieldContainer[str]
    request_params: str
    outcome: str
    status_code: int
    error_code: str
    latency_ms: float
    def __init__(self, event_id: _Optional[str] = ..., event_time: _Optional[int] = ..., request_id: _Optional[str] = ..., principal: _Optional[str] = ..., principal_kind: _Optional[str] = ..., auth_method: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ..., source_ip: _Optional[str] = ..., user_agent: _Optional[str] = ..., workspace: _Optional[str] = ..., backend: _Optional[str] = ..., service_name: _Optional[str] = ..., action: _Optional[str] = ..., resources: _Optional[_Iterable[str]] = ..., request_params: _Optional[str] = ..., outcome: _Optional[str] = ..., status_code: _Optional[int] = ..., error_code: _Optional[str] = ..., latency_ms: _Optional[float] = ...) -> None: ...

class SearchAuditEvents(_message.Message):
    __slots__ = ("principal", "action", "resource", "workspace", "outcome", "since_ms", "until_ms", "max_results")
    class Response(_message.Message):
        __slots__ = ("events",)
        EVENTS_FIELD_NUMBER: _ClassVar[int]
        events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
        def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ...) -> None: ...
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    principal: str
    action: str
    resource: str
    workspace: str
    outcome: str
    since_ms: int
    until_ms: int
    max_results: int
    def __init__(self, principal: _Optional[str] = ..., action: _Optional[str] = ..., resource: _Optional[str] = ..., workspace: _Optional[str] = ..., outcome: _Optional[str] = ..., since_ms: _Optional[int] = ..., until_ms: _Optional[int] = ..., max_results: _Optional[int] = ...) -> None: ...
