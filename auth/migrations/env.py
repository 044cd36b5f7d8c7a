"""Alembic environment of the gateway state database: runs on the connection `auth.database` hands over."""

from __future__ import annotations

from alembic import context

from flowport.auth.database import VERSION_TABLE
from flowport.auth.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,  # not `alembic_version`: the local backend's tables may share the database
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
