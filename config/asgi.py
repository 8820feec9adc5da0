"""The one ASGI application uvicorn serves: HTTP through Django's WSGI handler, WebSockets through Channels.

Every HTTP view here is synchronous (DRF, the ORM). Django's ASGI handler runs such a view by hopping from the
event loop to a thread and back several times per request (the sync middleware, the async-capable ones, the
view, the request signals): about 3 ms of CPU per request, as much as a small view itself. Served by the WSGI
handler in a pool of threads (a2wsgi), a request makes one hop there and one back, and the threads keep their
database connections. The WebSocket relays stay async, on the same event loop, the same port.
"""

import os
from typing import cast

from a2wsgi import WSGIMiddleware
from a2wsgi.wsgi_typing import WSGIApp
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
# The stubs type the handler's answer as HttpResponseBase: at run time the iterable of bytes WSGI expects.
wsgi_app = cast(WSGIApp, get_wsgi_application())
django_http_app = WSGIMiddleware(wsgi_app, workers=int(os.environ.get("WEB_THREADS", "8")))

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
