from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FileInfo(_message.Message):
    __slots__ = ("path", "is_dir", "file_size")
    PATH_FIELD_NUMBER: _ClassVar[int]
    IS_DIR_FIELD_NUMBER: _ClassVar[int]
    FILE_SIZE_FIELD_NUMBER: _ClassVar[int]
    path: str
    is_dir: bool
    file_size: int
    def __init__(self, path: _Optional[str] = ..., is_dir: _Optional[bool] = ..., file_size: _Optional[int] = ...) -> None: ...

class ArtifactChunk(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class DownloadArtifact(_message.Message):
    __slots__ = ("artifact_path",)
    ARTIFACT_PATH_FIELD_NUMBER: _ClassVar[int]
    artifact_path: str
    def __init__(self, artifact_path: _Optional[str] = ...) -> None: ...

class UploadArtifact(_message.Message):
    __slots__ = ("artifact_path", "data")
    class Response(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    ARTIFACT_PATH_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    artifact_path: str
    data: bytes
    def __init__(self, artifact_path: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class ListArtifacts(_message.Message):
    __slots__ = ("path",)
    class Response(_message.Message):
        __slots__ = ("files",)
        FILES_FIELD_NUMBER: _ClassVar[int]
        files: _containers.RepeatedCompositeFieldContainer[FileInfo]
        def __init__(self, files: _Optional[_Iterable[_Union[FileInfo, _Mapping]]] = ...) -> None: ...
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class DeleteArtifact(_message.Message):
    __slots__ = ("artifact_path",)
    class Response(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    ARTIFACT_PATH_FIELD_NUMBER: _ClassVar[int]
    artifact_path: str
    def __init__(self, artifact_path: _Optional[str] = ...) -> None: ...

class GetPresignedDownloadUrl(_message.Message):
    __slots__ = ("artifact_path",)
    class Response(_message.Message):
        __slots__ = ("url", "headers", "file_size")
        class HeadersEntry(_message.Message):
            __slots__ = ("key", "value")
            KEY_FIELD_NUMBER: _ClassVar[int]
            VALUE_FIELD_NUMBER: _ClassVar[int]
            key: str
            value: str
            def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
        URL_FIELD_NUMBER: _ClassVar[int]
        HEADERS_FIELD_NUMBER: _ClassVar[int]
        FILE_SIZE_FIELD_NUMBER: _ClassVar[int]
        url: str
        headers: _containers.ScalarMap[str, str]
        file_size: int
        def __init__(self, url: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., file_size: _Optional[int] = ...) -> None: ...
    ARTIFACT_PATH_FIELD_NUMBER: _ClassVar[int]
    artifact_path: str
    def __init__(self, artifact_path: _Optional[str] = ...) -> None: ...

class MultipartUploadCredential(_message.Message):
    __slots__ = ("url", "part_number", "headers")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    URL_FIELD_NUMBER: _ClassVar[int]
    PART_NUMBER_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    url: str
    part_number: int
    headers: _containers.ScalarMap[str, str]
    def __init__(self, url: _Optional[str] = ..., part_number: _Optional[int] = ..., headers: _Optional[_Mapping[str, str]] = ...) -> None: ...

class MultipartUploadPart(_message.Message):
    __slots__ = ("part_number", "etag", "url")
    PART_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    part_number: int
    etag: str
    url: str
    def __init__(self, part_number: _Optional[int] = ..., etag: _Optional[str] = ..., url: _Optional[str] = ...) -> None: ...

class CreateMultipartUpload(_message.Message):
    __slots__ = ("path", "num_parts", "artifact_path")
    class Response(_message.Message):
        __slots__ = ("upload_id", "credentials")
        UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
        CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
        upload_id: str
        credentials: _containers.RepeatedCompositeFieldContainer[MultipartUploadCredential]
        def __init__(self, upload_id: _Optional[str] = ..., credentials: _Optional[_Iterable[_Union[MultipartUploadCredential, _Mapping]]] = ...) -> None: ...
    PATH_FIELD_NUMBER: _ClassVar[int]
    NUM_PARTS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    num_parts: int
    artifact_path: str
    def __init__(self, path: _Optional[str] = ..., num_parts: _Optional[int] = ..., artifact_path: _Optional[str] = ...) -> None: ...

class UploadMultipartPart(_message.Message):
    __slots__ = ("artifact_path", "upload_id", "part_number", "data")
    class Response(_message.Message):
        __slots__ = ("etag",)
        ETAG_FIELD_NUMBER: _ClassVar[int]
        etag: str
        def __init__(self, etag: _Optional[str] = ...) -> None: ...
    ARTIFACT_PATH_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    PART_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    artifact_path: str
    upload_id: str
    part_number: int
    data: bytes
    def __init__(self, artifact_path: _Optional[str] = ..., upload_id: _Optional[str] = ..., part_number: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class CompleteMultipartUpload(_message.Message):
    __slots__ = ("path", "upload_id", "parts", "artifact_path")
    class Response(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    PATH_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    upload_id: str
    parts: _containers.RepeatedCompositeFieldContainer[MultipartUploadPart]
    artifact_path: str
    def __init__(self, path: _Optional[str] = ..., upload_id: _Optional[str] = ..., parts: _Optional[_Iterable[_Union[MultipartUploadPart, _Mapping]]] = ..., artifact_path: _Optional[str] = ...) -> None: ...

class AbortMultipartUpload(_message.Message):
    __slots__ = ("path", "upload_id", "artifact_path")
    class Response(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    PATH_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    upload_id: str
    artifact_path: str
    def __init__(self, path: _Optional[str] = ..., upload_id: _Optional[str] = ..., artifact_path: _Optional[str] = ...) -> None: ...
