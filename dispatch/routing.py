from django.urls import path, re_path

from dispatch.consumers import ConsoleConsumer, NoSuchStreamConsumer, UnitConsumer

websocket_urlpatterns = [
    path("ws/console/", ConsoleConsumer.as_asgi()),
    path("ws/unit/", UnitConsumer.as_asgi()),
    # Anything else is closed with 4404 rather than crashing the router (and logging an error per scanner).
    re_path(r"", NoSuchStreamConsumer.as_asgi()),
]
