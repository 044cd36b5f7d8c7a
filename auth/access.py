"""What a principal may do in one workspace: its role there, its per-resource grants and denials.

Levels on a resource: READ < EDIT < MANAGE (MLflow's names; USE reads as READ here). A workspace
role gives its level on every experiment and registered model of the workspace; a grant on one
resource raises the level there; an explicit DENY on a resource takes it away whatever the role or
grants say. Gateway administrators are the exception: they hold MANAGE everywhere.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping

ALL_WORKSPACES = "*"  # a role binding or grant that holds in every workspace


class Level(enum.IntEnum):
    NONE = 0
    READ = 1
    EDIT = 2
    MANAGE = 3


class Role(enum.IntEnum):
    """Workspace roles, each including the ones before it."""

    VIEWER = 1  # read every experiment and model
    EDITOR = 2  # + create experiments and models, write to every one
    MANAGER = 3  # + delete, and grant permissions on resources of the workspace
    ADMIN = 4  # + bind roles in the workspace

    @property
    def level(self) -> Level:
        return Level(min(self.value, Level.MANAGE))

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role '{text}' (viewer, editor, manager, admin)") from None


class ResourceKind(enum.StrEnum):
    EXPERIMENT = "experiment"
    REGISTERED_MODEL = "registered_model"


class Grant(enum.StrEnum):
    """What a per-resource permission row says (MLflow's permission names)."""

    READ = "READ"
    EDIT = "EDIT"
    MANAGE = "MANAGE"
    DENY = "DENY"

    @classmethod
    def parse(cls, text: str) -> Grant:
        name = text.strip().upper()
        # MLflow's USE adds invoking AI-gateway endpoints to READ, which flowport does not serve;
        # NO_PERMISSIONS on one resource is meant to shut a caller out of it.
        name = {"USE": "READ", "NO_PERMISSIONS": "DENY"}.get(name, name)
        try:
            return cls[name]
        except KeyError:
            raise ValueError(f"unknown permission '{text}' (READ, EDIT, MANAGE, DENY)") from None

    @property
    def level(self) -> Level:
        return Level.NONE if self is Grant.DENY else Level[self.value]


Resource = tuple[ResourceKind, str]


@dataclasses.dataclass(frozen=True)
class Access:
    """One principal's standing in one workspace, folded from its own and its groups' bindings."""

    admin: bool = False  # gateway administrator
    role: Role | None = None
    grants: Mapping[Resource, Level] = dataclasses.field(default_factory=dict)
    denied: frozenset[Resource] = frozenset()

    @property
    def role_level(self) -> Level:
        return Level.MANAGE if self.admin else (self.role.level if self.role else Level.NONE)

    def has_role(self, role: Role) -> bool:
        return self.admin or (self.role is not None and self.role >= role)

    def level_on(self, kind: ResourceKind, resource_id: str) -> Level:
        if self.admin:
            return Level.MANAGE
        if (kind, resource_id) in self.denied:
            return Level.NONE
        return max(self.role_level, self.grants.get((kind, resource_id), Level.NONE))

    def may(self, level: Level, kind: ResourceKind, resource_id: str) -> bool:
        return self.level_on(kind, resource_id) >= level

    def holds_everywhere(self, level: Level) -> bool:
        """True when `level` holds on every resource of the workspace, whichever it is: no need to
        find out which resource a call targets (the fast path: no lookup)."""
        return self.admin or (self.role_level >= level and not self.denied)

    @property
    def member(self) -> bool:
        """Has any standing in the workspace (sees it listed)."""
        return self.admin or self.role is not None or bool(self.grants)


NO_ACCESS = Access()
