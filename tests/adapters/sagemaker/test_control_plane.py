"""Describing SageMaker MLflow servers via the control-plane stand-in (which checks SigV4 and shapes)."""

from __future__ import annotations

import json

import botocore.session
import httpx
import pytest
from botocore.credentials import Credentials

from flowport.adapters.sagemaker.arn import MlflowArn
from flowport.adapters.sagemaker.control_plane import (
    MlflowServerDescription,
    describe_server,
    ensure_serving,
    is_serving,
)
from flowport.adapters.sagemaker.credentials import aws_credentials
from flowport.adapters.sagemaker.sigv4 import SigV4Auth
from flowport.v1.errors import ApiError
from tests.fixtures.upstream_proxy import (
    CONTROL_PLANE,
    REJECTED,
    Respond,
    SageMakerControlPlane,
    UpstreamProxy,
)

REGION = "eu-west-1"
ACCOUNT = "123456789012"
KEY = Credentials("AKIDCONTROLPLANE0001", "control-plane-secret")


@pytest.fixture(scope="module")
def plane():
    return SageMakerControlPlane(REGION, {KEY.access_key: (KEY.secret_key, None)}.get, account=ACCOUNT)


@pytest.fixture(scope="module")
def proxy(plane):
    with UpstreamProxy(None, control_plane=plane) as p:
        yield p


@pytest.fixture(scope="module")
def aws():
    return aws_credentials(REGION, access_key_id=KEY.access_key, secret_access_key=KEY.secret_key)


def describe(arn: str, aws, proxy) -> MlflowServerDescription:
    return describe_server(MlflowArn.parse(arn), aws, endpoint_url=proxy.url)


def test_describe_tracking_server(plane, proxy, aws):
    arn = plane.add_tracking_server(
        "ts-running", status="Started", artifact_store_uri="s3://team-bucket/mlflow", mlflow_version="2.16"
    )
    d = describe(arn, aws, proxy)
    assert (d.status, d.artifact_store_uri, d.mlflow_version, d.is_active) == (
        "Started",
        "s3://team-bucket/mlflow",
        "2.16",
        "Active",
    )
    assert d.tracking_server_url and d.tracking_server_url.startswith("https://")
    assert d.arn == MlflowArn.parse(arn)
    ensure_serving(d)

    record = proxy.records[-1]
    assert record.outcome == CONTROL_PLANE and record.upstream_status == 200
    assert record.headers["x-amz-target"] == "SageMaker.DescribeMlflowTrackingServer"
    assert record.json() == {"TrackingServerName": "ts-running"}
    assert f"/{REGION}/sagemaker/aws4_request" in record.headers["authorization"]


def test_describe_app(plane, proxy, aws):
    arn = plane.add_app("app-0123abcd", artifact_store_uri="s3://apps/one", mlflow_version="3.4")
    d = describe(arn, aws, proxy)
    assert (d.status, d.artifact_store_uri, d.mlflow_version, d.tracking_server_url) == (
        "Created",
        "s3://apps/one",
        "3.4",
        None,
    )
    ensure_serving(d)
    assert proxy.records[-1].json() == {"Arn": arn}


def test_stopped_server_is_a_clear_error(plane, proxy, aws):
    arn = plane.add_tracking_server("ts-stopping", status="Started")
    ensure_serving(describe(arn, aws, proxy))

    plane.set_status(arn, "Stopped", IsActive="Inactive")
    with pytest.raises(ApiError) as e:
        ensure_serving(describe(arn, aws, proxy))
    assert e.value.error_code == "TEMPORARILY_UNAVAILABLE" and e.value.http_status == 503
    assert "ts-stopping" in e.value.message and "Stopped" in e.value.message
    assert "start-mlflow-tracking-server --tracking-server-name ts-stopping" in e.value.message

    plane.set_status(arn, "Started", IsActive="Active")
    ensure_serving(describe(arn, aws, proxy))


def test_app_being_deleted(plane, proxy, aws):
    arn = plane.add_app("app-going", status="Deleting")
    with pytest.raises(ApiError) as e:
        ensure_serving(describe(arn, aws, proxy))
    assert e.value.error_code == "TEMPORARILY_UNAVAILABLE"
    assert "Deleting" in e.value.message and "another server" in e.value.message


def test_unknown_tracking_server(proxy, aws):
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-tracking-server/nobody-made-me"
    with pytest.raises(ApiError) as e:
        describe(arn, aws, proxy)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert arn in e.value.message
    assert proxy.records[-1].upstream_status == 400


def test_unknown_app(proxy, aws):
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-app/app-nope"
    with pytest.raises(ApiError) as e:
        describe(arn, aws, proxy)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST" and arn in e.value.message


def test_server_of_another_account_is_not_taken_for_ours(plane, proxy, aws):
    plane.add_tracking_server("same-name")
    arn = f"arn:aws:sagemaker:{REGION}:999999999999:mlflow-tracking-server/same-name"
    with pytest.raises(ApiError) as e:
        describe(arn, aws, proxy)
    assert e.value.error_code == "PERMISSION_DENIED"
    assert "999999999999" in e.value.message


def test_unknown_credentials_are_permission_denied(plane, proxy):
    arn = plane.add_tracking_server("ts-creds")
    stranger = aws_credentials(REGION, access_key_id="AKIDSTRANGER", secret_access_key="whatever")
    with pytest.raises(ApiError) as e:
        describe(arn, stranger, proxy)
    assert e.value.error_code == "PERMISSION_DENIED"
    assert proxy.records[-1].outcome == REJECTED
    assert "unknown access key" in proxy.records[-1].rejection


