"""SigV4Auth through a verifying proxy (botocore recomputes each signature) before a real `mlflow server`.

The proxy plays the SageMaker data plane: it refuses what AWS would refuse, and forwards what it
accepts to the stock MLflow server, which then has to act on it.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import os
import re
import threading
import uuid

import httpx
import pytest
from botocore.auth import SigV4Auth as BotocoreSigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, DeferredRefreshableCredentials

from flowport.adapters.sagemaker.arn import MlflowArn
from flowport.adapters.sagemaker.sigv4 import SigV4Auth, canonical_query
from tests.fixtures.upstream_proxy import REJECTED, SigV4Verifier, UpstreamProxy

REGION = "eu-west-1"
ARN = MlflowArn.parse(f"arn:aws:sagemaker:{REGION}:123456789012:mlflow-tracking-server/flowport-test")
OTHER_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/someone-elses"
STATIC = Credentials("AKIDSTATIC0000000001", "static-secret")
SESSION = Credentials("ASIASESSION000000001", "session-secret", "session-token-xyz")
KNOWN = {
    STATIC.access_key: (STATIC.secret_key, None),
    SESSION.access_key: (SESSION.secret_key, SESSION.token),
}
EXPERIMENTS = "/api/2.0/mlflow/experiments"


@pytest.fixture(scope="module")
def proxy(mlflow_upstream):
    verifier = SigV4Verifier(
        ARN.signing_service,
        REGION,
        KNOWN.get,
        required_signed_headers=("host", "x-amz-date", "x-amz-content-sha256", ARN.arn_header),
    )
    with UpstreamProxy(mlflow_upstream, check=verifier) as p:
        yield p


def signing_client(proxy, credentials=STATIC, service=ARN.signing_service, region=REGION) -> httpx.Client:
    return httpx.Client(
        base_url=proxy.url,
        auth=SigV4Auth(credentials, service, region),
        headers={ARN.arn_header: ARN.arn},
        timeout=60,
    )


def signed_headers(authorization: str) -> list[str]:
    return re.search(r"SignedHeaders=([^,\s]+)", authorization)[1].split(";")


def upstream_has_experiment(mlflow_upstream: str, name: str) -> bool:
    r = httpx.get(f"{mlflow_upstream}{EXPERIMENTS}/get-by-name", params={"experiment_name": name})
    return r.status_code == 200


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_create_experiment_is_signed_and_reaches_mlflow(proxy, mlflow_upstream):
    name = unique("sigv4-create")
    with signing_client(proxy) as client:
        r = client.post(f"{EXPERIMENTS}/create", json={"name": name})
    assert r.status_code == 200, r.text
    assert upstream_has_experiment(mlflow_upstream, name)

    record = [x for x in proxy.recorded("POST", "experiments/create") if name.encode() in x.body][-1]
    assert record.reached_upstream and record.upstream_status == 200
    signed = signed_headers(record.headers["authorization"])
    assert {"host", "x-amz-date", "x-amz-content-sha256", ARN.arn_header} <= set(signed)
    assert "user-agent" not in signed and "user-agent" in record.headers
    assert record.headers["x-amz-content-sha256"] == hashlib.sha256(record.body).hexdigest()
    assert f"/{REGION}/sagemaker-mlflow/aws4_request" in record.headers["authorization"]
    assert "x-amz-security-token" not in record.headers


def test_session_credentials_send_and_sign_their_token(proxy, mlflow_upstream):
    name = unique("sigv4-session")
    with signing_client(proxy, SESSION) as client:
        r = client.post(f"{EXPERIMENTS}/create", json={"name": name})
    assert r.status_code == 200, r.text
    record = [x for x in proxy.recorded("POST", "experiments/create") if name.encode() in x.body][-1]
    assert record.headers["x-amz-security-token"] == SESSION.token
    assert "x-amz-security-token" in signed_headers(record.headers["authorization"])


def test_get_with_spaces_in_the_query(proxy, mlflow_upstream):
    name = unique("spaces and a+plus, comma/slash")
    with signing_client(proxy) as client:
        assert client.post(f"{EXPERIMENTS}/create", json={"name": name}).status_code == 200
        proxy.clear_records()
        # httpx's own encoding (spaces as `+`), as the REST transport will send it.
        by_params = client.get(f"{EXPERIMENTS}/get-by-name", params={"experiment_name": name})
        # Hand-written the way the mlflow client (requests) writes it.
        raw = name.replace("+", "%2B").replace(",", "%2C").replace("/", "%2F").replace(" ", "+")
        by_url = client.get(f"{EXPERIMENTS}/get-by-name?experiment_name={raw}")
        search = client.get(f"{EXPERIMENTS}/search", params={"filter": f"name = '{name}'", "max_results": 5})
    for r in (by_params, by_url):
        assert r.status_code == 200, r.text
        assert r.json()["experiment"]["name"] == name
    assert search.status_code == 200, search.text
    assert [e["name"] for e in search.json()["experiments"]] == [name]
    for record in proxy.records:
        # What was sent (and signed) is SigV4's encoding: no `+` left for AWS to misread.
        assert "+" not in record.query and "%20" in record.query
        assert record.reached_upstream


def test_a_plus_signed_as_is_is_what_aws_rejects(proxy):
    """The quirk is real: botocore alone signs `+` literally, and the AWS-like verifier refuses it."""

    class PlainBotocore(httpx.Auth):
        requires_request_body = True

        def auth_flow(self, request):
            aws = AWSRequest(method=request.method, url=str(request.url), data=request.content)
            for k, v in request.headers.items():
                aws.headers[k] = v
            BotocoreSigV4Auth(STATIC, ARN.signing_service, REGION).add_auth(aws)
            for k in ("Authorization", "X-Amz-Date"):
                request.headers[k] = aws.headers[k]
            request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(request.content).hexdigest()
            yield request

    with httpx.Client(base_url=proxy.url, auth=PlainBotocore(), headers={ARN.arn_header: ARN.arn}) as client:
        r = client.get(f"{EXPERIMENTS}/get-by-name?experiment_name=a+b")
    assert r.status_code == 403
    assert "signature we calculated does not match" in r.json()["message"]


def test_canonical_query_keeps_meaning():
    assert canonical_query("a=x+y%20z&b=%2B&c") == "a=x%20y%20z&b=%2B&c"
    assert (
        canonical_query("filter=name+%3D+%27a%27&max_results=5")
        == "filter=name%20%3D%20%27a%27&max_results=5"
    )
    assert canonical_query("q=a,b/c:~") == "q=a%2Cb%2Fc%3A~"
    assert canonical_query("") == ""


def test_connection_header_is_not_signed(proxy):
    with signing_client(proxy) as client:
        r = client.post(
            f"{EXPERIMENTS}/create", json={"name": unique("conn")}, headers={"Connection": "keep-alive"}
        )
    assert r.status_code == 200, r.text
    assert "connection" not in signed_headers(proxy.records[-1].headers["authorization"])


def test_signing_twice_replaces_the_first_signature(proxy):
    with signing_client(proxy) as client:
        request = client.build_request("POST", f"{EXPERIMENTS}/create", json={"name": unique("twice")})
        auth = SigV4Auth(Credentials("AKIDUNKNOWN", "nope"), ARN.signing_service, REGION)
        next(auth.sync_auth_flow(request))
        next(client.auth.sync_auth_flow(request))  # a retry re-signs with the right credentials
        assert len(request.headers.get_list("authorization")) == 1
        assert len(request.headers.get_list("x-amz-date")) == 1
        r = httpx.Client(timeout=60).send(request)
    assert r.status_code == 200, r.text


def test_async_client_signs(proxy, mlflow_upstream):
    name = unique("sigv4-async")
    assert asyncio.run(_create_and_get_async(proxy, name)) == name


async def _create_and_get_async(proxy, name: str) -> str:
    async with httpx.AsyncClient(
        base_url=proxy.url,
        auth=SigV4Auth(SESSION, ARN.signing_service, REGION),
        headers={ARN.arn_header: ARN.arn},
    ) as client:
        r = await client.post(f"{EXPERIMENTS}/create", json={"name": name})
        got = await client.get(f"{EXPERIMENTS}/get-by-name", params={"experiment_name": name})
    assert r.status_code == 200, r.text
    return got.json()["experiment"]["name"]


def test_async_refresh_runs_off_the_event_loop():
    """A refresh (an STS call, for an assumed role) runs in a worker thread; a fresh key is read in place."""
    refreshed_in: list[threading.Thread] = []

    def refresh() -> dict:
        refreshed_in.append(threading.current_thread())
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
        return {
            "access_key": "AKIDREFRESHED",
            "secret_key": "s",
            "token": "t",
            "expiry_time": expiry.isoformat(),
        }

    auth = SigV4Auth(DeferredRefreshableCredentials(refresh, "test"), ARN.signing_service, REGION)

    async def sign_twice() -> tuple[threading.Thread, list[str]]:
        authorizations = []
        for _ in range(2):
            request = httpx.Request("POST", "http://127.0.0.1:1/api/2.0/mlflow/runs/create", content=b"{}")
            signed = await anext(auth.async_auth_flow(request))
            authorizations.append(signed.headers["authorization"])
        return threading.current_thread(), authorizations

    loop_thread, authorizations = asyncio.run(sign_twice())
    assert len(refreshed_in) == 1 and refreshed_in[0] is not loop_thread
    assert all("Credential=AKIDREFRESHED/" in a for a in authorizations)


def test_large_artifact_round_trip(proxy):
    """A large body up and down through the signer and the proxy: the body hash covers all of it."""
    data = os.urandom(8 * 1024 * 1024)
    path = f"/api/2.0/mlflow-artifacts/artifacts/sigv4/{uuid.uuid4().hex}/big.bin"
    with signing_client(proxy) as client:
        put = client.put(path, content=data, headers={"Content-Type": "application/octet-stream"})
        assert put.status_code == 200, put.text
        got = client.get(path)
    assert got.status_code == 200
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
    upload = proxy.recorded("PUT", "big.bin")[-1]
    assert (
        upload.body_length == len(data)
        and upload.headers["x-amz-content-sha256"] == hashlib.sha256(data).hexdigest()
    )


# ---------------------------------------------------------------------------------------------
# Wrongly signed requests


def _tamper_body(request: httpx.Request, recompute_hash: bool) -> httpx.Request:
    """The same request with the experiment name's last letter changed (same length)."""
    content = request.content
    body = content[:-3] + (b"Y" if content[-3:-2] == b"Z" else b"Z") + content[-2:]
    headers = httpx.Headers(request.headers)
    if recompute_hash:
        headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    return httpx.Request(request.method, request.url, headers=headers, content=body)


