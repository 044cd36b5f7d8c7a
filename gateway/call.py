"""`Call`: one request as both doors hand it to the service layer."""

from __future__ import annotations

import dataclasses

from google.protobuf.message import Message

DEFAULT_WORKSPACE = "default"


@dataclasses.dataclass
class Call:
    """An RPC and where it is going; the HTTP and gRPC doors build the same thing."""

    rpc: str  # short RPC name, e.g. "CreateExperiment"
    request: Message
    workspace: str = DEFAULT_WORKSPACE
    # Base URL the client reached us on; used to mint URLs it can call back (multipart parts).
    base_url: str = ""
    # When the caller stops waiting (a `time.monotonic()` instant), if it said; gRPC deadlines do.
    deadline: float | None = None
