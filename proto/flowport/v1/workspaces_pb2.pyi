from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TraceArchivalConfig(_message.Message):
    __slots__ = ("location", "retention")
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    location: str
    retention: str
    def __init__(self, location: _Optional[str] = ..., retention: _Optional[str] = ...) -> None: ...

class Workspace(_message.Message):
    __slots__ = ("name", "description", "default_artifact_root", "trace_archival_config", "backend", "backend_kind")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ARTIFACT_ROOT_FIELD_NUMBER: _ClassVar[int]
    TRACE_ARCHIVAL_CONFIG_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    BACKEND_KIND_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    default_artifact_root: str
    trace_archival_config: TraceArchivalConfig
    backend: str
    backend_kind: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., default_artifact_root: _Optional[str] = ..., trace_archival_config: _Optional[_Union[TraceArchivalConfig, _Mapping]] = ..., backend: _Optional[str] = ..., backend_kind: _Optional[str] = ...) -> None: ...

class ListWorkspaces(_message.Message):
    __slots__ = ()
    class Response(_message.Message):
        __slots__ = ("workspaces",)
        WORKSPACES_FIELD_NUMBER: _ClassVar[int]
        workspaces: _containers.RepeatedCompositeFieldContainer[Workspace]
        def __init__(self, workspaces: _Optional[_Iterable[_Union[Workspace, _Mapping]]] = ...) -> None: ...
    def __init__(self) -> None: ...

class GetWorkspace(_message.Message):
    __slots__ = ("workspace_name",)
    class Response(_message.Message):
        __slots__ = ("workspace",)
        WORKSPACE_FIELD_NUMBER: _ClassVar[int]
        workspace: Workspace
        def __init__(self, workspace: _Optional[_Union[Workspace, _Mapping]] = ...) -> None: ...
    WORKSPACE_NAME_FIELD_NUMBER: _ClassVar[int]
    workspace_name: str
    def __init__(self, workspace_name: _Optional[str] = ...) -> None: ...

class CreateWorkspace(_message.Message):
    __slots__ = ("name", "description", "default_artifact_root", "trace_archival_config")
    class Response(_message.Message):
        __slots__ = ("workspace",)
        WORKSPACE_FIELD_NUMBER: _ClassVar[int]
        workspace: Workspace
        def __init__(self, workspace: _Optional[_Union[Workspace, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ARTIFACT_ROOT_FIELD_NUMBER: _ClassVar[int]
    TRACE_ARCHIVAL_CONFIG_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    default_artifact_root: str
    trace_archival_config: TraceArchivalConfig
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., default_artifact_root: _Optional[str] = ..., trace_archival_config: _Optional[_Union[TraceArchivalConfig, _Mapping]] = ...) -> None: ...

class UpdateWorkspace(_message.Message):
    __slots__ = ("workspace_name", "description", "default_artifact_root", "trace_archival_config")
    class Response(_message.Message):
        __slots__ = ("workspace",)
        WORKSPACE_FIELD_NUMBER: _ClassVar[int]
        workspace: Workspace
        def __init__(self, workspace: _Optional[_Union[Workspace, _Mapping]] = ...) -> None: ...
    WORKSPACE_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ARTIFACT_ROOT_FIELD_NUMBER: _ClassVar[int]
    TRACE_ARCHIVAL_CONFIG_FIELD_NUMBER: _ClassVar[int]
    workspace_name: str
    description: str
    default_artifact_root: str
    trace_archival_config: TraceArchivalConfig
    def __init__(self, workspace_name: _Optional[str] = ..., description: _Optional[str] = ..., default_artifact_root: _Optional[str] = ..., trace_archival_config: _Optional[_Union[TraceArchivalConfig, _Mapping]] = ...) -> None: ...

class DeleteWorkspace(_message.Message):
    __slots__ = ("workspace_name", "mode")
    class Response(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    WORKSPACE_NAME_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    workspace_name: str
    mode: str
    def __init__(self, workspace_name: _Optional[str] = ..., mode: _Optional[str] = ...) -> None: ...
