from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    CALL_TAKER = "call_taker", _("Call-taker")
    DISPATCHER = "dispatcher", _("Dispatcher")
    CREW = "crew", _("Ambulance crew")
    SUPERVISOR = "supervisor", _("Supervisor")
    VIEWER = "viewer", _("Viewer")


class User(AbstractUser):
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    # A crew user acts for exactly one unit; nobody else has one.
    unit = models.ForeignKey(
        "fleet.Unit", null=True, blank=True, on_delete=models.SET_NULL, related_name="crew_users"
    )

    language = models.CharField(
        max_length=8, blank=True, choices=[("id", "Bahasa Indonesia"), ("en", "English")], default=""
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=[r.value for r in Role]), name="user_role_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(role="crew") | models.Q(unit__isnull=True), name="user_only_crew_has_unit"
            ),
        ]

    def has_role(self, *roles: str) -> bool:
        return self.is_active and self.role in roles