def test_access_denied(plane, proxy, aws):
    arn = plane.add_tracking_server("ts-denied")
    body = {
        "__type": "AccessDeniedException",
        "Message": "not authorized to perform DescribeMlflowTrackingServer",
    }
    proxy.inject("POST", "^/$", Respond(400, body, {"Content-Type": "application/x-amz-json-1.1"}))
    with pytest.raises(ApiError) as e:
        describe(arn, aws, proxy)
    assert e.value.error_code == "PERMISSION_DENIED"
    assert "sagemaker:DescribeMlflowTrackingServer" in e.value.message


def test_unreachable_control_plane(plane, proxy, aws):
    arn = plane.add_tracking_server("ts-unreachable")
    proxy.set_dead(how="reset")
    try:
        with pytest.raises(ApiError) as e:
            describe(arn, aws, proxy)
    finally:
        proxy.set_dead(False)
    assert e.value.error_code == "TEMPORARILY_UNAVAILABLE"
    assert arn in e.value.message


# ---------------------------------------------------------------------------------------------
# The stand-in checks what AWS would check


def raw_call(proxy, target: str, body: dict, service: str = "sagemaker") -> httpx.Response:
    headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
    with httpx.Client(auth=SigV4Auth(KEY, service, REGION)) as client:
        return client.post(proxy.url + "/", content=json.dumps(body).encode(), headers=headers)


def test_signed_for_the_wrong_service_is_rejected(plane, proxy):
    plane.add_tracking_server("ts-service")
    r = raw_call(
        proxy,
        "SageMaker.DescribeMlflowTrackingServer",
        {"TrackingServerName": "ts-service"},
        "sagemaker-mlflow",
    )
    assert r.status_code == 403
    assert r.json()["__type"] == "InvalidSignatureException"
    assert "scoped to service sagemaker-mlflow" in proxy.records[-1].rejection
    # The same call signed for `sagemaker` is answered.
    ok = raw_call(proxy, "SageMaker.DescribeMlflowTrackingServer", {"TrackingServerName": "ts-service"})
    assert ok.status_code == 200 and ok.json()["TrackingServerName"] == "ts-service"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"TrackingServerName": "bad_name!"},
        {"TrackingServerName": "ok", "Extra": 1},
        {"TrackingServerName": 7},
    ],
)
def test_input_is_checked_against_the_service_model(proxy, body):
    r = raw_call(proxy, "SageMaker.DescribeMlflowTrackingServer", body)
    assert r.status_code == 400
    assert r.json()["__type"] == "ValidationException"


def test_other_operations_are_not_answered(proxy):
    r = raw_call(proxy, "SageMaker.DeleteMlflowTrackingServer", {"TrackingServerName": "x"})
    assert r.status_code == 400 and r.json()["__type"] == "UnknownOperationException"


def test_configured_descriptions_must_fit_the_output_shape(plane):
    with pytest.raises(ValueError, match="enum"):
        plane.add_tracking_server("ts-bogus", status="Running")
    plane.add_tracking_server("ts-valid")
    with pytest.raises(ValueError):
        plane.set_status("ts-valid", "Stopped", IsActive=True)


# ---------------------------------------------------------------------------------------------
# Which statuses serve


TRACKING_SERVER = MlflowArn.parse(f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-tracking-server/s")
APP = MlflowArn.parse(f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-app/app-1")
# Every status botocore knows, decided: a status AWS adds later fails here until someone decides.
TRACKING_SERVER_STATUSES = {
    "Created": True,
    "Updated": True,
    "Started": True,
    "MaintenanceComplete": True,
    "UpdateFailed": "if active",
    "StopFailed": "if active",
    "MaintenanceFailed": "if active",
    "Creating": False,
    "CreateFailed": False,
    "Updating": False,
    "Deleting": False,
    "DeleteFailed": False,
    "Stopping": False,
    "Stopped": False,
    "Starting": False,
    "StartFailed": False,
    "MaintenanceInProgress": False,
}
APP_STATUSES = {
    "Created": True,
    "Updated": True,
    "UpdateFailed": True,
    "Creating": False,
    "CreateFailed": False,
    "Updating": False,
    "Deleting": False,
    "DeleteFailed": False,
    "Deleted": False,
}


def test_every_botocore_status_is_decided():
    model = botocore.session.get_session().get_service_model("sagemaker")
    assert set(model.shape_for("TrackingServerStatus").enum) == set(TRACKING_SERVER_STATUSES)
    assert set(model.shape_for("MlflowAppStatus").enum) == set(APP_STATUSES)


@pytest.mark.parametrize(("status", "serves"), TRACKING_SERVER_STATUSES.items())
def test_tracking_server_statuses(status, serves):
    for active in ("Active", "Inactive"):
        d = MlflowServerDescription(TRACKING_SERVER, status, None, None, is_active=active)
        expected = serves if serves != "if active" else active == "Active"
        assert is_serving(d) is expected
        if not expected:
            with pytest.raises(ApiError) as e:
                ensure_serving(d)
            assert e.value.error_code == "TEMPORARILY_UNAVAILABLE" and status in e.value.message


@pytest.mark.parametrize(("status", "serves"), APP_STATUSES.items())
def test_app_statuses(status, serves):
    assert is_serving(MlflowServerDescription(APP, status, None, None)) is serves


def test_a_status_from_the_future_does_not_lock_users_out():
    assert is_serving(MlflowServerDescription(TRACKING_SERVER, "Hibernating", None, None))
