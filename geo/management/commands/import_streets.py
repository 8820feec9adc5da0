from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from geo.imports import streets_import


class Command(BaseCommand):
    help = (
        "Import named streets from a GeoJSON of (Multi)LineStrings (e.g. an OpenStreetMap export of highways): "
        "lines of one name are merged; unnamed lines and names like 'Gg. II' are skipped."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--name-field", default=None, help="property holding the name (default: name/nama)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["path"].exists():
            raise CommandError(f"{options['path']} does not exist")
        counts = streets_import(path=options["path"], name_field=options["name_field"])
        self.stdout.write(
            self.style.SUCCESS(f"{counts['streets']} streets imported, {counts['skipped']} lines skipped")
        )
