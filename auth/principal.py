"""Who is calling: a `Principal` (a user, a service account, or nobody), with its groups.

Authenticators make principals; authorization reads them. A principal is a value: it says
nothing about what it may do (that is `auth.access`).
"""

from __future__ import annotations

import dataclasses
import enum


class PrincipalKind(enum.StrEnum):
    USER = "user"
    SERVICE = "service"  # a service account: no password, proves itself with tokens or a certificate
    ANONYMOUS = "anonymous"


class Method(enum.StrEnum):
    """How a principal proved who it is (recorded in audit)."""

    NONE = "none"
    TOKEN = "token"
    BASIC = "basic"
    OIDC = "oidc"
    MTLS = "mtls"


@dataclasses.dataclass(frozen=True)
class Principal:
    name: str
    kind: PrincipalKind = PrincipalKind.USER
    groups: frozenset[str] = frozenset()
    admin: bool = False  # a gateway-wide administrator: every permission in every workspace
    method: Method = Method.NONE

    @property
    def anonymous(self) -> bool:
        return self.kind is PrincipalKind.ANONYMOUS


ANONYMOUS = Principal("anonymous", PrincipalKind.ANONYMOUS)
