"""The `sagemaker` backend: Amazon SageMaker managed MLflow (tracking servers and MLflow Apps).

It is the `mlflow` backend plus what SageMaker adds (clouds.md §1): the data-plane URL and
ARN header from the ARN, SigV4 on every request with this backend's own refreshing credentials
(never the process-global plugin), the server's status and artifact root from the control
plane, and artifacts straight to S3 with the same credentials.
"""

from __future__ import annotations

from typing import Any, ClassVar

from google.protobuf.message import Message

from flowport.adapters.artifact_store import ArtifactStore
from flowport.adapters.artifacts.object_store import MAX_PRESIGN_SECONDS
from flowport.adapters.artifacts.s3 import S3ArtifactStore
from flowport.adapters.backend import (
    PRESIGNED_DOWNLOAD_TTL_SECONDS,
    PRESIGNED_UPLOAD_TTL_SECONDS,
    BackendConfigError,
)
from flowport.adapters.mlflow_rest.artifact_uris import ArtifactUriMap
from flowport.adapters.mlflow_rest.backend import MlflowRestBackend
from flowport.adapters.readiness import Readiness
from flowport.adapters.registry import take_options
from flowport.adapters.resilience import RetryPolicy
from flowport.adapters.sagemaker.arn import MlflowArn
from flowport.adapters.sagemaker.control_plane import (
    MlflowServerDescription,
    describe_server,
    ensure_serving,
)
from flowport.adapters.sagemaker.credentials import AwsCredentials, aws_credentials
from flowport.adapters.sagemaker.sigv4 import SigV4Auth
from flowport.v1.errors import ApiError

# How often a backend whose server is not serving asks the control plane again.
STATUS_RECHECK_SECONDS = 30.0

_CREDENTIAL_OPTIONS = {
    "profile",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "role_arn",
    "role_session_name",
    "external_id",
    "duration_seconds",
}
_OPTIONS = _CREDENTIAL_OPTIONS | {
    "region",
    "endpoint_url",
    "control_plane_endpoint_url",
    "s3_endpoint_url",
    "sts_endpoint_url",
    "artifact_store_uri",
    "retry",
    "status_recheck_seconds",
}
# Whether clients may skip the gateway for artifact bytes, and for how long the URLs they get are valid.
_PRESIGNED_OPTIONS = {"presigned_urls", "presigned_url_ttl_seconds", "presigned_upload_ttl_seconds"}