def _with_header(request: httpx.Request, name: str, value: str | None) -> httpx.Request:
    headers = httpx.Headers(request.headers)
    if value is None:
        del headers[name]
    else:
        headers[name] = value
    return httpx.Request(request.method, request.url, headers=headers, content=request.content)


@pytest.mark.parametrize(
    ("case", "credentials", "service", "region", "after_signing", "reason"),
    [
        (
            "wrong secret",
            Credentials(STATIC.access_key, "wrong-secret"),
            None,
            None,
            None,
            "signature mismatch",
        ),
        ("unknown key", Credentials("AKIDNOBODYKNOWS00001", "x"), None, None, None, "unknown access key"),
        ("body tampered", STATIC, None, None, lambda r: _tamper_body(r, False), "body differs"),
        ("body and hash tampered", STATIC, None, None, lambda r: _tamper_body(r, True), "signature mismatch"),
        ("ARN changed", STATIC, None, None, lambda r: _with_header(r, ARN.arn_header, OTHER_ARN), "mismatch"),
        (
            "token dropped",
            SESSION,
            None,
            None,
            lambda r: _with_header(r, "X-Amz-Security-Token", None),
            "token",
        ),
        ("wrong service", STATIC, "sagemaker", None, None, "scoped to service sagemaker"),
        ("wrong region", STATIC, None, "us-east-1", None, "scoped to region us-east-1"),
    ],
)
def test_wrongly_signed_requests_are_rejected(
    proxy, mlflow_upstream, case, credentials, service, region, after_signing, reason
):
    name = unique("rejected")
    with signing_client(proxy, credentials, service or ARN.signing_service, region or REGION) as client:
        request = client.build_request("POST", f"{EXPERIMENTS}/create", json={"name": name})
        request = next(client.auth.sync_auth_flow(request))
    if after_signing is not None:
        request = after_signing(request)
    with httpx.Client(timeout=60) as plain:
        r = plain.send(request)
    assert r.status_code == 403, (case, r.text)
    assert r.json()["message"]
    record = proxy.records[-1]
    assert record.outcome == REJECTED and not record.reached_upstream
    assert reason in record.rejection, record.rejection
    assert not upstream_has_experiment(mlflow_upstream, name)
    for tampered in ("Y", "Z"):
        assert not upstream_has_experiment(mlflow_upstream, name[:-1] + tampered)


def test_unsigned_arn_header_is_rejected(proxy, mlflow_upstream):
    """Selecting the server by an ARN header the signature does not cover is refused."""
    name = unique("unsigned-arn")
    with httpx.Client(base_url=proxy.url, auth=SigV4Auth(STATIC, ARN.signing_service, REGION)) as client:
        request = next(
            client.auth.sync_auth_flow(
                client.build_request("POST", f"{EXPERIMENTS}/create", json={"name": name})
            )
        )
    r = httpx.Client().send(_with_header(request, ARN.arn_header, ARN.arn))
    assert r.status_code == 403
    assert "required headers not signed" in proxy.records[-1].rejection
    assert not upstream_has_experiment(mlflow_upstream, name)


def test_unsigned_request_is_rejected(proxy):
    r = httpx.post(f"{proxy.url}{EXPERIMENTS}/create", json={"name": unique("unsigned")})
    assert r.status_code == 403
    assert r.json() == {"message": "Missing Authentication Token"}
