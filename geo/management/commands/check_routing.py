from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from geo.roadnet import network_current
from geo.routing import road_engine


class Command(BaseCommand):
    help = "Say which travel-time engine the service will use (road network or geodesic estimate)."

    def handle(self, *args: Any, **options: Any) -> None:
        kind = settings.GEO["ROAD_ENGINE"]
        engine = road_engine()
        if kind == "osrm" and network_current(Path(settings.GEO["OSRM_DATA"])) is None:
            self.stdout.write(
                "Routing: geodesic estimate for now: no road network built yet in "
                f"{settings.GEO['OSRM_DATA']} (`manage.py build_road_network SOURCE` or `load_demo --data DIR`; "
                "it is taken up without a restart)"
            )
        elif not kind:
            self.stdout.write(
                "Routing: geodesic estimate (no road network configured: build one with "
                "`manage.py build_road_network SOURCE`, then set ROAD_ENGINE=osrm; see README 'Road network')"
            )
        elif engine is None:
            self.stdout.write(
                f"Routing: geodesic estimate (ROAD_ENGINE={kind} could not be loaded; see the log)"
            )
        elif engine.ready():
            self.stdout.write(f"Routing: road network ({engine.describe()})")
        else:
            if kind == "osrm-http":
                where, then = settings.GEO["OSRM_URL"], ""
            else:
                where, then = (
                    settings.GEO["OSRM_DATA"],
                    " (a network built there is taken up without a restart)",
                )
            self.stdout.write(
                f"Routing: road network configured ({kind}) but not answering at {where}: geodesic estimate "
                f"until it does{then}"
            )
