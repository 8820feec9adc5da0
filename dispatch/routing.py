from django.urls import path

from dispatch.consumers import ConsoleConsumer, UnitConsumer

websocket_urlpatterns = [
    path("ws/console/", ConsoleConsumer.as_asgi()),
    path("ws/unit/", UnitConsumer.as_asgi()),
]
