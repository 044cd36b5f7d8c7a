"""Model registry tables of the local backend, with MLflow's table and column names.

Mapping only, no queries: `registry_store.py` reads and writes these rows.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flowport.adapters.local.db import Base
from flowport.adapters.workspace_scope import DEFAULT_WORKSPACE

STAGE_NONE = "None"
STAGE_STAGING = "Staging"
STAGE_PRODUCTION = "Production"
STAGE_ARCHIVED = "Archived"
# A deleted version keeps its row (so its number is never reused) under this stage.
STAGE_DELETED_INTERNAL = "Deleted_Internal"
ALL_STAGES = (STAGE_NONE, STAGE_STAGING, STAGE_PRODUCTION, STAGE_ARCHIVED)

STATUS_READY = "READY"


def _workspace_column() -> Mapped[str]:
    # As MLflow 3 (revision 1b5f0d9ad7c1): every registry row carries its workspace, first in
    # the key, so a model name is unique per workspace and children join on (workspace, name).
    return mapped_column(
        String(63), nullable=False, default=DEFAULT_WORKSPACE, server_default=text("'default'")
    )


class RegisteredModel(Base):
    __tablename__ = "registered_models"

    workspace: Mapped[str] = _workspace_column()
    name: Mapped[str] = mapped_column(String(256))
    creation_time: Mapped[int | None] = mapped_column(BigInteger)
    last_updated_time: Mapped[int | None] = mapped_column(BigInteger)
    description: Mapped[str | None] = mapped_column(String(5000))

    tags: Mapped[list[RegisteredModelTag]] = relationship(
        back_populates="registered_model", cascade="all, delete-orphan", passive_deletes=True
    )
    aliases: Mapped[list[RegisteredModelAlias]] = relationship(
        back_populates="registered_model", cascade="all, delete-orphan", passive_deletes=True
    )
    versions: Mapped[list[ModelVersion]] = relationship(
        back_populates="registered_model", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        PrimaryKeyConstraint("workspace", "name", name="registered_model_pk"),
        Index("index_registered_models_last_updated_time", "last_updated_time"),
    )


class ModelVersion(Base):
    __tablename__ = "model_versions"

    workspace: Mapped[str] = _workspace_column()
    name: Mapped[str] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer)
    creation_time: Mapped[int | None] = mapped_column(BigInteger)
    last_updated_time: Mapped[int | None] = mapped_column(BigInteger)
    description: Mapped[str | None] = mapped_column(String(5000))
    user_id: Mapped[str | None] = mapped_column(String(256))
    current_stage: Mapped[str | None] = mapped_column(String(20), default=STAGE_NONE)
    source: Mapped[str | None] = mapped_column(String(500))
    storage_location: Mapped[str | None] = mapped_column(String(500))
    run_id: Mapped[str | None] = mapped_column(String(32))
    run_link: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str | None] = mapped_column(String(20), default=STATUS_READY)
    status_message: Mapped[str | None] = mapped_column(String(500))

    registered_model: Mapped[RegisteredModel] = relationship(back_populates="versions")
    tags: Mapped[list[ModelVersionTag]] = relationship(
        back_populates="model_version", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        PrimaryKeyConstraint("workspace", "name", "version", name="model_version_pk"),
        ForeignKeyConstraint(
            ["workspace", "name"],
            ["registered_models.workspace", "registered_models.name"],
            onupdate="CASCADE",
            ondelete="CASCADE",
            name="model_versions_name_fkey",
        ),
        # search_model_versions("run_id = ...") is what the client sends after log_model.
        Index("index_model_versions_run_id", "run_id"),
        Index("index_model_versions_last_updated_time", "last_updated_time"),
    )


class RegisteredModelTag(Base):
    __tablename__ = "registered_model_tags"

    workspace: Mapped[str] = _workspace_column()
    key: Mapped[str] = mapped_column(String(250))
    name: Mapped[str] = mapped_column(String(256))
    value: Mapped[str | None] = mapped_column(String(5000))

    registered_model: Mapped[RegisteredModel] = relationship(back_populates="tags")

    __table_args__ = (
        PrimaryKeyConstraint("workspace", "key", "name", name="registered_model_tag_pk"),
        ForeignKeyConstraint(
            ["workspace", "name"],
            ["registered_models.workspace", "registered_models.name"],
            onupdate="CASCADE",
            ondelete="CASCADE",
            name="registered_model_tags_name_fkey",
        ),
        Index("index_registered_model_tags_workspace_name", "workspace", "name"),
    )


class ModelVersionTag(Base):
    __tablename__ = "model_version_tags"

    workspace: Mapped[str] = _workspace_column()
    key: Mapped[str] = mapped_column(String(250))
    name: Mapped[str] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer)
    value: Mapped[str | None] = mapped_column(Text)

    model_version: Mapped[ModelVersion] = relationship(back_populates="tags")

    __table_args__ = (
        PrimaryKeyConstraint("workspace", "key", "name", "version", name="model_version_tag_pk"),
        ForeignKeyConstraint(
            ["workspace", "name", "version"],
            ["model_versions.workspace", "model_versions.name", "model_versions.version"],
            onupdate="CASCADE",
            ondelete="CASCADE",
            name="model_version_tags_name_version_fkey",
        ),
        Index("index_model_version_tags_workspace_name_version", "workspace", "name", "version"),
    )


class RegisteredModelAlias(Base):
    __tablename__ = "registered_model_aliases"

    workspace: Mapped[str] = _workspace_column()
    alias: Mapped[str] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(256))

    registered_model: Mapped[RegisteredModel] = relationship(back_populates="aliases")

    __table_args__ = (
        PrimaryKeyConstraint("workspace", "name", "alias", name="registered_model_alias_pk"),
        ForeignKeyConstraint(
            ["workspace", "name"],
            ["registered_models.workspace", "registered_models.name"],
            onupdate="CASCADE",
            ondelete="CASCADE",
            name="registered_model_alias_name_fkey",
        ),
    )
