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

    def handle(self, *args: Any, **options: Any) -> None:
        if options["users"] and not options["password"]:
            raise CommandError("--users needs --password PW")
        if options["data"] is not None:
            if not options["data"].is_dir():
                raise CommandError(f"{options['data']} is not a folder")
            for name, count in demo_import_data(options["data"]).items():
                self.stdout.write(f"{name}: {count}")
        counts = demo_load(with_users=options["users"], password=options["password"])
        self.stdout.write(self.style.SUCCESS(", ".join(f"{k}: {v}" for k, v in counts.items())))
