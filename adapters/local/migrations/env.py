"""Alembic environment: runs migrations on the connection handed over by `migrations.upgrade`."""

from __future__ import annotations

from alembic import context

from flowport.adapters.local.schema_all import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` CLI use: take the URL from the config
    import sqlalchemy as sa

    engine = sa.create_engine(context.config.get_main_option("sqlalchemy.url"))
    connection = engine.connect()

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite can only ALTER through table copies
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
