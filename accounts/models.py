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


class PushSubscription(models.Model):
    """Where a user's browser takes Web Push messages (RFC 8030), and its keys to encrypt them (RFC 8291): a crew
    phone rings for a new job even when the app is closed. The endpoint is the push service's (Google, Mozilla,
    Apple); it ends when the service says it is gone or the user logs out on that phone."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=200, help_text="the browser's public key, base64url")
    auth = models.CharField(max_length=100, help_text="the shared authentication secret, base64url")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="last accepted by the push service")

    def __str__(self) -> str:
        return f"{self.user} → {self.endpoint[:60]}"
