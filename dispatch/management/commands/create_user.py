from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role
from accounts.services import user_create


class Command(BaseCommand):
    help = "Create (or update) a user with a role; crew users name their unit by call sign."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--password", required=True)
        parser.add_argument("--unit", default=None, help="call sign of the crew's unit")

    def handle(self, *args: Any, **options: Any) -> None:
        from fleet.models import Unit

        unit_id = None
        if options["unit"]:
            unit = Unit.objects.filter(call_sign__iexact=options["unit"]).first()
            if unit is None:
                raise CommandError(f"no unit with call sign {options['unit']!r}")
            unit_id = unit.pk
        try:
            user = user_create(
                username=options["name"], role=options["role"], password=options["password"], unit_id=unit_id
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"user {user.username} ({user.role}) ready"))
