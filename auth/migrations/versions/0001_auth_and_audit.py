"""users, groups, tokens, role bindings, resource permissions and the audit log

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_users",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("id", sa.Integer, nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=True),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "auth_groups",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "auth_group_members",
        sa.Column(
            "group_name",
            sa.String(256),
            sa.ForeignKey("auth_groups.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_name",
            sa.String(256),
            sa.ForeignKey("auth_users.name", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_table(
        "auth_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "user_name", sa.String(256), sa.ForeignKey("auth_users.name", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("description", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "auth_role_bindings",
        sa.Column("workspace", sa.String(64), primary_key=True),
        sa.Column("principal_kind", sa.String(16), primary_key=True),
        sa.Column("principal_name", sa.String(256), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
    )
    op.create_table(
        "auth_resource_permissions",
        sa.Column("workspace", sa.String(64), primary_key=True),
        sa.Column("resource_kind", sa.String(32), primary_key=True),
        sa.Column("resource_id", sa.String(512), primary_key=True),
        sa.Column("principal_kind", sa.String(16), primary_key=True),
        sa.Column("principal_name", sa.String(256), primary_key=True),
        sa.Column("permission", sa.String(16), nullable=False),
    )
    op.create_index(
        "auth_resource_permissions_principal",
        "auth_resource_permissions",
        ["principal_kind", "principal_name", "workspace"],
    )
    op.create_table(
        "audit_events",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_time", sa.BigInteger, nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("principal", sa.String(256), nullable=False),
        sa.Column("principal_kind", sa.String(16), nullable=False),
        sa.Column("auth_method", sa.String(16), nullable=False),
        sa.Column("groups", sa.Text, nullable=False),
        sa.Column("source_ip", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(512), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("backend", sa.String(256), nullable=False),
        sa.Column("service_name", sa.String(64), nullable=False),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("resources", sa.Text, nullable=False),
        sa.Column("request_params", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(64), nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
    )
    op.create_index("audit_events_time", "audit_events", ["event_time"])
    op.create_index("audit_events_principal", "audit_events", ["principal", "event_time"])
    op.create_index("audit_events_action", "audit_events", ["action", "event_time"])


def downgrade() -> None:
    for table in (
        "audit_events",
        "auth_resource_permissions",
        "auth_role_bindings",
        "auth_tokens",
        "auth_group_members",
        "auth_groups",
        "auth_users",
    ):
        op.drop_table(table)
