"""Tracing tables of the local backend: trace info, its tags and metadata, spans and assessments.

Names follow MLflow's SqlAlchemyStore (`trace_info.request_id` is the trace id). A span row keeps
the OTLP span as exported, as JSON, so it goes back to a client byte for byte and `text LIKE`
searches can read it; the columns beside it are what searches filter and sort on.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from flowport.adapters.local.db import Base


class TraceInfo(Base):
    __tablename__ = "trace_info"

    request_id: Mapped[str] = mapped_column(String(50))
    experiment_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("experiments.experiment_id", name="fk_trace_info_experiment_id"), nullable=False
    )
    timestamp_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)
    execution_time_ms: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(50), nullable=False)
    client_request_id: Mapped[str | None] = mapped_column(String(50))
    request_preview: Mapped[str | None] = mapped_column(String(1000))
    response_preview: Mapped[str | None] = mapped_column(String(1000))

    __table_args__ = (
        PrimaryKeyConstraint("request_id", name="trace_info_pk"),
        Index("index_trace_info_experiment_id_timestamp_ms", "experiment_id", "timestamp_ms"),
    )


def _trace_fk(name: str) -> ForeignKey:
    return ForeignKey("trace_info.request_id", name=name, ondelete="CASCADE")


class TraceTag(Base):
    __tablename__ = "trace_tags"

    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[str | None] = mapped_column(String(8000))
    request_id: Mapped[str] = mapped_column(String(50), _trace_fk("fk_trace_tags_request_id"))

    __table_args__ = (
        PrimaryKeyConstraint("key", "request_id", name="trace_tag_pk"),
        Index("index_trace_tags_request_id", "request_id"),
    )


class TraceRequestMetadata(Base):
    __tablename__ = "trace_request_metadata"

    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[str | None] = mapped_column(String(8000))
    request_id: Mapped[str] = mapped_column(String(50), _trace_fk("fk_trace_request_metadata_request_id"))

    __table_args__ = (
        PrimaryKeyConstraint("key", "request_id", name="trace_request_metadata_pk"),
        Index("index_trace_request_metadata_request_id", "request_id"),
    )


class Span(Base):
    __tablename__ = "spans"

    trace_id: Mapped[str] = mapped_column(String(50), _trace_fk("fk_spans_trace_id"))
    experiment_id: Mapped[int] = mapped_column(Integer, nullable=False)
    span_id: Mapped[str] = mapped_column(String(50))
    parent_span_id: Mapped[str | None] = mapped_column(String(50))
    name: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str | None] = mapped_column(String(500))  # the `mlflow.spanType` attribute
    status: Mapped[str] = mapped_column(String(50), nullable=False)  # OTLP status code name
    start_time_unix_nano: Mapped[int] = mapped_column(BigInteger, nullable=False)
    end_time_unix_nano: Mapped[int | None] = mapped_column(BigInteger)
    content: Mapped[str] = mapped_column(Text, nullable=False)  # the OTLP span as JSON

    __table_args__ = (
        PrimaryKeyConstraint("trace_id", "span_id", name="spans_pk"),
        Index("index_spans_experiment_id", "experiment_id"),
    )


class Assessment(Base):
    __tablename__ = "assessments"

    assessment_id: Mapped[str] = mapped_column(String(50))
    trace_id: Mapped[str] = mapped_column(String(50), _trace_fk("fk_assessments_trace_id"), nullable=False)
    name: Mapped[str] = mapped_column(String(250), nullable=False)
    assessment_type: Mapped[str] = mapped_column(String(20), nullable=False)  # feedback | expectation
    # The value as JSON (`"yes"`, `0.9`, `{"k": 1}`): what `feedback.<name> = ...` compares with.
    value: Mapped[str | None] = mapped_column(Text)
    numeric_value: Mapped[float | None] = mapped_column(
        Float
    )  # for `feedback.score > 0.5`; NULL if not a number
    created_timestamp: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_updated_timestamp: Mapped[int] = mapped_column(BigInteger, nullable=False)
    span_id: Mapped[str | None] = mapped_column(String(50))
    valid: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    overrides: Mapped[str | None] = mapped_column(String(50))
    content: Mapped[str] = mapped_column(Text, nullable=False)  # the whole Assessment message as JSON

    __table_args__ = (
        PrimaryKeyConstraint("assessment_id", name="assessments_pk"),
        Index("index_assessments_trace_id_name", "trace_id", "name"),
    )


class TraceRunLink(Base):
    """A trace linked to a run after the fact (LinkTracesToRun, OTLP's x-mlflow-run-id)."""

    __tablename__ = "trace_run_links"

    request_id: Mapped[str] = mapped_column(String(50), _trace_fk("fk_trace_run_links_request_id"))
    run_id: Mapped[str] = mapped_column(String(32))

    __table_args__ = (
        PrimaryKeyConstraint("request_id", "run_id", name="trace_run_links_pk"),
        Index("index_trace_run_links_run_id", "run_id"),
    )
