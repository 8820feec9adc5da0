from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from geo.imports import aliases_import


class Command(BaseCommand):
    help = (
        "Add the names callers use for places from a CSV `kind,name,alias` (kind: hospital, puskesmas, landmark, "
        "kelurahan, kecamatan or street; name: the place as imported). Import the places first."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["path"].exists():
            raise CommandError(f"{options['path']} does not exist")
        try:
            counts = aliases_import(path=options["path"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"{counts['added']} aliases added"))
        if counts["missing_targets"]:
            self.stdout.write(
                self.style.WARNING(
                    f"{counts['missing_targets']} rows name places that are not imported (skipped)"
                )
            )
