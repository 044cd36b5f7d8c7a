"""The `flowport` command and auth: building its parser (every command, `--help` included) does not
import the state database, and `flowport workspaces --url` signs in to a gateway with auth on."""

from __future__ import annotations

import subprocess
import sys

_HEAVY = ("flowport.auth.store", "flowport.auth.audit", "flowport.auth.passwords", "sqlalchemy", "alembic")


def test_the_parser_names_auth_and_audit_without_importing_the_state_database():
    probe = (
        "import sys, contextlib, io\n"
        "from flowport.gateway import cli\n"
        "parser = cli._parser()\n"
        "for argv, expected in ((['auth', 'users', 'create', '--help'], '--password-stdin'),\n"
        "                       (['audit', '--help'], '--principal')):\n"
        "    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
        "        parser.parse_args(argv)\n"
        "    print('HELP', expected in out.getvalue())\n"
        f"print('LOADED', [m for m in {_HEAVY!r} if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("HELP True") == 2
    assert "LOADED []" in result.stdout
