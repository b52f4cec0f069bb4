"""``carbonfin serve``'s HTTP protocol sets ``TCP_NODELAY`` on every connection
(:mod:`api.transport`).

The case that failed: with ``--workers 2`` uvicorn binds the listening socket itself, with
protocol number 0, and asyncio then leaves Nagle's algorithm on for every accepted connection;
h11 writes headers and body separately, so each answer on a kept-alive connection waited for the
client's delayed acknowledgement (42-44 ms against 1-2 ms). Here a listener made the way uvicorn
makes it serves real requests through uvicorn's protocol class and through ours; the socket
option is read back from each accepted connection.
"""

from __future__ import annotations

import asyncio
import socket
from unittest import mock

import httpx
import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from api.transport import NoDelayH11Protocol


async def _app(scope: dict[str, object], receive: object, send: object) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]


async def _nodelay_seen(protocol: type[H11Protocol]) -> list[int]:
    """Serve two requests on one kept-alive connection through ``protocol`` on a listener bound
    as uvicorn binds it for several workers; the TCP_NODELAY of each accepted connection."""
    config = Config(app=_app, lifespan="off", log_level="warning")
    config.load()
    state = ServerState()
    seen: list[int] = []

    class Watching(protocol):  # type: ignore[valid-type, misc]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            sock = transport.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    listener = socket.socket(family=socket.AF_INET)  # as uvicorn's Config.bind_socket: proto 0
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    assert listener.proto == 0
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Watching(config=config, server_state=state, app_state={}), sock=listener
    )
    port = listener.getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(2):
                assert (await client.get("/")).text == "ok"
    finally:
        server.close()
        await server.wait_closed()
    return seen


def test_uvicorns_own_protocol_leaves_nagle_on_for_a_protocol_0_listener() -> None:
    # the cause, as it stands in uvicorn and asyncio: if this starts failing, they fixed it
    assert asyncio.run(_nodelay_seen(H11Protocol)) == [0]


def test_our_protocol_sets_tcp_nodelay_on_every_connection() -> None:
    assert asyncio.run(_nodelay_seen(NoDelayH11Protocol)) == [1]


def test_serve_runs_our_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from carbonfin.cli import app

    with mock.patch("uvicorn.run") as run:
        done = CliRunner().invoke(app, ["serve", "--workers", "2", "--port", "8124"])
    assert done.exit_code == 0, done.output
    assert run.call_args.kwargs["http"] == "api.transport:NoDelayH11Protocol"
    assert run.call_args.kwargs["workers"] == 2
