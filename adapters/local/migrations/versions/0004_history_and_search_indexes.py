"""indexes for metric history pages and runs ordered by a metric

Revision ID: 0004
Revises: 0003

A page of one metric's history is a range scan of (run_uuid, key, timestamp, step, value, is_nan),
its order and its page token's position. It replaces the indexes on run_uuid and on (run_uuid, key,
step), which it serves too: every index on metrics is paid by every point logged (dropping the
(run_uuid, key, step) one took 1000-point log-batch calls from 48-50k to 64-67k points/s, and a
step-ranged bulk-interval read over 100k points from 7 to 16 ms). Runs ordered by a metric read
latest_metrics through (key, is_nan, value) in order, so the first page stops after its rows.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_HISTORY = ["run_uuid", "key", "timestamp", "step", "value", "is_nan"]
_LATEST_BY_VALUE = ["key", "is_nan", "value"]


def upgrade() -> None:
    op.create_index("index_metrics_history", "metrics", _HISTORY, unique=False)
    op.drop_index("index_metrics_run_uuid", table_name="metrics")
    op.drop_index("index_metrics_run_uuid_key_step", table_name="metrics")
    op.create_index("index_latest_metrics_key_is_nan_value", "latest_metrics", _LATEST_BY_VALUE, unique=False)


def downgrade() -> None:
    op.drop_index("index_latest_metrics_key_is_nan_value", table_name="latest_metrics")
    op.create_index("index_metrics_run_uuid_key_step", "metrics", ["run_uuid", "key", "step"], unique=False)
    op.create_index("index_metrics_run_uuid", "metrics", ["run_uuid"], unique=False)
    op.drop_index("index_metrics_history", table_name="metrics")
