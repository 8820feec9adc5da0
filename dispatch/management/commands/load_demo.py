from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dispatch.demo import demo_import_data, demo_load


class Command(BaseCommand):
    help = "Load the Kota Malang demo: posts, hospitals, units; optionally users and a city data folder."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--users", action="store_true", help="also create the demo users")
        parser.add_argument("--password", default=None, help="password for the demo users")
        parser.add_argument(
            "--data", type=Path, default=None, help="a folder laid out like shared/data/malang"
        )

    def _road_network(self, source: Path) -> None:
        """Build the city's road network once, when the in-process engine is configured and none is in service."""
        from django.conf import settings

        from geo.roadnet import network_build, network_current

        data = Path(settings.GEO["OSRM_DATA"])
        if settings.GEO["ROAD_ENGINE"] != "osrm" or not source.exists():
            return
        current = network_current(data)
        if current is not None:
            self.stdout.write(f"road network: {current.id} already in service")
            return
        build = network_build(source=source, data=data)
        self.stdout.write(f"road network: {build.id} built into {data} (taken up without a restart)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["users"] and not options["password"]:
            raise CommandError("--users needs --password PW")
        if options["data"] is not None:
            if not options["data"].is_dir():
                raise CommandError(f"{options['data']} is not a folder")
            for name, count in demo_import_data(options["data"]).items():
                self.stdout.write(f"{name}: {count}")
            self._road_network(options["data"] / "malang_roads_big_rbi25k.geojson")
        counts = demo_load(with_users=options["users"], password=options["password"])
        self.stdout.write(self.style.SUCCESS(", ".join(f"{k}: {v}" for k, v in counts.items())))
