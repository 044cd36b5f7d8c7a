"""Which credentials a flowport client sends, by the stock mlflow client's rules: arguments first,
else MLFLOW_TRACKING_USERNAME with MLFLOW_TRACKING_PASSWORD (basic), else MLFLOW_TRACKING_TOKEN
(bearer). Used by the SDK and by `flowport workspaces --url`; it imports nothing of flowport's.
"""

from __future__ import annotations

import base64
import os

# The stock mlflow client's variables: a script already set up for it signs in to flowport unchanged.
TOKEN_ENV = "MLFLOW_TRACKING_TOKEN"
USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"
PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"


def authorization(
    token: str | None = None, username: str | None = None, password: str | None = None
) -> str | None:
    """The `authorization` value to send (`Bearer …` or `Basic …`), or None for no credentials.

    Any argument given: the arguments alone (a token, or a user name with a password; never both).
    None given: the environment, where a user name with a password wins over a token, as in the
    mlflow client (a user name without a password is ignored there, as it is by mlflow)."""
    if token is None and username is None and password is None:
        token = os.environ.get(TOKEN_ENV) or None
        username = os.environ.get(USERNAME_ENV) or None
        password = os.environ.get(PASSWORD_ENV) or None
        if not (username and password):
            username = password = None
    elif token is not None and (username is not None or password is not None):
        raise ValueError("pass a token, or a user name with a password, not both")
    if username is not None or password is not None:
        if not (username and password):
            raise ValueError("a user name and a password go together (neither may be empty)")
        return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    if token is not None:
        if not token:
            raise ValueError("the token is empty")
        return f"Bearer {token}"
    return None
