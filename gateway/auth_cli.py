"""`flowport auth` (users, groups, tokens, role bindings, resource permissions) and `flowport audit`
(query the audit log), straight on the gateway state database that `--config`'s `auth:` names.

Running gateways see a change within `auth.cache_seconds` (5 s by default). Passwords are read from
a prompt or standard input, never from the command line (where `ps` and shell history keep them);
a new token's secret goes to standard output alone, so `TOKEN=$(flowport auth tokens create bob)`.

`flowport` builds its parser from `add_commands` for every command, so this module imports only
what the parser needs; the state database (SQLAlchemy, Alembic, scrypt) is imported when one of
these commands runs.
"""

from __future__ import annotations

import argparse
import datetime
import getpass
import re
import sys
import time
from typing import TYPE_CHECKING

from flowport.auth.access import Grant, ResourceKind, Role

if TYPE_CHECKING:
    from flowport.auth.store import AuthStore

_DURATION = re.compile(r"(\d+)([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def add_commands(sub: argparse._SubParsersAction) -> None:
    auth = sub.add_parser("auth", help="manage users, groups, tokens, role bindings and resource permissions")
    _state_options(auth)
    kinds = auth.add_subparsers(dest="what", required=True)

    users = kinds.add_parser("users", help="users and service accounts").add_subparsers(
        dest="action", required=True
    )
    create = users.add_parser("create", help="create a user (asks for a password) or a service account")
    create.add_argument("name")
    create.add_argument("--admin", action="store_true", help="a gateway administrator")
    create.add_argument("--service", action="store_true", help="a service account: no password, tokens only")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    users.add_parser("list", help="list users")
    users.add_parser("delete", help="delete a user, its tokens and its grants").add_argument("name")
    admin = users.add_parser("set-admin", help="make a user an administrator, or not")
    admin.add_argument("name")
    admin.add_argument("value", choices=["true", "false"])
    password = users.add_parser("set-password", help="set a user's password (asks for it)")
    password.add_argument("name")
    password.add_argument("--password-stdin", action="store_true")

    groups = kinds.add_parser("groups", help="groups of users").add_subparsers(dest="action", required=True)
    groups.add_parser("create").add_argument("name")
    groups.add_parser("delete").add_argument("name")
    groups.add_parser("list")
    for verb in ("add", "remove"):
        member = groups.add_parser(verb, help=f"{verb} a member")
        member.add_argument("group")
        member.add_argument("user")

    tokens = kinds.add_parser("tokens", help="flowport API tokens").add_subparsers(
        dest="action", required=True
    )
    token = tokens.add_parser("create", help="create a token; prints it once")
    token.add_argument("user")
    token.add_argument("--description", default="")
    token.add_argument("--expires-in", default=None, help="e.g. 90d, 12h (default: never)")
    tokens.add_parser("list").add_argument("user", nargs="?")
    tokens.add_parser("revoke").add_argument("token_id")

    roles = kinds.add_parser("roles", help="workspace role bindings").add_subparsers(
        dest="action", required=True
    )
    bind = roles.add_parser("bind", help="give a user or group a role in a workspace ('*': every one)")
    _principal_options(bind)
    bind.add_argument("--workspace", required=True)
    bind.add_argument("role", choices=[r.name.lower() for r in Role])
    unbind = roles.add_parser("unbind")
    _principal_options(unbind)
    unbind.add_argument("--workspace", required=True)
    roles.add_parser("list").add_argument("--workspace", default=None)

    permissions = kinds.add_parser("permissions", help="permissions on one experiment or registered model")
    verbs = permissions.add_subparsers(dest="action", required=True)
    grant = verbs.add_parser("grant")
    revoke = verbs.add_parser("revoke")
    for parser in (grant, revoke):
        _principal_options(parser)
        parser.add_argument("--workspace", default="default")
        parser.add_argument("kind", choices=[k.value for k in ResourceKind])
        parser.add_argument("id", help="the experiment id or the registered model's name")
    grant.add_argument("permission", choices=[g.value for g in Grant])
    listing = verbs.add_parser("list")
    listing.add_argument("--workspace", default=None)
    listing.add_argument("--kind", choices=[k.value for k in ResourceKind], default=None)
    listing.add_argument("--id", default=None)

    log = sub.add_parser("audit", help="query the audit log (newest first)")
    _state_options(log)
    log.add_argument("--principal")
    log.add_argument("--action", help="an RPC name, e.g. LogBatch")
    log.add_argument("--resource", help="an id or name (12, churn) or kind:id (experiment:12)")
    log.add_argument("--workspace")
    log.add_argument("--outcome", choices=["allowed", "denied", "unauthenticated", "error"])
    log.add_argument("--since", help="ISO time (2026-05-01T10:00) or how long ago (30m, 2h, 7d)")
    log.add_argument("--until", help="ISO time or how long ago")
    log.add_argument("--limit", type=int, default=100)
    log.add_argument("--json", action="store_true", help="one JSON record per line")


def _state_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--config", help="the gateway configuration file (its auth: section names the database)"
    )
    source.add_argument("--database", help="the gateway state database URL")


