from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from geo.imports import regions_import
from geo.models import Region


class Command(BaseCommand):
    help = "Import kecamatan, kelurahan or the service area from a GeoJSON FeatureCollection."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--kind", required=True, choices=Region.Kind.values)
        parser.add_argument(
            "--name-field", default=None, help="property holding the name (default: NAMOBJ/name)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["path"].exists():
            raise CommandError(f"{options['path']} does not exist")
        count = regions_import(path=options["path"], kind=options["kind"], name_field=options["name_field"])
        self.stdout.write(self.style.SUCCESS(f"{count} {options['kind']} imported"))
