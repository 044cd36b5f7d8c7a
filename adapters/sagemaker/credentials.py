"""The AWS credentials one SageMaker backend signs with, and a boto3 session that uses exactly them.

Per backend, never process-global: each call builds its own boto3/botocore sessions, so two
workspaces may use two accounts or roles side by side. An assumed role refreshes itself before it
expires (botocore's refreshable credentials). Building them reads profiles and may query the
instance metadata service, so call this from a thread, not the event loop; it must not call STS
itself (the first AssumeRole happens on first use).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from typing import Any

import boto3
import botocore.session
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    Credentials,
    DeferredRefreshableCredentials,
)
from botocore.exceptions import BotoCoreError, ProfileNotFound

from flowport.v1.errors import ApiError, invalid_parameter

DEFAULT_ROLE_SESSION_NAME = "flowport"
# STS limits for AssumeRole's DurationSeconds (the upper bound is the role's own maximum, ≤ 12 h).
MIN_DURATION_SECONDS = 900
MAX_DURATION_SECONDS = 43200


@dataclasses.dataclass(frozen=True)
class AwsCredentials:
    """What a SageMaker backend needs from AWS: credentials to sign with and a session for clients."""

    credentials: Credentials
    session: boto3.Session
    region: str
    # boto3 sessions are not thread-safe while they build clients (their lazy components race).
    _client_lock: threading.Lock = dataclasses.field(
        default_factory=threading.Lock, repr=False, compare=False
    )

    def client(self, service_name: str, **kwargs: Any) -> Any:
        """A boto3 client of this session (region defaults to the backend's); safe from any thread."""
        kwargs.setdefault("region_name", self.region)
        with self._client_lock:
            return self.session.client(service_name, **kwargs)


class _FixedCredentialProvider(CredentialProvider):
    """Hands a botocore session the one credentials object it must use, and nothing else."""

    METHOD = "flowport-backend"
    CANONICAL_NAME = "flowport-backend"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


def aws_credentials(
    region: str,
    *,
    profile: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    role_arn: str | None = None,
    role_session_name: str = DEFAULT_ROLE_SESSION_NAME,
    external_id: str | None = None,
    duration_seconds: int | None = None,
    sts_endpoint_url: str | None = None,
) -> AwsCredentials:
    """Resolve a backend's AWS credentials (blocking).

    Source credentials are explicit keys, else the named `profile`, else boto3's default chain
    (environment, shared files, SSO, container or instance role). With `role_arn` they are only
    used to call AssumeRole, and the result is the role's credentials, refreshed by botocore
    before they expire. `sts_endpoint_url` points STS elsewhere (tests: moto).
    """
    if (access_key_id is None) != (secret_access_key is None):
        raise invalid_parameter("AWS access key id and secret access key must be given together.")
    if access_key_id is not None and profile is not None:
        raise invalid_parameter("Give either an AWS profile or explicit access keys, not both.")
    if session_token is not None and access_key_id is None:
        raise invalid_parameter("An AWS session token needs an access key id and secret access key.")
    if role_arn is None and (external_id is not None or duration_seconds is not None):
        raise invalid_parameter("An external id or a session duration needs a role ARN to assume.")
    if duration_seconds is not None and not MIN_DURATION_SECONDS <= duration_seconds <= MAX_DURATION_SECONDS:
        raise invalid_parameter(
            f"AssumeRole duration must be between {MIN_DURATION_SECONDS} and {MAX_DURATION_SECONDS} "
            f"seconds, got {duration_seconds}."
        )
    if not role_session_name:
        raise invalid_parameter("The AssumeRole session name must not be empty.")

    try:
        source = boto3.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            profile_name=profile,
            region_name=region,
        )
        source_credentials = source.get_credentials()
    except ProfileNotFound as e:
        raise invalid_parameter(f"AWS profile '{profile}' does not exist: {e}") from e
    except BotoCoreError as e:
        raise ApiError(f"Could not load AWS credentials: {e}", "INVALID_STATE") from e
    if source_credentials is None:
        where = (
            f"profile '{profile}'" if profile else "the default chain (environment, ~/.aws, instance role)"
        )
        raise ApiError(f"No AWS credentials found in {where} for the SageMaker backend.", "INVALID_STATE")
    if role_arn is None:
        # The session caches this very object, so its clients sign with what the caller signs with.
        return AwsCredentials(source_credentials, source, region)

    extra_args: dict[str, Any] = {"RoleSessionName": role_session_name}
    if external_id is not None:
        extra_args["ExternalId"] = external_id
    if duration_seconds is not None:
        extra_args["DurationSeconds"] = duration_seconds
    fetcher = AssumeRoleCredentialFetcher(
        # The STS client is built from the source session per refresh, with the source credentials
        # frozen at that moment (they may be refreshable themselves).
        client_creator=functools.partial(source.client, region_name=region, endpoint_url=sts_endpoint_url),
        source_credentials=source_credentials,
        role_arn=role_arn,
        extra_args=extra_args,
    )
    # Deferred: the first AssumeRole happens on first use, in whatever thread signs first.
    credentials = DeferredRefreshableCredentials(
        refresh_using=fetcher.fetch_credentials, method="assume-role"
    )

    core = botocore.session.Session(profile=profile)
    core.register_component(
        "credential_provider", CredentialResolver([_FixedCredentialProvider(credentials)])
    )
    return AwsCredentials(credentials, boto3.Session(botocore_session=core, region_name=region), region)
