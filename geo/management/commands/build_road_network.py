import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from geo.roadnet import PROFILE, RoadNetworkError, describe_classes, network_build

STAGES = {"convert": "convert", "extract": "osrm-extract", "contract": "osrm-contract", "switch": "switch"}


class Command(BaseCommand):
    help = (
        "Build a road network for routing from an OpenStreetMap extract (.osm, .osm.pbf) or road lines as "
        "GeoJSON with a class field, and put it in service. Running services take it up without a restart."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("source", type=Path, help="an .osm/.osm.pbf extract or a road-line .geojson")
        parser.add_argument("--out", type=Path, default=None,
                            help="data directory (default: settings OSRM_DATA, var/osrm/)")  # fmt: skip
        parser.add_argument("--class-field", default=None,
                            help="GeoJSON property with the road class (default: REMARK, highway, class)")  # fmt: skip
        parser.add_argument(
            "--profile", type=Path, default=PROFILE, help="OSRM Lua profile (default: ambulance)"
        )
        parser.add_argument("--threads", type=int, default=2)
        parser.add_argument("--keep", type=int, default=3, help="builds to keep, the one in service included")

    def handle(self, *args: Any, **options: Any) -> None:
        data = options["out"] or Path(settings.GEO["OSRM_DATA"] or Path(settings.VAR_DIR) / "osrm")
        live = self.stdout.isatty() and options["verbosity"] > 0
        stage_now = [""]
        stage_started = [time.monotonic()]

        def progress(stage: str, fraction: float | None, note: str) -> None:
            if options["verbosity"] == 0:
                return
            label = f"{STAGES.get(stage, stage):<14}"
            if stage != stage_now[0]:
                if stage_now[0] and live:
                    self.stdout.write("")
                stage_now[0], stage_started[0] = stage, time.monotonic()
            elapsed = time.monotonic() - stage_started[0]
            if note:
                self.stdout.write(f"\r{label} {note}" if live else f"{label} {note}")
            elif fraction is not None and live:
                bar = "#" * round(fraction * 30)
                self.stdout.write(f"\r{label} [{bar:<30}] {fraction:4.0%} {elapsed:5.1f} s", ending="")
                sys.stdout.flush()
            elif fraction == 1.0:
                self.stdout.write(f"{label} done in {elapsed:.1f} s")

        try:
            build = network_build(
                source=options["source"], data=data, class_field=options["class_field"],
                profile=options["profile"], threads=options["threads"], keep=options["keep"], progress=progress,
            )  # fmt: skip
        except RoadNetworkError as exc:
            raise CommandError(str(exc)) from exc
        meta = build.meta
        for line in describe_classes(meta):
            self.stdout.write(f"  {line}")
        self.stdout.write(self.style.SUCCESS(
            f"Road network {build.id} in service under {data} (top speed {meta['top_speed_kmh']:g} km/h, "
            f"{meta['seconds']['total']:.1f} s)."
        ))  # fmt: skip
        if settings.GEO["ROAD_ENGINE"] != "osrm":
            self.stdout.write(f"Route with it: ROAD_ENGINE=osrm OSRM_DATA={data} (environment or .env)")
