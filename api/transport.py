"""The HTTP protocol ``carbonfin serve`` runs: uvicorn's h11 protocol with ``TCP_NODELAY`` set on
every connection.

Why: with ``--workers 2`` or more, uvicorn binds the listening socket itself
(``socket.socket(family=...)``, protocol number 0), and asyncio sets ``TCP_NODELAY`` only on
sockets whose protocol number is ``IPPROTO_TCP`` (``asyncio.base_events._set_nodelay``). h11
writes a response's headers and its body separately, so on a kept-alive connection Nagle's
algorithm held the body until the client acknowledged the headers, and the client delays that
acknowledgement by up to 40 ms: every answer after a connection's first took 42-44 ms instead of
1-2 ms (measured with curl and httpx against a bare FastAPI app under uvicorn 0.54 with
``--workers 2``; ``benchmarks/bench_api.py``, docs/api.md "Performance"). One worker was not
affected (uvicorn then lets asyncio bind, with the protocol number set).
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["NoDelayH11Protocol", "no_delay"]


def no_delay(transport: asyncio.BaseTransport) -> None:
    """Send each write at once on ``transport``'s TCP socket (no Nagle); other sockets as they
    are."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with ``TCP_NODELAY`` on each connection (see the module notes)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)
        super().connection_made(transport)
