"""The gateway's own tables: users, groups, tokens, role bindings, resource permissions, audit.

They carry their own Alembic history (`auth/migrations`, version table `flowport_auth_version`),
so they may share a database with the local backend's tables or live in one of their own.
Principals in bindings and permissions are referred to by name, not by foreign key: an OIDC user
or group exists only in its identity provider, yet can be granted a role.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
_SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")

users = sa.Table(
    "auth_users",
    metadata,
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("id", sa.Integer, nullable=False, unique=True),  # MLflow's user id, shown by its API
    sa.Column("kind", sa.String(16), nullable=False),  # user | service
    sa.Column("password_hash", sa.String(256), nullable=True),  # service accounts have none
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

groups = sa.Table(
    "auth_groups",
    metadata,
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

group_members = sa.Table(
    "auth_group_members",
    metadata,
    sa.Column(
        "group_name", sa.String(256), sa.ForeignKey("auth_groups.name", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "user_name", sa.String(256), sa.ForeignKey("auth_users.name", ondelete="CASCADE"), primary_key=True
    ),
)

tokens = sa.Table(
    "auth_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column(
        "user_name", sa.String(256), sa.ForeignKey("auth_users.name", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("description", sa.String(1000), nullable=False, default=""),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=True),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
)

# One role per principal per workspace ('*': every workspace).
role_bindings = sa.Table(
    "auth_role_bindings",
    metadata,
    sa.Column("workspace", sa.String(64), primary_key=True),
    sa.Column("principal_kind", sa.String(16), primary_key=True),  # user | group
    sa.Column("principal_name", sa.String(256), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
)

resource_permissions = sa.Table(
    "auth_resource_permissions",
    metadata,
    sa.Column("workspace", sa.String(64), primary_key=True),
    sa.Column("resource_kind", sa.String(32), primary_key=True),
    sa.Column("resource_id", sa.String(512), primary_key=True),
    sa.Column("principal_kind", sa.String(16), primary_key=True),
    sa.Column("principal_name", sa.String(256), primary_key=True),
    sa.Column("permission", sa.String(16), nullable=False),  # READ | EDIT | MANAGE | DENY
    sa.Index("auth_resource_permissions_principal", "principal_kind", "principal_name", "workspace"),
)

# Modelled on Databricks' system.access.audit: one row per call, allowed or not.
audit_events = sa.Table(
    "audit_events",
    metadata,
    # BIGINT on PostgreSQL; INTEGER on SQLite, whose rowid alias autoincrements only under that name.
    sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),
    sa.Column("event_time", sa.BigInteger, nullable=False),  # ms since the epoch
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("principal", sa.String(256), nullable=False),
    sa.Column("principal_kind", sa.String(16), nullable=False),
    sa.Column("auth_method", sa.String(16), nullable=False),
    sa.Column("groups", sa.Text, nullable=False),  # JSON list
    sa.Column("source_ip", sa.String(64), nullable=False),
    sa.Column("user_agent", sa.String(512), nullable=False),
    sa.Column("workspace", sa.String(64), nullable=False),
    sa.Column("backend", sa.String(256), nullable=False),
    sa.Column("service_name", sa.String(64), nullable=False),
    sa.Column("action", sa.String(128), nullable=False),
    sa.Column("resources", sa.Text, nullable=False),  # JSON list of "kind:id"
    sa.Column("request_params", sa.Text, nullable=False),  # JSON object, secrets masked
    sa.Column("outcome", sa.String(16), nullable=False),  # allowed | denied | unauthenticated
    sa.Column("status_code", sa.Integer, nullable=False),  # the HTTP status the caller got
    sa.Column("error_code", sa.String(64), nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Index("audit_events_time", "event_time"),
    sa.Index("audit_events_principal", "principal", "event_time"),
    sa.Index("audit_events_action", "action", "event_time"),
)