def _principal_options(parser: argparse.ArgumentParser) -> None:
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user")
    who.add_argument("--group")


def main(args: argparse.Namespace) -> int:
    from flowport.auth.store import AuthStore
    from flowport.gateway.config import ConfigError, default_home, load_config
    from flowport.v1.errors import ApiError

    try:
        if args.config:
            auth = load_config(args.config).auth
            if auth is None:
                raise ConfigError(f"{args.config}: has no 'auth:' section")
            url = auth.database_url(default_home())
        else:
            url = args.database
        store = AuthStore(url)
    except ConfigError as err:
        print(f"flowport: configuration error\n{err}", file=sys.stderr)
        return 2
    try:
        if args.command == "audit":
            return _audit(store, args)
        return _run(store, args)
    except ApiError as err:
        print(f"flowport {args.command}: {err.error_code}: {err.message}", file=sys.stderr)
        return 1
    except ValueError as err:
        print(f"flowport {args.command}: {err}", file=sys.stderr)
        return 2
    finally:
        store.close()


def _run(store: AuthStore, args: argparse.Namespace) -> int:
    from flowport.auth.principal import PrincipalKind

    what, action = args.what, args.action
    if what == "users":
        if action == "create":
            kind = PrincipalKind.SERVICE if args.service else PrincipalKind.USER
            password = None if args.service else _password(args.password_stdin)
            user = store.create_user(args.name, password, kind=kind, is_admin=args.admin)
            print(f"created {user.kind} '{user.name}'" + (" (admin)" if user.is_admin else ""))
        elif action == "list":
            _table(
                ["NAME", "KIND", "ADMIN", "GROUPS"],
                [
                    [u.name, u.kind, "yes" if u.is_admin else "", ",".join(sorted(u.groups))]
                    for u in store.list_users()
                ],
            )
        elif action == "delete":
            store.delete_user(args.name)
            print(f"deleted user '{args.name}'")
        elif action == "set-admin":
            store.set_admin(args.name, args.value == "true")
            print(f"'{args.name}' is {'an' if args.value == 'true' else 'not an'} administrator")
        else:
            store.set_password(args.name, _password(args.password_stdin))
            print(f"password of '{args.name}' changed")
    elif what == "groups":
        if action == "create":
            store.create_group(args.name)
        elif action == "delete":
            store.delete_group(args.name)
        elif action == "add":
            store.add_member(args.group, args.user)
        elif action == "remove":
            store.remove_member(args.group, args.user)
        else:
            _table(["GROUP", "MEMBERS"], [[g, ",".join(m)] for g, m in store.list_groups().items()])
    elif what == "tokens":
        if action == "create":
            expires_at = None
            if args.expires_in:
                expires_at = int((time.time() + _duration(args.expires_in)) * 1000)
            token, secret = store.create_token(args.user, description=args.description, expires_at=expires_at)
            until = f", expires {_time(token.expires_at)}" if token.expires_at else ""
            print(f"token {token.id} for '{token.user}'{until}; it is shown only now:", file=sys.stderr)
            print(secret)
        elif action == "list":
            now = int(time.time() * 1000)
            rows = [
                [t.id, t.user, _token_state(t, now), _time(t.created_at), _time(t.expires_at), t.description]
                for t in store.list_tokens(args.user)
            ]
            _table(["ID", "USER", "STATE", "CREATED", "EXPIRES", "DESCRIPTION"], rows)
        else:
            store.revoke_token(args.token_id)
            print(f"revoked {args.token_id}")
    elif what == "roles":
        kind, name = (
            ("user", args.user) if getattr(args, "user", None) else ("group", getattr(args, "group", None))
        )
        if action == "bind":
            store.bind_role(args.workspace, kind, name, Role.parse(args.role))
        elif action == "unbind":
            store.unbind_role(args.workspace, kind, name)
        else:
            rows = [
                [b.workspace, b.principal_kind, b.principal_name, b.role.name.lower()]
                for b in store.list_bindings(args.workspace)
            ]
            _table(["WORKSPACE", "KIND", "NAME", "ROLE"], rows)
    else:
        if action == "list":
            kind = ResourceKind(args.kind) if args.kind else None
            rows = [
                [p.workspace, p.resource_kind, p.resource_id, p.principal_kind, p.principal_name, p.grant]
                for p in store.list_permissions(args.workspace, kind, args.id)
            ]
            _table(["WORKSPACE", "RESOURCE", "ID", "KIND", "NAME", "PERMISSION"], rows)
            return 0
        kind, name = ("user", args.user) if args.user else ("group", args.group)
        resource = ResourceKind(args.kind)
        if action == "grant":
            store.set_permission(args.workspace, resource, args.id, kind, name, Grant.parse(args.permission))
        else:
            store.delete_permission(args.workspace, resource, args.id, kind, name)
    return 0


