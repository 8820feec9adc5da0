from typing import Any

from django.core.management.base import BaseCommand

from geo.routing import engine_name


class Command(BaseCommand):
    help = "Say which travel-time engine the service will use (road network or geodesic estimate)."

    def handle(self, *args: Any, **options: Any) -> None:
        name = engine_name()
        if name == "geodesic":
            self.stdout.write(
                "Routing: geodesic estimate (no road network configured; see README 'Road network')"
            )
        else:
            self.stdout.write(f"Routing: road network ({name})")
