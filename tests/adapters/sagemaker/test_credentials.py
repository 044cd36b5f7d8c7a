"""Backend credentials: explicit keys, profiles, and an assumed role through moto's STS.

The data-plane proxy's verifier knows only the secrets moto's STS handed out, so a request it
accepts was signed with the assumed role's key, not with the source credentials.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from flowport.adapters.sagemaker.arn import MlflowArn
from flowport.adapters.sagemaker.credentials import AwsCredentials, aws_credentials
from flowport.adapters.sagemaker.sigv4 import SigV4Auth
from flowport.v1.errors import ApiError
from tests.fixtures.moto import REGION
from tests.fixtures.upstream_proxy import Respond, SigV4Verifier, UpstreamProxy

ROLE = "arn:aws:iam::123456789012:role/flowport-sagemaker"
ARN = MlflowArn.parse(f"arn:aws:sagemaker:{REGION}:123456789012:mlflow-tracking-server/flowport-test")


@pytest.fixture(scope="module")
def sts(moto):
    """moto's STS behind a recording proxy: counts AssumeRole calls and shows what they asked for."""
    with UpstreamProxy(moto.endpoint_url) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def data_plane(mlflow_upstream, moto):
    verifier = SigV4Verifier(
        ARN.signing_service,
        REGION,
        moto.assumed_role_secret,
        required_signed_headers=("host", "x-amz-date", "x-amz-content-sha256", ARN.arn_header),
    )
    with UpstreamProxy(mlflow_upstream, check=verifier) as proxy:
        yield proxy


