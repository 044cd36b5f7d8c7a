"""The gateway state database: users, groups, tokens, bindings, permissions and what they add up to,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from flowport.auth import schema
from flowport.auth.access import Grant, Level, ResourceKind, Role
from flowport.auth.database import VERSION_TABLE
from flowport.auth.principal import PrincipalKind
from flowport.auth.store import AuthStore
from flowport.v1.errors import ApiError
from tests.fixtures.processes import fresh_postgres_database

EXP, MODEL = ResourceKind.EXPERIMENT, ResourceKind.REGISTERED_MODEL


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = AuthStore(f"sqlite:///{tmp_path / 'gateway.db'}")
        yield s
        s.close()
    else:
        with fresh_postgres_database() as url:
            s = AuthStore(url)
            yield s
            s.close()


def test_the_migrations_build_exactly_the_declared_schema(store):
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, schema.metadata) == []


def test_the_schema_shares_a_database_with_alembic_managed_tables(tmp_path):
    """Its own version table: the local backend's `alembic_version` is not touched."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('0003')")
    AuthStore(url).close()
    AuthStore(url).close()  # a second start migrates nothing
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0003"
        assert conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar() == "0001"


def test_users_passwords_and_admins(store):
    alice = store.create_user("alice", "s3cret-pw")
    bot = store.create_user("ci-bot", kind=PrincipalKind.SERVICE)
    assert (alice.id, bot.id) == (1, 2)
    assert store.check_password("alice", "s3cret-pw").name == "alice"
    assert store.check_password("alice", "wrong") is None
    assert store.check_password("nobody", "s3cret-pw") is None
    assert store.check_password("ci-bot", "") is None  # a service account has no password to match
    with pytest.raises(ApiError) as err:
        store.create_user("alice", "again")
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"
    for bad in ("", "has space", "a:b"):
        with pytest.raises(ApiError) as err:
            store.create_user(bad, "pw")
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(ApiError):
        store.create_user("no-password")
    store.set_password("alice", "new-pw")
    assert store.check_password("alice", "s3cret-pw") is None
    assert store.check_password("alice", "new-pw") is not None
    store.set_admin("alice", True)
    assert store.get_user("alice").is_admin
    with pytest.raises(ApiError) as err:
        store.set_password("ci-bot", "pw")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    # The stored hash is scrypt, salted: never the password.
    with store.engine.connect() as conn:
        stored = conn.execute(
            sa.select(schema.users.c.password_hash).where(schema.users.c.name == "alice")
        ).scalar()
    assert stored.startswith("scrypt:") and "new-pw" not in stored


def test_tokens_are_stored_as_digests_expire_and_revoke(store):
    store.create_user("alice", "pw")
    token, secret = store.create_token("alice", description="laptop")
    assert secret.startswith("fpt_") and len(secret) > 40
    found, user = store.token_user(secret)
    assert (found.id, user.name) == (token.id, "alice")
    assert store.token_user(secret + "x") is None
    with store.engine.connect() as conn:
        assert secret not in str(conn.execute(sa.select(schema.tokens)).all())
    # Validity is a function of the instant asked about: no dependence on how long the calls take.
    expires_at = int(time.time() * 1000) + 60_000
    short, _ = store.create_token("alice", expires_at=expires_at)
    assert short.valid_at(expires_at - 1)
    assert not short.valid_at(expires_at)
    revoked = store.revoke_token(token.id)
    assert revoked.revoked_at is not None and not revoked.valid_at(int(time.time() * 1000))
    with pytest.raises(ApiError):
        store.revoke_token(token.id)
    with pytest.raises(ApiError) as err:
        store.revoke_token("tok_missing")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert [t.id for t in store.list_tokens("alice")] == [token.id, short.id]
    store.delete_user("alice")
    assert store.token_user(secret) is None and store.list_tokens() == []


def test_access_folds_roles_groups_grants_and_deny(store):
    store.create_user("alice", "pw")
    store.create_group("ds")
    store.add_member("ds", "alice")
    assert store.get_user("alice").groups == {"ds"}
    store.bind_role("team-a", "group", "ds", Role.VIEWER)
    store.bind_role("*", "user", "alice", Role.VIEWER)
    store.bind_role("team-a", "user", "alice", Role.EDITOR)  # the highest role wins
    store.set_permission("team-a", EXP, "7", "user", "alice", Grant.MANAGE)
    store.set_permission("team-a", EXP, "8", "group", "ds", Grant.DENY)
    store.set_permission("team-a", MODEL, "m", "group", "ds", Grant.READ)

    access = store.access("team-a", "alice", {"ds"}, admin=False, default_role=None)
    assert access.role is Role.EDITOR
    assert access.level_on(EXP, "7") is Level.MANAGE
    assert access.level_on(EXP, "8") is Level.NONE  # DENY beats the editor role
    assert access.level_on(EXP, "9") is Level.EDIT
    assert access.level_on(MODEL, "m") is Level.EDIT
    assert not access.holds_everywhere(Level.READ)  # a denial means checking each resource
    other = store.access("team-b", "alice", {"ds"}, admin=False, default_role=None)
    assert other.role is Role.VIEWER and other.holds_everywhere(Level.READ)
    stranger = store.access("team-a", "bob", (), admin=False, default_role=None)
    assert not stranger.member and stranger.level_on(EXP, "9") is Level.NONE
    assert store.access("team-a", "bob", (), admin=False, default_role=Role.VIEWER).member
    assert store.access("team-a", "bob", (), admin=True, default_role=None).level_on(EXP, "8") is Level.MANAGE

    store.rename_resource("team-a", MODEL, "m", "m2")
    assert store.get_permission("team-a", MODEL, "m2", "group", "ds") is Grant.READ
    store.forget_resource("team-a", MODEL, "m2")
    assert store.get_permission("team-a", MODEL, "m2", "group", "ds") is None
    store.delete_group("ds")
    assert store.access("team-a", "alice", {"ds"}, admin=False, default_role=None).denied == frozenset()
    store.unbind_role("team-a", "user", "alice")
    assert [(b.workspace, b.principal_name) for b in store.list_bindings()] == [("*", "alice")]
    with pytest.raises(ApiError):
        store.unbind_role("team-a", "user", "alice")
    with pytest.raises(ApiError) as err:
        store.bind_role("team-a", "robot", "x", Role.VIEWER)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
