"""MlflowArn: the two resource kinds, partitions, and bad input rejected with a useful message."""

from __future__ import annotations

import pytest

from flowport.adapters.sagemaker.arn import MlflowArn
from flowport.v1.errors import ApiError

SERVER = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/my-server"
APP = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/app-ABC123def"


def test_tracking_server():
    arn = MlflowArn.parse(SERVER)
    assert (arn.partition, arn.region, arn.account, arn.resource_type, arn.name) == (
        "aws",
        "eu-west-1",
        "123456789012",
        "mlflow-tracking-server",
        "my-server",
    )
    assert arn.arn == SERVER and str(arn) == SERVER
    assert arn.data_plane_url == "https://eu-west-1.experiments.sagemaker.aws"
    assert arn.arn_header == "x-mlflow-sm-tracking-server-arn"
    assert arn.signing_service == "sagemaker-mlflow"
    assert not arn.is_app


def test_app():
    arn = MlflowArn.parse(APP)
    assert (arn.region, arn.resource_type, arn.name) == ("us-east-1", "mlflow-app", "app-ABC123def")
    assert arn.data_plane_url == "https://mlflow.sagemaker.us-east-1.app.aws"
    assert arn.arn_header == "x-sm-mlflow-app-arn"
    assert arn.signing_service == "sagemaker"
    assert arn.is_app


def test_govcloud_uses_the_aws_suffix():
    arn = MlflowArn.parse("arn:aws-us-gov:sagemaker:us-gov-west-1:123456789012:mlflow-tracking-server/s")
    assert arn.partition == "aws-us-gov"
    assert arn.data_plane_url == "https://us-gov-west-1.experiments.sagemaker.aws"


def test_china_partition_parses_but_has_no_endpoint():
    arn = MlflowArn.parse("arn:aws-cn:sagemaker:cn-north-1:123456789012:mlflow-tracking-server/s")
    assert arn.partition == "aws-cn"
    with pytest.raises(ApiError) as e:
        _ = arn.data_plane_url
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "aws-cn" in e.value.message and "aws-us-gov" in e.value.message


def test_surrounding_whitespace_is_ignored():
    assert MlflowArn.parse(f"  {SERVER}\n").arn == SERVER


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "required"),
        ("my-server", "not an ARN"),
        ("arn:aws:sagemaker:eu-west-1:123456789012", "not an ARN"),
        ("urn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/s", "not an ARN"),
        ("arn:AWS:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/s", "partition"),
        ("arn:aws:s3:eu-west-1:123456789012:mlflow-tracking-server/s", "service 's3'"),
        ("arn:aws:sagemaker::123456789012:mlflow-tracking-server/s", "region"),
        ("arn:aws:sagemaker:Europe:123456789012:mlflow-tracking-server/s", "region"),
        ("arn:aws:sagemaker:eu-west-1:1234:mlflow-tracking-server/s", "account"),
        ("arn:aws:sagemaker:eu-west-1:123456789012:endpoint/s", "'endpoint'"),
        ("arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server", "mlflow-tracking-server"),
        ("arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/", "tracking server name"),
        ("arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/bad_name", "tracking server name"),
        ("arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/-x", "tracking server name"),
        ("arn:aws:sagemaker:eu-west-1:123456789012:mlflow-app/a/b", "MLflow App id"),
    ],
)
def test_bad_arns_say_what_is_wrong(value, says):
    with pytest.raises(ApiError) as e:
        MlflowArn.parse(value)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert says in e.value.message


def test_not_a_string():
    with pytest.raises(ApiError) as e:
        MlflowArn.parse(None)  # type: ignore[arg-type]
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


def test_frozen():
    arn = MlflowArn.parse(SERVER)
    with pytest.raises(AttributeError):
        arn.name = "other"  # type: ignore[misc]
    assert MlflowArn.parse(SERVER) == arn and hash(MlflowArn.parse(SERVER)) == hash(arn)
