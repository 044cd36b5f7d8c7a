"""`Credentials`: what a call presented to prove who it is. The doors fill it; `auth.authenticate`
reads it. Kept apart (and import-light) because every `Call` carries one."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Credentials:
    authorization: str = ""  # the Authorization header (HTTP) or metadata (gRPC)
    client_subject: str = ""  # a verified client certificate's subject (the gRPC door with mTLS)
    client_common_name: str = ""

    def __repr__(self) -> str:  # never print a secret, even in a traceback
        scheme = self.authorization.split(" ", 1)[0] if self.authorization else ""
        return f"Credentials(scheme={scheme!r}, client_subject={self.client_subject!r})"


NONE = Credentials()
