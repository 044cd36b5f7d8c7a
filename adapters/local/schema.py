"""Tracking tables of the local backend (experiments, runs and what runs log), named as MLflow's.

Table, column, constraint and index names follow MLflow's SqlAlchemyStore so other stores (and
an existing MLflow database) line up; Alembic autogenerates migrations from these models, so
every index and constraint lives here. Only the mapping lives here: no queries.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from flowport.adapters.local.db import Base

ACTIVE = "active"
DELETED = "deleted"
DEFAULT_WORKSPACE = "default"

RUN_STATUSES = ("SCHEDULED", "FAILED", "FINISHED", "RUNNING", "KILLED")
SOURCE_TYPES = ("NOTEBOOK", "JOB", "LOCAL", "UNKNOWN", "PROJECT")


class Experiment(Base):
    __tablename__ = "experiments"

    experiment_id: Mapped[int] = mapped_column(Integer, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256), nullable=False)
    # MLflow 3 scopes names by workspace: several workspaces mapped to this backend share the
    # database, kept apart by this column (runs, traces and logged models through their experiment).
    workspace: Mapped[str] = mapped_column(
        String(63), nullable=False, default=DEFAULT_WORKSPACE, server_default=text("'default'")
    )
    artifact_location: Mapped[str | None] = mapped_column(String(256))
    lifecycle_stage: Mapped[str | None] = mapped_column(String(32), default=ACTIVE)
    creation_time: Mapped[int | None] = mapped_column(BigInteger)
    last_update_time: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint("lifecycle_stage IN ('active', 'deleted')", name="experiments_lifecycle_stage"),
        PrimaryKeyConstraint("experiment_id", name="experiment_pk"),
        UniqueConstraint("workspace", "name", name="uq_experiments_workspace_name"),
    )


class ExperimentTag(Base):
    __tablename__ = "experiment_tags"

    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[str | None] = mapped_column(Text)
    experiment_id: Mapped[int] = mapped_column(Integer, ForeignKey("experiments.experiment_id"))

    __table_args__ = (PrimaryKeyConstraint("key", "experiment_id", name="experiment_tag_pk"),)


class Run(Base):
    __tablename__ = "runs"

    run_uuid: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str | None] = mapped_column(String(250))
    source_type: Mapped[str | None] = mapped_column(String(20), default="LOCAL")
    source_name: Mapped[str | None] = mapped_column(String(500))
    entry_point_name: Mapped[str | None] = mapped_column(String(50))
    user_id: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str | None] = mapped_column(String(20), default="SCHEDULED")
    start_time: Mapped[int | None] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger)
    deleted_time: Mapped[int | None] = mapped_column(BigInteger)
    source_version: Mapped[str | None] = mapped_column(String(50))
    lifecycle_stage: Mapped[str | None] = mapped_column(String(20), default=ACTIVE)
    artifact_uri: Mapped[str | None] = mapped_column(String(200))
    experiment_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("experiments.experiment_id"))

    __table_args__ = (
        CheckConstraint(
            "source_type IN ('NOTEBOOK', 'JOB', 'LOCAL', 'UNKNOWN', 'PROJECT')", name="source_type"
        ),
        CheckConstraint("status IN ('SCHEDULED', 'FAILED', 'FINISHED', 'RUNNING', 'KILLED')", name="status"),
        CheckConstraint("lifecycle_stage IN ('active', 'deleted')", name="runs_lifecycle_stage"),
        PrimaryKeyConstraint("run_uuid", name="run_pk"),
        # search_runs always filters by experiment and by default orders by start_time.
        Index("index_runs_experiment_id_start_time", "experiment_id", "start_time"),
    )


class Tag(Base):
    __tablename__ = "tags"

    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[str | None] = mapped_column(String(8000))
    run_uuid: Mapped[str] = mapped_column(String(32), ForeignKey("runs.run_uuid"))

    # The primary key (key, run_uuid) serves filters by key; the index serves loads by run.
    __table_args__ = (
        PrimaryKeyConstraint("key", "run_uuid", name="tag_pk"),
        Index("index_tags_run_uuid", "run_uuid"),
    )


class Metric(Base):
    __tablename__ = "metrics"

    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[float] = mapped_column(Float(precision=53), nullable=False)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    is_nan: Mapped[bool] = mapped_column(Boolean(create_constraint=True), nullable=False, default=False)
    run_uuid: Mapped[str] = mapped_column(String(32), ForeignKey("runs.run_uuid"))

    __table_args__ = (
        PrimaryKeyConstraint("key", "timestamp", "step", "run_uuid", "value", "is_nan", name="metric_pk"),
        # A metric history page is a range scan of its order (and its page token's position); it also
        # serves by-run reads and bulk-interval sampling. Each index on metrics costs every point logged
        # (a second one, on (run_uuid, key, step), cost log-batch a third of its rate), so there is one.
        Index("index_metrics_history", "run_uuid", "key", "timestamp", "step", "value", "is_nan"),
    )


class LatestMetric(Base):
    __tablename__ = "latest_metrics"

    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[float] = mapped_column(Float(precision=53), nullable=False)
    timestamp: Mapped[int | None] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    is_nan: Mapped[bool] = mapped_column(Boolean(create_constraint=True), nullable=False, default=False)
    run_uuid: Mapped[str] = mapped_column(String(32), ForeignKey("runs.run_uuid"))

    __table_args__ = (
        PrimaryKeyConstraint("key", "run_uuid", name="latest_metric_pk"),
        Index("index_latest_metrics_run_uuid", "run_uuid"),
        # runs/search ordered by a metric walks its values in order (run_search.run_order_tiers).
        Index("index_latest_metrics_key_is_nan_value", "key", "is_nan", "value"),
    )


class Param(Base):
    __tablename__ = "params"

    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[str] = mapped_column(String(8000), nullable=False)
    run_uuid: Mapped[str] = mapped_column(String(32), ForeignKey("runs.run_uuid"))

    __table_args__ = (
        PrimaryKeyConstraint("key", "run_uuid", name="param_pk"),
        Index("index_params_run_uuid", "run_uuid"),
    )


class Dataset(Base):
    __tablename__ = "datasets"

    dataset_uuid: Mapped[str] = mapped_column(String(36), nullable=False)
    experiment_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("experiments.experiment_id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(500), nullable=False)
    digest: Mapped[str] = mapped_column(String(36), nullable=False)
    dataset_source_type: Mapped[str] = mapped_column(String(36), nullable=False)
    dataset_source: Mapped[str] = mapped_column(Text, nullable=False)
    dataset_schema: Mapped[str | None] = mapped_column(Text)
    dataset_profile: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        PrimaryKeyConstraint("experiment_id", "name", "digest", name="dataset_pk"),
        Index("index_datasets_dataset_uuid", "dataset_uuid"),
        Index("index_datasets_experiment_id_dataset_source_type", "experiment_id", "dataset_source_type"),
    )


class Input(Base):
    """An edge: dataset → run (DATASET/RUN), run → model (RUN_INPUT/MODEL_INPUT, RUN_OUTPUT/MODEL_OUTPUT)."""

    __tablename__ = "inputs"

    input_uuid: Mapped[str] = mapped_column(String(36), nullable=False)
    source_type: Mapped[str] = mapped_column(String(36), nullable=False)
    source_id: Mapped[str] = mapped_column(String(36), nullable=False)
    destination_type: Mapped[str] = mapped_column(String(36), nullable=False)
    destination_id: Mapped[str] = mapped_column(String(36), nullable=False)
    step: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"), default=0)

    __table_args__ = (
        PrimaryKeyConstraint(
            "source_type", "source_id", "destination_type", "destination_id", name="inputs_pk"
        ),
        Index("index_inputs_input_uuid", "input_uuid"),
        Index(
            "index_inputs_destination_type_destination_id_source_type",
            "destination_type",
            "destination_id",
            "source_type",
        ),
    )


class InputTag(Base):
    # No foreign key to inputs.input_uuid: that column is not unique (MLflow's migration has none).
    __tablename__ = "input_tags"

    input_uuid: Mapped[str] = mapped_column(String(36), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    value: Mapped[str] = mapped_column(String(500), nullable=False)

    __table_args__ = (PrimaryKeyConstraint("input_uuid", "name", name="input_tags_pk"),)
