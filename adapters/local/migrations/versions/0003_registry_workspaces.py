"""registry rows carry their workspace

Revision ID: 0003
Revises: 0002

As MLflow 3's revision 1b5f0d9ad7c1: registered models, their versions, tags and aliases gain a
`workspace` column (existing rows become 'default') that leads every primary key, so a model
name is unique per workspace; children reference their parent by (workspace, name[, version]).
Experiments already carry `workspace` with a (workspace, name) unique key; runs, traces and
logged models belong to a workspace through their experiment.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# (table, old primary key, new primary key), parents before children.
_KEYS = [
    ("registered_models", "registered_model_pk", ["name"], ["workspace", "name"]),
    ("model_versions", "model_version_pk", ["name", "version"], ["workspace", "name", "version"]),
    ("registered_model_tags", "registered_model_tag_pk", ["key", "name"], ["workspace", "key", "name"]),
    (
        "model_version_tags",
        "model_version_tag_pk",
        ["key", "name", "version"],
        ["workspace", "key", "name", "version"],
    ),
    (
        "registered_model_aliases",
        "registered_model_alias_pk",
        ["name", "alias"],
        ["workspace", "name", "alias"],
    ),
]
# (table, constraint, old columns, new columns, referred table): referred columns are the same names.
_FOREIGN_KEYS = [
    ("model_versions", "model_versions_name_fkey", ["name"], ["workspace", "name"], "registered_models"),
    (
        "registered_model_tags",
        "registered_model_tags_name_fkey",
        ["name"],
        ["workspace", "name"],
        "registered_models",
    ),
    (
        "model_version_tags",
        "model_version_tags_name_version_fkey",
        ["name", "version"],
        ["workspace", "name", "version"],
        "model_versions",
    ),
    (
        "registered_model_aliases",
        "registered_model_alias_name_fkey",
        ["name"],
        ["workspace", "name"],
        "registered_models",
    ),
]
# (table, old index, new index, new columns)
_INDEXES = [
    (
        "registered_model_tags",
        "index_registered_model_tags_name",
        "index_registered_model_tags_workspace_name",
        ["workspace", "name"],
    ),
    (
        "model_version_tags",
        "index_model_version_tags_name_version",
        "index_model_version_tags_workspace_name_version",
        ["workspace", "name", "version"],
    ),
]


def _workspace_column() -> sa.Column:
    return sa.Column("workspace", sa.String(length=63), nullable=False, server_default=sa.text("'default'"))


def _upgrade_sqlite() -> None:
    # One table copy per table; `migrations.upgrade` turns foreign keys off around it, so copying
    # a parent never cascades into its children.
    fks = {t: (name, new, ref) for t, name, _old, new, ref in _FOREIGN_KEYS}
    indexes = {t: (old, new, cols) for t, old, new, cols in _INDEXES}
    for table, pk_name, _old_pk, new_pk in _KEYS:
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.add_column(_workspace_column())
            if table in indexes:
                batch.drop_index(indexes[table][0])
            if table in fks:
                batch.drop_constraint(fks[table][0], type_="foreignkey")
            batch.drop_constraint(pk_name, type_="primary")
            batch.create_primary_key(pk_name, new_pk)
            if table in fks:
                name, cols, referred = fks[table]
                batch.create_foreign_key(name, referred, cols, cols, onupdate="CASCADE", ondelete="CASCADE")
            if table in indexes:
                _old, new_index, cols = indexes[table]
                batch.create_index(new_index, cols, unique=False)


def _upgrade_in_place() -> None:
    # PostgreSQL: children let go of their parents' keys, every key gains the workspace, then
    # the references come back over (workspace, name[, version]).
    for table, _pk, _old, _new in _KEYS:
        op.add_column(table, _workspace_column())
    for table, name, _old, _new, _ref in _FOREIGN_KEYS:
        op.drop_constraint(name, table, type_="foreignkey")
    for table, old_index, _new, _cols in _INDEXES:
        op.drop_index(old_index, table_name=table)
    for table, pk_name, _old, new_pk in _KEYS:
        op.drop_constraint(pk_name, table, type_="primary")
        op.create_primary_key(pk_name, table, new_pk)
    for table, name, _old, cols, referred in _FOREIGN_KEYS:
        op.create_foreign_key(name, table, referred, cols, cols, onupdate="CASCADE", ondelete="CASCADE")
    for table, _old_index, new_index, cols in _INDEXES:
        op.create_index(new_index, table, cols, unique=False)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _upgrade_sqlite()
    else:
        _upgrade_in_place()


def downgrade() -> None:
    raise NotImplementedError("workspace-scoped registry keys cannot be narrowed back without losing rows")
