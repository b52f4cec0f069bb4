"""HEAD answered as GET without the body (RFC 9110, section 9.3.2).

FastAPI registers a route for the methods it names, so a HEAD request was a 405 on every
``GET`` route. This middleware hands the app a HEAD request as a GET and drops the body of the
answer: the status and headers (``Content-Type``, ``Content-Length``, the security headers) are
those of the GET. Where a path has no GET route the answer is the router's own 405 (with its
``Allow`` header), without the body.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HeadAsGet"]


class HeadAsGet:
    """Serve ``HEAD`` as ``GET`` with an empty body (innermost middleware: the metrics and the
    audit log still see the request as ``HEAD``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # a streamed answer: only its end is sent, empty
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)