def _audit(store: AuthStore, args: argparse.Namespace) -> int:
    from flowport.auth import audit

    query = audit.AuditQuery(
        principal=args.principal,
        action=args.action,
        resource=args.resource,
        workspace=args.workspace,
        outcome=args.outcome,
        since_ms=_instant(args.since),
        until_ms=_instant(args.until),
        limit=args.limit,
    )
    records = audit.search(store.engine, query)
    if args.json:
        for record in records:
            print(record.to_json())
        return 0
    rows = [
        [
            _time(r.event_time),
            r.principal,
            r.workspace,
            r.action,
            r.outcome,
            str(r.status_code),
            ",".join(r.resources),
            r.source_ip,
        ]
        for r in records
    ]
    _table(["TIME", "PRINCIPAL", "WORKSPACE", "ACTION", "OUTCOME", "STATUS", "RESOURCES", "SOURCE"], rows)
    return 0


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise ValueError("no terminal to ask for the password on: pass --password-stdin and pipe it in")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise ValueError("the passwords differ")
    return first


def _duration(text: str) -> int:
    match = _DURATION.fullmatch(text.strip())
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"'{text}' is not a duration (e.g. 30m, 12h, 90d)")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def _instant(text: str | None) -> int | None:
    """An ISO time, or a duration meaning that long ago, as ms since the epoch."""
    if not text:
        return None
    if _DURATION.fullmatch(text.strip()):
        return int((time.time() - _duration(text)) * 1000)
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is neither an ISO time nor a duration (30m, 2h, 7d)") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a time without a zone is local time
    return int(moment.timestamp() * 1000)


def _time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.datetime.fromtimestamp(ms / 1000).astimezone().isoformat(timespec="seconds")


def _token_state(token, now: int) -> str:  # noqa: ANN001
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at is not None and token.expires_at <= now else "active"


def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(v)) for v in column) for column in zip(headers, *rows, strict=False)]
    for row in [headers, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