@pytest.fixture(autouse=True)
def no_ambient_aws(monkeypatch, tmp_path):
    """Nothing from this machine's environment or ~/.aws may leak into the credentials under test."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def assume(moto, sts, **kwargs) -> AwsCredentials:
    return aws_credentials(
        REGION,
        access_key_id=moto.access_key,
        secret_access_key=moto.secret_key,
        role_arn=ROLE,
        sts_endpoint_url=sts.url,
        **kwargs,
    )


def assume_role_calls(sts) -> list:
    return [r for r in sts.records if b"Action=AssumeRole" in r.body]


def create_experiment(data_plane, aws: AwsCredentials) -> httpx.Response:
    with httpx.Client(
        base_url=data_plane.url,
        auth=SigV4Auth(aws.credentials, ARN.signing_service, REGION),
        headers={ARN.arn_header: ARN.arn},
        timeout=60,
    ) as client:
        return client.post("/api/2.0/mlflow/experiments/create", json={"name": f"role-{uuid.uuid4().hex}"})


def signing_key(record) -> str:
    return record.headers["authorization"].split("Credential=")[1].split("/")[0]


# ---------------------------------------------------------------------------------------------
# Source credentials


def test_explicit_keys():
    aws = aws_credentials(
        REGION, access_key_id="AKIDEXPLICIT", secret_access_key="s3cret", session_token="tok"
    )
    frozen = aws.credentials.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == ("AKIDEXPLICIT", "s3cret", "tok")
    assert aws.session.get_credentials() is aws.credentials
    assert aws.session.region_name == REGION


def test_named_profile(tmp_path):
    (tmp_path / "credentials").write_text(
        "[team-a]\naws_access_key_id = AKIDTEAMA\naws_secret_access_key = team-a-secret\n"
        "[team-b]\naws_access_key_id = AKIDTEAMB\naws_secret_access_key = team-b-secret\n"
    )
    a = aws_credentials(REGION, profile="team-a")
    b = aws_credentials(REGION, profile="team-b")
    # Per backend: two profiles side by side, neither leaking into the other.
    assert a.credentials.get_frozen_credentials().access_key == "AKIDTEAMA"
    assert b.credentials.get_frozen_credentials().access_key == "AKIDTEAMB"
    assert b.session.get_credentials().access_key == "AKIDTEAMB"


def test_default_chain_reads_the_environment(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    assert aws_credentials(REGION).credentials.get_frozen_credentials().access_key == "AKIDFROMENV"


def test_no_credentials_anywhere():
    with pytest.raises(ApiError) as e:
        aws_credentials(REGION)
    assert e.value.error_code == "INVALID_STATE"
    assert "No AWS credentials" in e.value.message


def test_unknown_profile():
    with pytest.raises(ApiError) as e:
        aws_credentials(REGION, profile="does-not-exist")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "does-not-exist" in e.value.message


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"access_key_id": "AKID"}, "together"),
        ({"secret_access_key": "x"}, "together"),
        ({"access_key_id": "AKID", "secret_access_key": "x", "profile": "p"}, "not both"),
        ({"session_token": "t"}, "session token"),
        ({"external_id": "e"}, "role ARN"),
        (
            {"role_arn": ROLE, "duration_seconds": 60, "access_key_id": "A", "secret_access_key": "s"},
            "between",
        ),
        (
            {"role_arn": ROLE, "role_session_name": "", "access_key_id": "A", "secret_access_key": "s"},
            "session",
        ),
    ],
)
def test_inconsistent_settings(kwargs, says):
    with pytest.raises(ApiError) as e:
        aws_credentials(REGION, **kwargs)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert says in e.value.message


# ---------------------------------------------------------------------------------------------
# AssumeRole


def test_assumed_role_signs_the_data_plane(moto, sts, data_plane):
    sts.clear_records()
    aws = assume(moto, sts, external_id="ext-42", duration_seconds=3600)
    assert assume_role_calls(sts) == []  # deferred: nothing is fetched until first use

    r = create_experiment(data_plane, aws)
    assert r.status_code == 200, r.text

    [call] = assume_role_calls(sts)
    body = call.body.decode()
    assert f"RoleArn={ROLE.replace(':', '%3A').replace('/', '%2F')}" in body
    assert (
        "RoleSessionName=flowport" in body and "ExternalId=ext-42" in body and "DurationSeconds=3600" in body
    )
    # STS was called with the source credentials.
    assert signing_key(call) == moto.access_key

    key = signing_key(data_plane.records[-1])
    assert key == aws.credentials.get_frozen_credentials().access_key != moto.access_key
    assert moto.assumed_role_secret(key) is not None
    assert data_plane.records[-1].headers["x-amz-security-token"] == moto.assumed_role_secret(key)[1]


def test_source_credentials_are_refused_where_the_role_is_accepted(moto, data_plane):
    source = aws_credentials(REGION, access_key_id=moto.access_key, secret_access_key=moto.secret_key)
    r = create_experiment(data_plane, source)
    assert r.status_code == 403
    assert "unknown access key" in data_plane.records[-1].rejection


def test_session_name_is_configurable(moto, sts, data_plane):
    sts.clear_records()
    aws = assume(moto, sts, role_session_name="workspace-team-a")
    assert create_experiment(data_plane, aws).status_code == 200
    [call] = assume_role_calls(sts)
    assert "RoleSessionName=workspace-team-a" in call.body.decode()
    assert "ExternalId" not in call.body.decode()


def test_s3_clients_of_the_session_sign_with_the_role(moto, sts):
    aws = assume(moto, sts)
    verifier = SigV4Verifier("s3", REGION, moto.assumed_role_secret)
    with UpstreamProxy(moto.endpoint_url, check=verifier) as s3_proxy:
        s3 = aws.client("s3", endpoint_url=s3_proxy.url)
        bucket = f"flowport-role-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket=bucket, Key="a b/c.txt", Body=b"hello")
        assert s3.get_object(Bucket=bucket, Key="a b/c.txt")["Body"].read() == b"hello"
        records = s3_proxy.records
    assert records and all(r.rejection is None and r.reached_upstream for r in records)
    assert {signing_key(r) for r in records} == {aws.credentials.get_frozen_credentials().access_key}


def test_no_refresh_far_from_expiry(moto, sts, data_plane):
    sts.clear_records()
    aws = assume(moto, sts, duration_seconds=3600)
    for _ in range(3):
        assert create_experiment(data_plane, aws).status_code == 200
    assert len(assume_role_calls(sts)) == 1
    assert len({signing_key(r) for r in data_plane.records[-3:]}) == 1


def test_refresh_when_expiry_nears(moto, sts, data_plane):
    """15-minute credentials are inside botocore's refresh window at once: every use renews them."""
    sts.clear_records()
    aws = assume(moto, sts, duration_seconds=900)
    assert create_experiment(data_plane, aws).status_code == 200
    first = signing_key(data_plane.records[-1])
    assert aws.credentials.refresh_needed()

    assert create_experiment(data_plane, aws).status_code == 200
    second = signing_key(data_plane.records[-1])
    assert len(assume_role_calls(sts)) == 2
    assert first != second
    assert moto.assumed_role_secret(first) is not None and moto.assumed_role_secret(second) is not None


def test_failed_assume_role_is_an_mlflow_error(moto, sts):
    aws = assume(moto, sts)
    denied = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
        f"<Message>not allowed to assume {ROLE}</Message></Error><RequestId>1</RequestId></ErrorResponse>"
    )
    sts.inject("POST", "^/$", Respond(403, denied, {"Content-Type": "text/xml"}))
    request = httpx.Request("GET", "http://127.0.0.1:1/api/2.0/mlflow/experiments/search")
    with pytest.raises(ApiError) as e:
        next(SigV4Auth(aws.credentials, ARN.signing_service, REGION).sync_auth_flow(request))
    assert e.value.error_code == "PERMISSION_DENIED"
    assert "AccessDenied" in e.value.message
    assert sts.pending_faults() == 0
