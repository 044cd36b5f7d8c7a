"""The policy table: exactly one rule per RPC, and every field a rule reads exists in its messages."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from flowport.auth import policy
from flowport.v1 import artifacts_pb2, auth_pb2, registry_pb2, tracing_pb2, tracking_pb2, workspaces_pb2

MODULES = (tracking_pb2, registry_pb2, tracing_pb2, artifacts_pb2, workspaces_pb2, auth_pb2)
METHODS = {
    (service.name, method.name): method
    for module in MODULES
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
}


def test_every_rpc_has_exactly_one_rule_and_no_rule_is_for_nothing():
    ruled = {(service, rpc) for service, rules in policy.POLICY.items() for rpc in rules}
    assert not set(METHODS) - ruled, f"RPCs without a rule: {sorted(set(METHODS) - ruled)}"
    assert not ruled - set(METHODS), f"rules for no RPC: {sorted(ruled - set(METHODS))}"


def test_the_gateway_serves_every_service_the_table_covers():
    from flowport.v1.http_rules import SERVICES

    assert {s.name for s in SERVICES} == set(policy.POLICY)


def _leaf(descriptor: Descriptor, path: str) -> FieldDescriptor:
    field = None
    for part in path.split("."):
        assert descriptor is not None, f"{path}: '{part}' is below a scalar"
        field = descriptor.fields_by_name.get(part)
        assert field is not None, f"{descriptor.full_name} has no field '{part}' ({path})"
        descriptor = field.message_type
    return field


def _rules():
    for (service, rpc), method in sorted(METHODS.items()):
        yield pytest.param(policy.POLICY[service][rpc], method, id=f"{service}.{rpc}")


@pytest.mark.parametrize(("rule", "method"), _rules())
def test_each_rule_reads_fields_its_messages_have(rule, method):
    request, response = method.input_type, method.output_type
    need = rule.need
    paths = []
    if isinstance(need, policy.OnResources):
        paths += [c.target.field for c in need.checks]
    for kind in (policy.SelfOrAdmin, policy.WorkspaceAdmin, policy.WorkspaceMember):
        if isinstance(need, kind):
            paths.append(need.field)
    if isinstance(need, policy.ResourceManager):
        paths += [need.kind_field, need.id_field]
    for path in paths:
        assert _leaf(request, path).type == FieldDescriptor.TYPE_STRING, path
    if rule.request_filter is not None:
        items = _leaf(request, rule.request_filter.field)
        assert items.is_repeated
        if rule.request_filter.id_path:
            _leaf(items.message_type, rule.request_filter.id_path)
    if rule.response_filter is not None:
        items = _leaf(response, rule.response_filter.field)
        assert items.is_repeated and items.message_type is not None
        _leaf(items.message_type, rule.response_filter.id_path)
    if rule.creates is not None:
        _leaf(response, rule.creates.response_id)
    if rule.renames is not None:
        _leaf(request, rule.renames.old_field), _leaf(request, rule.renames.new_field)
    if rule.forgets is not None:
        _leaf(request, rule.forgets.field)


def test_run_targets_also_read_the_deprecated_run_uuid():
    """A request may carry MLflow's old `run_uuid` instead of `run_id`: both are checked."""
    from flowport.gateway.authorization import field_values

    request = tracking_pb2.LogBatch(run_id="")
    request_with_uuid = tracking_pb2.UpdateRun(run_uuid="abc")
    assert field_values(request, "run_id") == []
    assert field_values(request_with_uuid, "run_id") == ["abc"]
    assert field_values(tracking_pb2.UpdateRun(run_id="x", run_uuid="y"), "run_id") == ["x", "y"]
