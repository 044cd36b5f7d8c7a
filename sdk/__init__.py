"""flowport's Python SDK over gRPC."""

from flowport.sdk.client import FlowportClient

__all__ = ["FlowportClient"]
