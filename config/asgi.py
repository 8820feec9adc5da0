"""The one ASGI application uvicorn serves: HTTP through Django's WSGI handler, WebSockets through Channels.

Every HTTP view here is synchronous (DRF, the ORM). Django's ASGI handler runs such a view by hopping from the
event loop to a thread and back several times per request (the sync middleware, the async-capable ones, the
view, the request signals): about 3 ms of CPU per request, as much as a small view itself. Served by the WSGI
handler in a pool of threads (a2wsgi), a request makes one hop there and one back, and the threads keep their
database connections. The WebSocket relays stay async, on the same event loop, the same port.
"""

import json
import os
from typing import Any, cast

from a2wsgi import WSGIMiddleware
from a2wsgi.wsgi_typing import WSGIApp
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
# The stubs type the handler's answer as HttpResponseBase: at run time the iterable of bytes WSGI expects.
wsgi_app = cast(WSGIApp, get_wsgi_application())


class BodyFirst:
    """Reads a request's whole body on the event loop before a thread takes the request, as Django's ASGI
    handler does: a phone on a stalling network holds a socket, never one of the few HTTP threads. A body
    larger than twice DATA_UPLOAD_MAX_MEMORY_SIZE (Django refuses anything over it anyway) is answered 413
    here, in the contract's error shape, without being kept."""

    def __init__(self, app: Any) -> None:
        from django.conf import settings

        self.app = app
        self.limit = 2 * int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.limit:
            return await self._too_large(send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return await self._too_large(send)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body: bytes | None = b"".join(chunks)

        async def replay() -> dict[str, Any]:
            nonlocal body
            if body is not None:
                message, body = {"type": "http.request", "body": body, "more_body": False}, None
                return message
            return cast(dict[str, Any], await receive())  # after the body: the disconnect, when it comes

        return await self.app(scope, replay, send)

    async def _too_large(self, send: Any) -> None:
        from accounts.errors import error_body

        message = f"The request body is larger than {self.limit} bytes."
        payload = json.dumps(error_body("too_large", message)).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                                (b"connection", b"close")]})  # fmt: skip
        await send({"type": "http.response.body", "body": payload})


django_http_app = BodyFirst(WSGIMiddleware(wsgi_app, workers=int(os.environ.get("WEB_THREADS", "8"))))

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from dispatch.consumers import TokenAuthMiddleware, origin_validated  # noqa: E402
from dispatch.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_http_app,
        "websocket": origin_validated(
            AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
