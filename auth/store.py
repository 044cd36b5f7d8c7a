"""`AuthStore`: the gateway state database's users, groups, tokens, role bindings and resource
permissions (blocking SQLAlchemy; the gateway calls it from threads, the CLI directly).

Every write is one transaction. Mistakes are `ApiError`s with MLflow's codes, so the admin API,
the MLflow-compatible user endpoints and `flowport auth` report them the same way.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterable

import sqlalchemy as sa

from flowport.auth import passwords, schema, tokens
from flowport.auth.access import ALL_WORKSPACES, Access, Grant, Level, ResourceKind, Role
from flowport.auth.database import create_engine_for, upgrade
from flowport.auth.principal import PrincipalKind
from flowport.v1.errors import already_exists, does_not_exist, invalid_parameter

# Basic auth splits user and password at the first ':'; names are also shown in audit records.
_NAME = re.compile(r"[^:\s\x00-\x1f\x7f]{1,256}")


def _now_ms() -> int:
    return int(time.time() * 1000)


def check_name(what: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise invalid_parameter(f"Invalid {what} name '{name}': 1 to 256 characters, no spaces or ':'")
    return name


@dataclasses.dataclass(frozen=True)
class UserRecord:
    name: str
    id: int
    kind: PrincipalKind
    is_admin: bool
    created_at: int
    groups: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True)
class TokenRecord:
    id: str
    user: str
    description: str
    created_at: int
    expires_at: int | None
    revoked_at: int | None

    def valid_at(self, now_ms: int) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now_ms < self.expires_at)


@dataclasses.dataclass(frozen=True)
class Binding:
    workspace: str
    principal_kind: str  # user | group
    principal_name: str
    role: Role


@dataclasses.dataclass(frozen=True)
class Permission:
    workspace: str
    resource_kind: ResourceKind
    resource_id: str
    principal_kind: str
    principal_name: str
    grant: Grant


PRINCIPAL_KINDS = ("user", "group")


class AuthStore:
    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = create_engine_for(url)
        if migrate:
            upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # --- users --------------------------------------------------------------------------------

    def create_user(
        self,
        name: str,
        password: str | None = None,
        *,
        kind: PrincipalKind = PrincipalKind.USER,
        is_admin: bool = False,
    ) -> UserRecord:
        check_name("user", name)
        if kind is PrincipalKind.USER and not password:
            raise invalid_parameter("A user needs a password (a service account has none: --service)")
        if kind is PrincipalKind.SERVICE and password:
            raise invalid_parameter("A service account has no password; give it a token")
        digest = passwords.hash_password(password) if password else None
        with self.engine.begin() as conn:
            if conn.execute(sa.select(schema.users.c.name).where(schema.users.c.name == name)).first():
                raise already_exists(f"User '{name}' already exists")
            next_id = (conn.execute(sa.select(sa.func.max(schema.users.c.id))).scalar() or 0) + 1
            created = _now_ms()
            conn.execute(
                schema.users.insert().values(
                    name=name,
                    id=next_id,
                    kind=str(kind),
                    password_hash=digest,
                    is_admin=is_admin,
                    created_at=created,
                )
            )
        return UserRecord(name, next_id, kind, is_admin, created)

    def get_user(self, name: str) -> UserRecord:
        user = self.find_user(name)
        if user is None:
            raise does_not_exist(f"User '{name}' not found")
        return user

    def find_user(self, name: str) -> UserRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(schema.users).where(schema.users.c.name == name)).first()
            return self._user(conn, row) if row else None

    def list_users(self) -> list[UserRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(schema.users).order_by(schema.users.c.name)).all()
            return [self._user(conn, row) for row in rows]

    def delete_user(self, name: str) -> None:
        with self.engine.begin() as conn:
            if not conn.execute(schema.users.delete().where(schema.users.c.name == name)).rowcount:
                raise does_not_exist(f"User '{name}' not found")
            # Not keyed to the users table (they may name OIDC users), so removed by hand.
            for table in (schema.role_bindings, schema.resource_permissions):
                conn.execute(
                    table.delete().where(table.c.principal_kind == "user", table.c.principal_name == name)
                )
            # SQLite enforces ON DELETE CASCADE only with foreign keys on; do it explicitly everywhere.
            conn.execute(schema.tokens.delete().where(schema.tokens.c.user_name == name))
            conn.execute(schema.group_members.delete().where(schema.group_members.c.user_name == name))

    def set_password(self, name: str, password: str) -> None:
        if not password:
            raise invalid_parameter("The password must not be empty")
        user = self.get_user(name)
        if user.kind is PrincipalKind.SERVICE:
            raise invalid_parameter(f"'{name}' is a service account: it has no password")
        self._update_user(name, password_hash=passwords.hash_password(password))

    def set_admin(self, name: str, is_admin: bool) -> None:
        self._update_user(name, is_admin=is_admin)

    def _update_user(self, name: str, **values: object) -> None:
        with self.engine.begin() as conn:
            if not conn.execute(
                schema.users.update().where(schema.users.c.name == name).values(**values)
            ).rowcount:
                raise does_not_exist(f"User '{name}' not found")

    def check_password(self, name: str, password: str) -> UserRecord | None:
        """The user if the password is theirs, else None; as slow for an unknown name as for a bad
        password, so the answer's timing does not tell which names exist."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(schema.users).where(schema.users.c.name == name)).first()
            user = self._user(conn, row) if row else None
        encoded = row.password_hash if row is not None and row.password_hash else passwords.DUMMY_HASH
        if not passwords.verify_password(password, encoded) or user is None or not row.password_hash:
            return None
        return user

    def _user(self, conn: sa.Connection, row: sa.Row) -> UserRecord:
        groups = conn.execute(
            sa.select(schema.group_members.c.group_name).where(schema.group_members.c.user_name == row.name)
        ).scalars()
        return UserRecord(
            row.name, row.id, PrincipalKind(row.kind), bool(row.is_admin), row.created_at, frozenset(groups)
        )

    # --- groups -------------------------------------------------------------------------------

    def create_group(self, name: str) -> None:
        check_name("group", name)
        with self.engine.begin() as conn:
            if conn.execute(sa.select(schema.groups.c.name).where(schema.groups.c.name == name)).first():
                raise already_exists(f"Group '{name}' already exists")
            conn.execute(schema.groups.insert().values(name=name, created_at=_now_ms()))

    def delete_group(self, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(schema.group_members.delete().where(schema.group_members.c.group_name == name))
            if not conn.execute(schema.groups.delete().where(schema.groups.c.name == name)).rowcount:
                raise does_not_exist(f"Group '{name}' not found")
            for table in (schema.role_bindings, schema.resource_permissions):
                conn.execute(
                    table.delete().where(table.c.principal_kind == "group", table.c.principal_name == name)
                )

    def list_groups(self) -> dict[str, list[str]]:
        """Group name → its members' names."""
        with self.engine.connect() as conn:
            groups: dict[str, list[str]] = {
                name: [] for name in conn.execute(sa.select(schema.groups.c.name).order_by("name")).scalars()
            }
            members = conn.execute(
                sa.select(schema.group_members).order_by(schema.group_members.c.user_name)
            ).all()
        for row in members:
            groups[row.group_name].append(row.user_name)
        return groups

    def add_member(self, group: str, user: str) -> None:
        with self.engine.begin() as conn:
            self._require(conn, schema.groups, group, "Group")
            self._require(conn, schema.users, user, "User")
            exists = conn.execute(
                sa.select(schema.group_members.c.user_name).where(
                    schema.group_members.c.group_name == group, schema.group_members.c.user_name == user
                )
            ).first()
            if not exists:
                conn.execute(schema.group_members.insert().values(group_name=group, user_name=user))

    def remove_member(self, group: str, user: str) -> None:
        with self.engine.begin() as conn:
            removed = conn.execute(
                schema.group_members.delete().where(
                    schema.group_members.c.group_name == group, schema.group_members.c.user_name == user
                )
            ).rowcount
        if not removed:
            raise does_not_exist(f"User '{user}' is not a member of group '{group}'")

    @staticmethod
    def _require(conn: sa.Connection, table: sa.Table, name: str, what: str) -> None:
        if not conn.execute(sa.select(table.c.name).where(table.c.name == name)).first():
            raise does_not_exist(f"{what} '{name}' not found")

    # --- tokens -------------------------------------------------------------------------------

    def create_token(
        self, user: str, *, description: str = "", expires_at: int | None = None
    ) -> tuple[TokenRecord, str]:
        """A new token for `user`: its record and the secret, which is never stored nor shown again."""
        token_id, secret = tokens.new_token()
        created = _now_ms()
        if expires_at is not None and expires_at <= created:
            raise invalid_parameter("A token's expiry must be in the future")
        with self.engine.begin() as conn:
            self._require(conn, schema.users, user, "User")
            conn.execute(
                schema.tokens.insert().values(
                    id=token_id,
                    digest=tokens.digest(secret),
                    user_name=user,
                    description=description,
                    created_at=created,
                    expires_at=expires_at,
                )
            )
        return TokenRecord(token_id, user, description, created, expires_at, None), secret

    def token_user(self, secret: str) -> tuple[TokenRecord, UserRecord] | None:
        """The token and its user, if `secret` is a token that exists (valid or not)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(schema.tokens).where(schema.tokens.c.digest == tokens.digest(secret))
            ).first()
            if row is None:
                return None
            user = conn.execute(sa.select(schema.users).where(schema.users.c.name == row.user_name)).first()
            if user is None:
                return None
            return self._token(row), self._user(conn, user)

    def get_token(self, token_id: str) -> TokenRecord:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(schema.tokens).where(schema.tokens.c.id == token_id)).first()
        if row is None:
            raise does_not_exist(f"Token '{token_id}' not found")
        return self._token(row)

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        query = sa.select(schema.tokens).order_by(schema.tokens.c.created_at, schema.tokens.c.id)
        if user is not None:
            query = query.where(schema.tokens.c.user_name == user)
        with self.engine.connect() as conn:
            return [self._token(row) for row in conn.execute(query)]

    def revoke_token(self, token_id: str) -> TokenRecord:
        with self.engine.begin() as conn:
            updated = conn.execute(
                schema.tokens.update()
                .where(schema.tokens.c.id == token_id, schema.tokens.c.revoked_at.is_(None))
                .values(revoked_at=_now_ms())
            ).rowcount
        token = self.get_token(token_id)  # RESOURCE_DOES_NOT_EXIST for an unknown id
        if not updated:
            raise invalid_parameter(f"Token '{token_id}' is already revoked")
        return token

    @staticmethod
    def _token(row: sa.Row) -> TokenRecord:
        return TokenRecord(
            row.id, row.user_name, row.description, row.created_at, row.expires_at, row.revoked_at
        )

    # --- role bindings ------------------------------------------------------------------------

    def bind_role(self, workspace: str, principal_kind: str, principal_name: str, role: Role) -> Binding:
        self._check_principal(principal_kind, principal_name)
        key = {"workspace": workspace, "principal_kind": principal_kind, "principal_name": principal_name}
        t = schema.role_bindings
        with self.engine.begin() as conn:
            where = [t.c[k] == v for k, v in key.items()]
            if conn.execute(t.update().where(*where).values(role=role.name.lower())).rowcount == 0:
                conn.execute(t.insert().values(**key, role=role.name.lower()))
        return Binding(workspace, principal_kind, principal_name, role)

    def unbind_role(self, workspace: str, principal_kind: str, principal_name: str) -> None:
        t = schema.role_bindings
        with self.engine.begin() as conn:
            removed = conn.execute(
                t.delete().where(
                    t.c.workspace == workspace,
                    t.c.principal_kind == principal_kind,
                    t.c.principal_name == principal_name,
                )
            ).rowcount
        if not removed:
            raise does_not_exist(f"No role binding for {principal_kind} '{principal_name}' in '{workspace}'")

    def list_bindings(self, workspace: str | None = None) -> list[Binding]:
        t = schema.role_bindings
        query = sa.select(t).order_by(t.c.workspace, t.c.principal_kind, t.c.principal_name)
        if workspace is not None:
            query = query.where(t.c.workspace == workspace)
        with self.engine.connect() as conn:
            return [
                Binding(r.workspace, r.principal_kind, r.principal_name, Role.parse(r.role))
                for r in conn.execute(query)
            ]

    # --- resource permissions -----------------------------------------------------------------

    def set_permission(
        self,
        workspace: str,
        kind: ResourceKind,
        resource_id: str,
        principal_kind: str,
        principal_name: str,
        grant: Grant,
    ) -> Permission:
        self._check_principal(principal_kind, principal_name)
        if not resource_id:
            raise invalid_parameter("A permission needs the resource's id (experiment id or model name)")
        t = schema.resource_permissions
        where = _permission_key(workspace, kind, resource_id, principal_kind, principal_name)
        with self.engine.begin() as conn:
            if conn.execute(t.update().where(*where).values(permission=str(grant))).rowcount == 0:
                conn.execute(
                    t.insert().values(
                        workspace=workspace,
                        resource_kind=str(kind),
                        resource_id=resource_id,
                        principal_kind=principal_kind,
                        principal_name=principal_name,
                        permission=str(grant),
                    )
                )
        return Permission(workspace, kind, resource_id, principal_kind, principal_name, grant)

    def delete_permission(
        self, workspace: str, kind: ResourceKind, resource_id: str, principal_kind: str, principal_name: str
    ) -> None:
        t = schema.resource_permissions
        with self.engine.begin() as conn:
            where = _permission_key(workspace, kind, resource_id, principal_kind, principal_name)
            removed = conn.execute(t.delete().where(*where)).rowcount
        if not removed:
            raise does_not_exist(
                f"No permission for {principal_kind} '{principal_name}' on {kind} '{resource_id}'"
            )

    def get_permission(
        self, workspace: str, kind: ResourceKind, resource_id: str, principal_kind: str, principal_name: str
    ) -> Grant | None:
        t = schema.resource_permissions
        with self.engine.connect() as conn:
            where = _permission_key(workspace, kind, resource_id, principal_kind, principal_name)
            value = conn.execute(sa.select(t.c.permission).where(*where)).scalar()
        return Grant(value) if value else None

    def list_permissions(
        self, workspace: str | None = None, kind: ResourceKind | None = None, resource_id: str | None = None
    ) -> list[Permission]:
        t = schema.resource_permissions
        query = sa.select(t).order_by(t.c.workspace, t.c.resource_kind, t.c.resource_id, t.c.principal_name)
        filters = {"workspace": workspace, "resource_kind": kind, "resource_id": resource_id}
        for column, value in filters.items():
            if value is not None:
                query = query.where(t.c[column] == str(value))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Permission(
                r.workspace,
                ResourceKind(r.resource_kind),
                r.resource_id,
                r.principal_kind,
                r.principal_name,
                Grant(r.permission),
            )
            for r in rows
        ]

    def rename_resource(self, workspace: str, kind: ResourceKind, old_id: str, new_id: str) -> None:
        """Permissions follow a registered model that is renamed."""
        t = schema.resource_permissions
        with self.engine.begin() as conn:
            conn.execute(
                t.update()
                .where(t.c.workspace == workspace, t.c.resource_kind == str(kind), t.c.resource_id == old_id)
                .values(resource_id=new_id)
            )

    def forget_resource(self, workspace: str, kind: ResourceKind, resource_id: str) -> None:
        t = schema.resource_permissions
        with self.engine.begin() as conn:
            conn.execute(
                t.delete().where(
                    t.c.workspace == workspace, t.c.resource_kind == str(kind), t.c.resource_id == resource_id
                )
            )

    def _check_principal(self, principal_kind: str, principal_name: str) -> None:
        if principal_kind not in PRINCIPAL_KINDS:
            raise invalid_parameter(f"principal kind must be 'user' or 'group', not '{principal_kind}'")
        check_name(principal_kind, principal_name)

    # --- what one principal may do ------------------------------------------------------------

    def access(
        self, workspace: str, user: str, groups: Iterable[str], *, admin: bool, default_role: Role | None
    ) -> Access:
        """Fold the bindings and permissions of `user` and `groups` in `workspace` (and in '*')."""
        if admin:
            return Access(admin=True)
        groups = tuple(groups)

        def of_principal(t: sa.Table) -> sa.ColumnElement[bool]:
            mine = sa.and_(t.c.principal_kind == "user", t.c.principal_name == user)
            if not groups:
                return mine
            return sa.or_(mine, sa.and_(t.c.principal_kind == "group", t.c.principal_name.in_(groups)))

        b, p = schema.role_bindings, schema.resource_permissions
        with self.engine.connect() as conn:
            roles = conn.execute(
                sa.select(b.c.role).where(b.c.workspace.in_((workspace, ALL_WORKSPACES)), of_principal(b))
            ).scalars()
            rows = conn.execute(
                sa.select(p.c.resource_kind, p.c.resource_id, p.c.permission).where(
                    p.c.workspace.in_((workspace, ALL_WORKSPACES)), of_principal(p)
                )
            ).all()
        held = [Role.parse(r) for r in roles] + ([default_role] if default_role else [])
        grants: dict[tuple[ResourceKind, str], Level] = {}
        denied = set()
        for kind, resource_id, permission in rows:
            key = (ResourceKind(kind), resource_id)
            grant = Grant(permission)
            if grant is Grant.DENY:
                denied.add(key)
            else:
                grants[key] = max(grants.get(key, Level.NONE), grant.level)
        return Access(role=max(held) if held else None, grants=grants, denied=frozenset(denied))


def _permission_key(
    workspace: str, kind: ResourceKind, resource_id: str, principal_kind: str, principal_name: str
) -> list[sa.ColumnElement[bool]]:
    t = schema.resource_permissions
    return [
        t.c.workspace == workspace,
        t.c.resource_kind == str(kind),
        t.c.resource_id == resource_id,
        t.c.principal_kind == principal_kind,
        t.c.principal_name == principal_name,
    ]
