"""The machine's floor: the least an HTTP keep-alive server (asyncio on uvloop, as uvicorn runs) and a
grpc.aio unary server can do per call on this loopback. Run as `python -m bench.echo http|grpc PORT`."""

from __future__ import annotations

import asyncio
import sys

import grpc
import uvloop

ECHO_METHOD = "/bench.Echo/Echo"
_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class _HttpEcho(asyncio.Protocol):
    """Answers every request on the connection with `{}`; reads a Content-Length body if one is sent."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            length = 0
            if (at := head.find(b"content-length:")) >= 0:
                length = int(head[at + 15 :].split(b"\r\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(_RESPONSE)


async def _serve_http(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_HttpEcho, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


async def _serve_grpc(port: int) -> None:
    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def main(argv: list[str]) -> None:
    kind, port = argv[0], int(argv[1])
    uvloop.run(_serve_http(port) if kind == "http" else _serve_grpc(port))


if __name__ == "__main__":
    main(sys.argv[1:])
