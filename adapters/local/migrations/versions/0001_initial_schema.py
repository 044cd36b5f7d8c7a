"""initial schema

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
        "experiments",
        sa.Column("experiment_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("workspace", sa.String(length=63), server_default=sa.text("'default'"), nullable=False),
        sa.Column("artifact_location", sa.String(length=256), nullable=True),
        sa.Column("lifecycle_stage", sa.String(length=32), nullable=True),
        sa.Column("creation_time", sa.BigInteger(), nullable=True),
        sa.Column("last_update_time", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("lifecycle_stage IN ('active', 'deleted')", name="experiments_lifecycle_stage"),
        sa.PrimaryKeyConstraint("experiment_id", name="experiment_pk"),
        sa.UniqueConstraint("workspace", "name", name="uq_experiments_workspace_name"),
    )
    op.create_table(
        "input_tags",
        sa.Column("input_uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("input_uuid", "name", name="input_tags_pk"),
    )
    op.create_table(
        "inputs",
        sa.Column("input_uuid", sa.String(length=36), nullable=False),
        sa.Column("source_type", sa.String(length=36), nullable=False),
        sa.Column("source_id", sa.String(length=36), nullable=False),
        sa.Column("destination_type", sa.String(length=36), nullable=False),
        sa.Column("destination_id", sa.String(length=36), nullable=False),
        sa.Column("step", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint(
            "source_type", "source_id", "destination_type", "destination_id", name="inputs_pk"
        ),
    )
    with op.batch_alter_table("inputs", schema=None) as batch_op:
        batch_op.create_index(
            "index_inputs_destination_type_destination_id_source_type",
            ["destination_type", "destination_id", "source_type"],
            unique=False,
        )
        batch_op.create_index("index_inputs_input_uuid", ["input_uuid"], unique=False)

    op.create_table(
        "registered_models",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=True),
        sa.Column("last_updated_time", sa.BigInteger(), nullable=True),
        sa.Column("description", sa.String(length=5000), nullable=True),
        sa.PrimaryKeyConstraint("name", name="registered_model_pk"),
    )
    with op.batch_alter_table("registered_models", schema=None) as batch_op:
        batch_op.create_index(
            "index_registered_models_last_updated_time", ["last_updated_time"], unique=False
        )

    op.create_table(
        "datasets",
        sa.Column("dataset_uuid", sa.String(length=36), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("digest", sa.String(length=36), nullable=False),
        sa.Column("dataset_source_type", sa.String(length=36), nullable=False),
        sa.Column("dataset_source", sa.Text(), nullable=False),
        sa.Column("dataset_schema", sa.Text(), nullable=True),
        sa.Column("dataset_profile", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.experiment_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("experiment_id", "name", "digest", name="dataset_pk"),
    )
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.create_index("index_datasets_dataset_uuid", ["dataset_uuid"], unique=False)
        batch_op.create_index(
            "index_datasets_experiment_id_dataset_source_type",
            ["experiment_id", "dataset_source_type"],
            unique=False,
        )

    op.create_table(
        "experiment_tags",
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
        ),
        sa.PrimaryKeyConstraint("key", "experiment_id", name="experiment_tag_pk"),
    )
    op.create_table(
        "logged_models",
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("artifact_location", sa.String(length=1000), nullable=False),
        sa.Column("creation_timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("lifecycle_stage", sa.String(length=32), nullable=True),
        sa.Column("model_type", sa.String(length=500), nullable=True),
        sa.Column("source_run_id", sa.String(length=32), nullable=True),
        sa.Column("status_message", sa.String(length=1000), nullable=True),
        sa.CheckConstraint(
            "lifecycle_stage IN ('active', 'deleted')", name="logged_models_lifecycle_stage_check"
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_logged_models_experiment_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", name="logged_models_pk"),
    )
    with op.batch_alter_table("logged_models", schema=None) as batch_op:
        batch_op.create_index(
            "index_logged_models_experiment_id_creation",
            ["experiment_id", "creation_timestamp_ms"],
            unique=False,
        )

    op.create_table(
        "model_versions",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=True),
        sa.Column("last_updated_time", sa.BigInteger(), nullable=True),
        sa.Column("description", sa.String(length=5000), nullable=True),
        sa.Column("user_id", sa.String(length=256), nullable=True),
        sa.Column("current_stage", sa.String(length=20), nullable=True),
        sa.Column("source", sa.String(length=500), nullable=True),
        sa.Column("storage_location", sa.String(length=500), nullable=True),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("run_link", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("status_message", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["name"],
            ["registered_models.name"],
            name="model_versions_name_fkey",
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", "version", name="model_version_pk"),
    )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.create_index("index_model_versions_last_updated_time", ["last_updated_time"], unique=False)
        batch_op.create_index("index_model_versions_run_id", ["run_id"], unique=False)

    op.create_table(
        "registered_model_aliases",
        sa.Column("alias", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["name"],
            ["registered_models.name"],
            name="registered_model_alias_name_fkey",
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", "alias", name="registered_model_alias_pk"),
    )
    op.create_table(
        "registered_model_tags",
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("value", sa.String(length=5000), nullable=True),
        sa.ForeignKeyConstraint(
            ["name"],
            ["registered_models.name"],
            name="registered_model_tags_name_fkey",
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", "name", name="registered_model_tag_pk"),
    )
    with op.batch_alter_table("registered_model_tags", schema=None) as batch_op:
        batch_op.create_index("index_registered_model_tags_name", ["name"], unique=False)

    op.create_table(
        "runs",
        sa.Column("run_uuid", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=True),
        sa.Column("source_type", sa.String(length=20), nullable=True),
        sa.Column("source_name", sa.String(length=500), nullable=True),
        sa.Column("entry_point_name", sa.String(length=50), nullable=True),
        sa.Column("user_id", sa.String(length=256), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("start_time", sa.BigInteger(), nullable=True),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("deleted_time", sa.BigInteger(), nullable=True),
        sa.Column("source_version", sa.String(length=50), nullable=True),
        sa.Column("lifecycle_stage", sa.String(length=20), nullable=True),
        sa.Column("artifact_uri", sa.String(length=200), nullable=True),
        sa.Column("experiment_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("lifecycle_stage IN ('active', 'deleted')", name="runs_lifecycle_stage"),
        sa.CheckConstraint(
            "source_type IN ('NOTEBOOK', 'JOB', 'LOCAL', 'UNKNOWN', 'PROJECT')", name="source_type"
        ),
        sa.CheckConstraint(
            "status IN ('SCHEDULED', 'FAILED', 'FINISHED', 'RUNNING', 'KILLED')", name="status"
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
        ),
        sa.PrimaryKeyConstraint("run_uuid", name="run_pk"),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index(
            "index_runs_experiment_id_start_time", ["experiment_id", "start_time"], unique=False
        )

    op.create_table(
        "latest_metrics",
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=True),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("is_nan", sa.Boolean(create_constraint=True), nullable=False),
        sa.Column("run_uuid", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_uuid"],
            ["runs.run_uuid"],
        ),
        sa.PrimaryKeyConstraint("key", "run_uuid", name="latest_metric_pk"),
    )
    with op.batch_alter_table("latest_metrics", schema=None) as batch_op:
        batch_op.create_index("index_latest_metrics_run_uuid", ["run_uuid"], unique=False)

    op.create_table(
        "logged_model_metrics",
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("metric_name", sa.String(length=500), nullable=False),
        sa.Column("metric_timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("metric_step", sa.BigInteger(), nullable=False),
        sa.Column("metric_value", sa.Float(precision=53), nullable=True),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("dataset_uuid", sa.String(length=36), nullable=True),
        sa.Column("dataset_name", sa.String(length=500), nullable=True),
        sa.Column("dataset_digest", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiments.experiment_id"], name="fk_logged_model_metrics_experiment_id"
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["logged_models.model_id"],
            name="fk_logged_model_metrics_model_id",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_uuid"], name="fk_logged_model_metrics_run_id", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "model_id",
            "metric_name",
            "metric_timestamp_ms",
            "metric_step",
            "run_id",
            name="logged_model_metrics_pk",
        ),
    )
    with op.batch_alter_table("logged_model_metrics", schema=None) as batch_op:
        batch_op.create_index("index_logged_model_metrics_model_id", ["model_id"], unique=False)
        batch_op.create_index(
            "index_logged_model_metrics_name_value", ["metric_name", "metric_value"], unique=False
        )

    op.create_table(
        "logged_model_params",
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("param_key", sa.String(length=255), nullable=False),
        sa.Column("param_value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiments.experiment_id"], name="fk_logged_model_params_experiment_id"
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["logged_models.model_id"],
            name="fk_logged_model_params_model_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", "param_key", name="logged_model_params_pk"),
    )
    op.create_table(
        "logged_model_tags",
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("tag_key", sa.String(length=255), nullable=False),
        sa.Column("tag_value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiments.experiment_id"], name="fk_logged_model_tags_experiment_id"
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["logged_models.model_id"], name="fk_logged_model_tags_model_id", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("model_id", "tag_key", name="logged_model_tags_pk"),
    )
    op.create_table(
        "metrics",
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("is_nan", sa.Boolean(create_constraint=True), nullable=False),
        sa.Column("run_uuid", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_uuid"],
            ["runs.run_uuid"],
        ),
        sa.PrimaryKeyConstraint("key", "timestamp", "step", "run_uuid", "value", "is_nan", name="metric_pk"),
    )
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.create_index("index_metrics_run_uuid", ["run_uuid"], unique=False)
        batch_op.create_index("index_metrics_run_uuid_key_step", ["run_uuid", "key", "step"], unique=False)

    op.create_table(
        "model_version_tags",
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["name", "version"],
            ["model_versions.name", "model_versions.version"],
            name="model_version_tags_name_version_fkey",
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", "name", "version", name="model_version_tag_pk"),
    )
    with op.batch_alter_table("model_version_tags", schema=None) as batch_op:
        batch_op.create_index("index_model_version_tags_name_version", ["name", "version"], unique=False)

    op.create_table(
        "params",
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.String(length=8000), nullable=False),
        sa.Column("run_uuid", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_uuid"],
            ["runs.run_uuid"],
        ),
        sa.PrimaryKeyConstraint("key", "run_uuid", name="param_pk"),
    )
    with op.batch_alter_table("params", schema=None) as batch_op:
        batch_op.create_index("index_params_run_uuid", ["run_uuid"], unique=False)

    op.create_table(
        "tags",
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.String(length=8000), nullable=True),
        sa.Column("run_uuid", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_uuid"],
            ["runs.run_uuid"],
        ),
        sa.PrimaryKeyConstraint("key", "run_uuid", name="tag_pk"),
    )
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.create_index("index_tags_run_uuid", ["run_uuid"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_index("index_tags_run_uuid")

    op.drop_table("tags")
    with op.batch_alter_table("params", schema=None) as batch_op:
        batch_op.drop_index("index_params_run_uuid")

    op.drop_table("params")
    with op.batch_alter_table("model_version_tags", schema=None) as batch_op:
        batch_op.drop_index("index_model_version_tags_name_version")

    op.drop_table("model_version_tags")
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.drop_index("index_metrics_run_uuid_key_step")
        batch_op.drop_index("index_metrics_run_uuid")

    op.drop_table("metrics")
    op.drop_table("logged_model_tags")
    op.drop_table("logged_model_params")
    with op.batch_alter_table("logged_model_metrics", schema=None) as batch_op:
        batch_op.drop_index("index_logged_model_metrics_name_value")
        batch_op.drop_index("index_logged_model_metrics_model_id")

    op.drop_table("logged_model_metrics")
    with op.batch_alter_table("latest_metrics", schema=None) as batch_op:
        batch_op.drop_index("index_latest_metrics_run_uuid")

    op.drop_table("latest_metrics")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("index_runs_experiment_id_start_time")

    op.drop_table("runs")
    with op.batch_alter_table("registered_model_tags", schema=None) as batch_op:
        batch_op.drop_index("index_registered_model_tags_name")

    op.drop_table("registered_model_tags")
    op.drop_table("registered_model_aliases")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_index("index_model_versions_run_id")
        batch_op.drop_index("index_model_versions_last_updated_time")

    op.drop_table("model_versions")
    with op.batch_alter_table("logged_models", schema=None) as batch_op:
        batch_op.drop_index("index_logged_models_experiment_id_creation")

    op.drop_table("logged_models")
    op.drop_table("experiment_tags")
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_index("index_datasets_experiment_id_dataset_source_type")
        batch_op.drop_index("index_datasets_dataset_uuid")

    op.drop_table("datasets")
    with op.batch_alter_table("registered_models", schema=None) as batch_op:
        batch_op.drop_index("index_registered_models_last_updated_time")

    op.drop_table("registered_models")
    with op.batch_alter_table("inputs", schema=None) as batch_op:
        batch_op.drop_index("index_inputs_input_uuid")
        batch_op.drop_index("index_inputs_destination_type_destination_id_source_type")

    op.drop_table("inputs")
    op.drop_table("input_tags")
    op.drop_table("experiments")
