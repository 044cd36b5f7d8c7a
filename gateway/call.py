"""`Call`: one request as both doors hand it to the service layer."""

from __future__ import annotations

import dataclasses

from google.protobuf.message import Message

from flowport.auth.credentials import NONE as NO_CREDENTIALS
from flowport.auth.credentials import Credentials

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
    # Who is calling, as the door saw it: checked by gateway.authorization, recorded in audit.
    credentials: Credentials = NO_CREDENTIALS
    source: str = ""  # the client's address
    user_agent: str = ""
    request_id: str = ""
