"""Alembic migrations of the gateway state database (`auth.database.upgrade`)."""
