"""How the shared REST transport reports a failure on the wire: whether the upstream may have seen the
request decides whether a call that is not idempotent may be sent again."""

from __future__ import annotations

import asyncio
import time

import pytest

from flowport.adapters.mlflow_rest.transport import RestTransport
from flowport.adapters.resilience import Resilience, TransientError
from flowport.v1 import tracking_pb2
from tests.fixtures.processes import free_port

REQUEST = tracking_pb2.GetExperiment(experiment_id="1")


async def _send_to(url: str) -> TransientError:
    transport = RestTransport("upstream-x", url, resilience=Resilience("upstream-x"))
    try:
        with pytest.raises(TransientError) as excinfo:
            await transport.send_once(REQUEST, time.monotonic() + 10)
        return excinfo.value
    finally:
        await transport.close()


def test_a_refused_connection_was_never_sent():
    error = asyncio.run(_send_to(f"http://127.0.0.1:{free_port()}"))
    assert error.request_sent is False


@pytest.mark.parametrize("answer", [b"", b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{}"])
def test_a_connection_dropped_after_the_request_may_have_done_the_work(answer):
    async def scenario() -> TransientError:
        seen = asyncio.Event()

        async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            seen.set()
            writer.write(answer)  # nothing, or a body cut short
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            error = await _send_to(f"http://127.0.0.1:{port}")
        assert seen.is_set()
        return error

    assert asyncio.run(scenario()).request_sent is True
