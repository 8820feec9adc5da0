from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from geo.imports import regions_import
from geo.models import Region


class Command(BaseCommand):
    help = (
        "Import kecamatan, kelurahan or the service area from a GeoJSON FeatureCollection of polygons. "
        "Import kecamatan before kelurahan (a kelurahan's `kecamatan` property links it); the service area is the "
        "union of the file's polygons, grown by SERVICE_AREA_BUFFER_M when points are checked."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--kind", required=True, choices=Region.Kind.values)
        parser.add_argument(
            "--name-field", default=None, help="property holding the name (default: NAMOBJ/name/nama)"
        )
        parser.add_argument("--name", default=None, help="the service area's name (default: Wilayah layanan)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["path"].exists():
            raise CommandError(f"{options['path']} does not exist")
        try:
            count = regions_import(
                path=options["path"],
                kind=options["kind"],
                name_field=options["name_field"],
                name=options["name"],
            )
        except (ValueError, KeyError) as exc:
            raise CommandError(f"{options['path']}: {exc}") from None
        self.stdout.write(self.style.SUCCESS(f"{count} {options['kind']} imported"))