class SageMakerBackend(MlflowRestBackend):
    kind: ClassVar[str] = "sagemaker"

    def __init__(
        self,
        name: str,
        *,
        arn: str,
        region: str | None = None,
        credentials: dict[str, Any] | None = None,
        endpoint_url: str | None = None,
        control_plane_endpoint_url: str | None = None,
        s3_endpoint_url: str | None = None,
        sts_endpoint_url: str | None = None,
        artifact_store_uri: str | None = None,
        retry: RetryPolicy | None = None,
        status_recheck_seconds: float = STATUS_RECHECK_SECONDS,
        presigned_urls: bool = False,
        presigned_url_ttl_seconds: int = PRESIGNED_DOWNLOAD_TTL_SECONDS,
        presigned_upload_ttl_seconds: int = PRESIGNED_UPLOAD_TTL_SECONDS,
        max_threads: int = 8,
    ) -> None:
        self.arn = MlflowArn.parse(arn)
        # Clients then read and write S3 directly: they need a route to the bucket (and CORS rules,
        # for browsers), and the bucket's policy, not the gateway, is what guards those bytes.
        self.presigned_urls = _flag("presigned_urls", presigned_urls)
        self.presigned_url_ttl_seconds = _seconds("presigned_url_ttl_seconds", presigned_url_ttl_seconds)
        self.presigned_upload_ttl_seconds = _seconds(
            "presigned_upload_ttl_seconds", presigned_upload_ttl_seconds
        )
        self.region = region or self.arn.region
        super().__init__(
            name,
            url=endpoint_url or self.arn.data_plane_url,
            headers={self.arn.arn_header: self.arn.arn},
            retry=retry,
            max_threads=max_threads,
        )
        self._credential_options = dict(credentials or {})
        self._control_plane_url = control_plane_endpoint_url
        self._s3_endpoint_url = s3_endpoint_url
        self._sts_endpoint_url = sts_endpoint_url
        self._artifact_store_uri = artifact_store_uri
        self.aws: AwsCredentials | None = None
        self.description: MlflowServerDescription | None = None
        # Until the server serves, every call fails with the reason; the control plane is asked
        # again every `status_recheck_seconds`.
        self.readiness = Readiness(name, self._become_serving, recheck_seconds=status_recheck_seconds)

    @classmethod
    def from_config(cls, name: str, options: dict[str, Any], *, max_threads: int = 8) -> SageMakerBackend:
        take_options(cls.kind, options, {"arn"}, _OPTIONS | _PRESIGNED_OPTIONS)
        return cls(
            name,
            arn=options["arn"],
            region=options.get("region"),
            credentials={k: v for k, v in options.items() if k in _CREDENTIAL_OPTIONS},
            endpoint_url=options.get("endpoint_url"),
            control_plane_endpoint_url=options.get("control_plane_endpoint_url"),
            s3_endpoint_url=options.get("s3_endpoint_url"),
            sts_endpoint_url=options.get("sts_endpoint_url"),
            artifact_store_uri=options.get("artifact_store_uri"),
            retry=RetryPolicy.from_options(options.get("retry")),
            status_recheck_seconds=float(options.get("status_recheck_seconds", STATUS_RECHECK_SECONDS)),
            **{k: v for k, v in options.items() if k in _PRESIGNED_OPTIONS},
            max_threads=max_threads,
        )

    def describe(self) -> str:
        return f"{self.arn.arn} via {self.url}"

    async def start(self) -> None:
        # A control plane or STS that is briefly unreachable, or a stopped server, must not stop
        # the gateway: the backend answers with the reason until a later check succeeds.
        await self.readiness.start()

    async def _become_serving(self) -> None:
        await self._become_ready()
        ensure_serving(self.description)

    async def _become_ready(self) -> None:
        if self.aws is None:
            # Credentials may need STS (AssumeRole), the description the control plane: both block.
            self.aws = await self.run_blocking(
                lambda: aws_credentials(
                    self.region, sts_endpoint_url=self._sts_endpoint_url, **self._credential_options
                )
            )
            self.transport.set_auth(SigV4Auth(self.aws.credentials, self.arn.signing_service, self.region))
        self.description = await self._describe()
        if not isinstance(self._artifacts, S3ArtifactStore):
            root = self._artifact_store_uri or self.description.artifact_store_uri
            if not root or not root.startswith("s3://"):
                raise ApiError(
                    f"SageMaker {self.arn.arn} reports artifact store '{root}'; only s3:// roots are "
                    "supported (set artifact_store_uri in the backend's configuration to override)",
                    "INVALID_STATE",
                )
            self.uris = ArtifactUriMap(root)
            self._artifacts = S3ArtifactStore(
                root, session=self.aws.session, endpoint_url=self._s3_endpoint_url, region=self.region
            )

    async def _describe(self) -> MlflowServerDescription:
        return await self.run_blocking(
            lambda: describe_server(self.arn, self.aws, endpoint_url=self._control_plane_url)
        )

    @property
    def artifact_store(self) -> ArtifactStore:
        # Artifacts go straight to S3: they need the credentials and the root, not a serving server.
        if not isinstance(self._artifacts, S3ArtifactStore):
            raise self.readiness.reason or ApiError(
                f"Backend '{self.name}' is not ready", "TEMPORARILY_UNAVAILABLE"
            )
        return self._artifacts

    async def invoke(self, rpc: str, request: Message) -> Message:
        await self.readiness.ensure()
        return await super().invoke(rpc, request)


def _flag(name: str, value: object) -> bool:
    # "true"/"false" as text too: a value put in through ${ENV_VAR} arrives as a string.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise BackendConfigError(f"sagemaker backend option {name} must be true or false, got {value!r}")


def _seconds(name: str, value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PRESIGN_SECONDS:
        raise BackendConfigError(
            f"sagemaker backend option {name} must be a whole number of seconds from 1 to "
            f"{MAX_PRESIGN_SECONDS} (S3's limit for presigned URLs), got {value!r}"
        )
    return value
