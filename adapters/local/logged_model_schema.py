"""Logged-model tables of the local backend (MLflow 3), with MLflow's table and column names.

Mapping only, no queries; `experiments` and `runs`, which they point to, live in `schema.py`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flowport.adapters.local.db import Base

LIFECYCLE_ACTIVE = "active"
LIFECYCLE_DELETED = "deleted"

# LoggedModelStatus numbers, identical to the proto enum values.
STATUS_UNSPECIFIED = 0
STATUS_PENDING = 1
STATUS_READY = 2
STATUS_FAILED = 3


class LoggedModel(Base):
    __tablename__ = "logged_models"

    model_id: Mapped[str] = mapped_column(String(36))
    experiment_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(500))
    artifact_location: Mapped[str] = mapped_column(String(1000))
    creation_timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    last_updated_timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[int] = mapped_column(Integer)
    lifecycle_stage: Mapped[str | None] = mapped_column(String(32), default=LIFECYCLE_ACTIVE)
    model_type: Mapped[str | None] = mapped_column(String(500))
    source_run_id: Mapped[str | None] = mapped_column(String(32))
    status_message: Mapped[str | None] = mapped_column(String(1000))

    tags: Mapped[list[LoggedModelTag]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="LoggedModelTag.tag_key"
    )
    params: Mapped[list[LoggedModelParam]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="LoggedModelParam.param_key"
    )
    metrics: Mapped[list[LoggedModelMetric]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        PrimaryKeyConstraint("model_id", name="logged_models_pk"),
        CheckConstraint(
            "lifecycle_stage IN ('active', 'deleted')", name="logged_models_lifecycle_stage_check"
        ),
        ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            ondelete="CASCADE",
            name="fk_logged_models_experiment_id",
        ),
        # search_logged_models always filters on experiment and orders by creation time.
        Index("index_logged_models_experiment_id_creation", "experiment_id", "creation_timestamp_ms"),
    )


class LoggedModelMetric(Base):
    __tablename__ = "logged_model_metrics"

    model_id: Mapped[str] = mapped_column(String(36))
    metric_name: Mapped[str] = mapped_column(String(500))
    metric_timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    metric_step: Mapped[int] = mapped_column(BigInteger)
    metric_value: Mapped[float | None] = mapped_column(Float(precision=53))
    experiment_id: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(32))
    dataset_uuid: Mapped[str | None] = mapped_column(String(36))
    dataset_name: Mapped[str | None] = mapped_column(String(500))
    dataset_digest: Mapped[str | None] = mapped_column(String(36))

    __table_args__ = (
        PrimaryKeyConstraint(
            "model_id",
            "metric_name",
            "metric_timestamp_ms",
            "metric_step",
            "run_id",
            name="logged_model_metrics_pk",
        ),
        ForeignKeyConstraint(
            ["model_id"],
            ["logged_models.model_id"],
            ondelete="CASCADE",
            name="fk_logged_model_metrics_model_id",
        ),
        ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_logged_model_metrics_experiment_id",
        ),
        ForeignKeyConstraint(
            ["run_id"],
            ["runs.run_uuid"],
            ondelete="CASCADE",
            name="fk_logged_model_metrics_run_id",
        ),
        Index("index_logged_model_metrics_model_id", "model_id"),
        Index("index_logged_model_metrics_name_value", "metric_name", "metric_value"),
    )


class LoggedModelParam(Base):
    __tablename__ = "logged_model_params"

    model_id: Mapped[str] = mapped_column(String(36))
    experiment_id: Mapped[int] = mapped_column(Integer)
    param_key: Mapped[str] = mapped_column(String(255))
    param_value: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        PrimaryKeyConstraint("model_id", "param_key", name="logged_model_params_pk"),
        ForeignKeyConstraint(
            ["model_id"],
            ["logged_models.model_id"],
            ondelete="CASCADE",
            name="fk_logged_model_params_model_id",
        ),
        ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_logged_model_params_experiment_id",
        ),
    )


class LoggedModelTag(Base):
    __tablename__ = "logged_model_tags"

    model_id: Mapped[str] = mapped_column(String(36))
    experiment_id: Mapped[int] = mapped_column(Integer)
    tag_key: Mapped[str] = mapped_column(String(255))
    tag_value: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        PrimaryKeyConstraint("model_id", "tag_key", name="logged_model_tags_pk"),
        ForeignKeyConstraint(
            ["model_id"],
            ["logged_models.model_id"],
            ondelete="CASCADE",
            name="fk_logged_model_tags_model_id",
        ),
        ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_logged_model_tags_experiment_id",
        ),
    )
