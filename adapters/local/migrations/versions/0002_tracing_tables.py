"""tracing tables

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trace_info",
        sa.Column("request_id", sa.String(length=50), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("execution_time_ms", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=False),
        sa.Column("client_request_id", sa.String(length=50), nullable=True),
        sa.Column("request_preview", sa.String(length=1000), nullable=True),
        sa.Column("response_preview", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiments.experiment_id"], name="fk_trace_info_experiment_id"
        ),
        sa.PrimaryKeyConstraint("request_id", name="trace_info_pk"),
    )
    with op.batch_alter_table("trace_info", schema=None) as batch_op:
        batch_op.create_index(
            "index_trace_info_experiment_id_timestamp_ms", ["experiment_id", "timestamp_ms"], unique=False
        )

    op.create_table(
        "assessments",
        sa.Column("assessment_id", sa.String(length=50), nullable=False),
        sa.Column("trace_id", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("assessment_type", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("numeric_value", sa.Float(), nullable=True),
        sa.Column("created_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("span_id", sa.String(length=50), nullable=True),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("overrides", sa.String(length=50), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trace_id"], ["trace_info.request_id"], name="fk_assessments_trace_id", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("assessment_id", name="assessments_pk"),
    )
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.create_index("index_assessments_trace_id_name", ["trace_id", "name"], unique=False)

    op.create_table(
        "spans",
        sa.Column("trace_id", sa.String(length=50), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("span_id", sa.String(length=50), nullable=False),
        sa.Column("parent_span_id", sa.String(length=50), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("type", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=False),
        sa.Column("start_time_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("end_time_unix_nano", sa.BigInteger(), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trace_id"], ["trace_info.request_id"], name="fk_spans_trace_id", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("trace_id", "span_id", name="spans_pk"),
    )
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.create_index("index_spans_experiment_id", ["experiment_id"], unique=False)

    op.create_table(
        "trace_request_metadata",
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.String(length=8000), nullable=True),
        sa.Column("request_id", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["trace_info.request_id"],
            name="fk_trace_request_metadata_request_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", "request_id", name="trace_request_metadata_pk"),
    )
    with op.batch_alter_table("trace_request_metadata", schema=None) as batch_op:
        batch_op.create_index("index_trace_request_metadata_request_id", ["request_id"], unique=False)

    op.create_table(
        "trace_run_links",
        sa.Column("request_id", sa.String(length=50), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["trace_info.request_id"],
            name="fk_trace_run_links_request_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", "run_id", name="trace_run_links_pk"),
    )
    with op.batch_alter_table("trace_run_links", schema=None) as batch_op:
        batch_op.create_index("index_trace_run_links_run_id", ["run_id"], unique=False)

    op.create_table(
        "trace_tags",
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.String(length=8000), nullable=True),
        sa.Column("request_id", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["trace_info.request_id"], name="fk_trace_tags_request_id", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("key", "request_id", name="trace_tag_pk"),
    )
    with op.batch_alter_table("trace_tags", schema=None) as batch_op:
        batch_op.create_index("index_trace_tags_request_id", ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("trace_tags", schema=None) as batch_op:
        batch_op.drop_index("index_trace_tags_request_id")

    op.drop_table("trace_tags")
    with op.batch_alter_table("trace_run_links", schema=None) as batch_op:
        batch_op.drop_index("index_trace_run_links_run_id")

    op.drop_table("trace_run_links")
    with op.batch_alter_table("trace_request_metadata", schema=None) as batch_op:
        batch_op.drop_index("index_trace_request_metadata_request_id")

    op.drop_table("trace_request_metadata")
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.drop_index("index_spans_experiment_id")

    op.drop_table("spans")
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.drop_index("index_assessments_trace_id_name")

    op.drop_table("assessments")
    with op.batch_alter_table("trace_info", schema=None) as batch_op:
        batch_op.drop_index("index_trace_info_experiment_id_timestamp_ms")

    op.drop_table("trace_info")
