"""Every RPC needs exactly one capability, and a backend without it refuses the call the same way."""

from __future__ import annotations

import asyncio

import pytest

from flowport.adapters.backend import Backend
from flowport.adapters.capabilities import MLFLOW_SERVER, NEEDED_BY, Capability
from flowport.v1 import artifacts_pb2, registry_pb2, tracing_pb2, tracking_pb2, workspaces_pb2
from flowport.v1.errors import ApiError

ALL_SERVICES = [
    service
    for module in (artifacts_pb2, registry_pb2, tracing_pb2, tracking_pb2, workspaces_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
]
# Served by the gateway itself (no backend sees these calls, so no capability gates them).
GATEWAY_SERVED = {"flowport.v1.WorkspaceService"}
SERVICES = [service for service in ALL_SERVICES if service.full_name not in GATEWAY_SERVED]
RPCS = sorted({method.name for service in SERVICES for method in service.methods})


def test_every_rpc_has_a_capability_and_nothing_else_does():
    assert set(NEEDED_BY) == set(RPCS)


def test_gateway_served_rpcs_are_the_gateways_and_need_no_capability():
    from flowport.gateway.service import GATEWAY_SERVICES

    assert set(GATEWAY_SERVICES) == GATEWAY_SERVED
    gateway_rpcs = {m.name for s in ALL_SERVICES if s.full_name in GATEWAY_SERVED for m in s.methods}
    assert gateway_rpcs and not gateway_rpcs & set(NEEDED_BY)


def test_a_backend_without_any_capability_still_gets_the_workspace_api():
    from flowport.gateway.call import Call
    from flowport.gateway.service import GatewayService

    class _Nothing(Backend):
        kind = "nothing"

    service = GatewayService({"b": _Nothing("b")}, {"default": "b", "team-a": "b"})
    call = Call(rpc="ListWorkspaces", request=workspaces_pb2.ListWorkspaces(), workspace="nope")
    reply = asyncio.run(service.call(call, "flowport.v1.WorkspaceService"))
    assert [(w.name, w.backend, w.backend_kind) for w in reply.workspaces] == [
        ("default", "b", "nothing"),
        ("team-a", "b", "nothing"),
    ]


def test_every_capability_but_workspaces_gates_some_rpc():
    assert set(NEEDED_BY.values()) == set(Capability) - {Capability.WORKSPACES}


class _Echo(Backend):
    kind = "echo"
    target = "Echo Cloud"
    capabilities = MLFLOW_SERVER - {Capability.REGISTRY_ALIASES, Capability.TRACING}

    async def set_registered_model_alias(self, request):
        raise AssertionError("a refused call must not reach the backend")

    async def get_registered_model(self, request):
        return registry_pb2.GetRegisteredModel.Response()


@pytest.mark.parametrize(
    ("rpc", "what"),
    [("SetRegisteredModelAlias", "model aliases"), ("StartTraceV3", "tracing"), ("LogSpans", "tracing")],
)
def test_a_missing_capability_is_endpoint_not_found_naming_backend_and_gap(rpc, what):
    backend = _Echo("prod")
    with pytest.raises(ApiError) as excinfo:
        backend.check_supported(rpc)
    assert excinfo.value.error_code == "ENDPOINT_NOT_FOUND"
    assert excinfo.value.message.startswith(f"{rpc}: backend 'prod' (Echo Cloud) does not support {what}")


def test_a_present_capability_passes():
    backend = _Echo("prod")
    backend.check_supported("GetRegisteredModel")
    reply = asyncio.run(backend.invoke("GetRegisteredModel", registry_pb2.GetRegisteredModel(name="m")))
    assert isinstance(reply, registry_pb2.GetRegisteredModel.Response)


def test_the_gateway_refuses_before_the_backend_is_called():
    from flowport.gateway.call import Call
    from flowport.gateway.service import GatewayService

    service = GatewayService({"prod": _Echo("prod")}, {"default": "prod"})
    call = Call(rpc="SetRegisteredModelAlias", request=registry_pb2.SetRegisteredModelAlias(name="m"))
    with pytest.raises(ApiError) as excinfo:
        asyncio.run(service.call(call, "flowport.v1.registry.ModelRegistryService"))
    assert excinfo.value.error_code == "ENDPOINT_NOT_FOUND"
    assert "Echo Cloud" in excinfo.value.message
