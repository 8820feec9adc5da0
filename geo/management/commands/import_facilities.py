from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from geo.imports import facilities_import
from geo.models import Facility


class Command(BaseCommand):
    help = (
        "Import hospitals, puskesmas or landmarks from a CSV (name, lat, lon; optional category, address and "
        "aliases separated by '|') or a GeoJSON of points (OpenStreetMap alt_name/short_name become aliases)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--kind", required=True, choices=Facility.Kind.values)

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["path"].exists():
            raise CommandError(f"{options['path']} does not exist")
        try:
            count = facilities_import(path=options["path"], kind=options["kind"])
        except (ValueError, KeyError) as exc:
            raise CommandError(f"{options['path']}: {exc}") from None
        self.stdout.write(self.style.SUCCESS(f"{count} {options['kind']} imported"))
