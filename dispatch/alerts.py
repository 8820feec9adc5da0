"""Alerts stay on every console until a dispatcher acknowledges them; the acknowledgement is kept here.

An alert is an `Event` of type "alert" (see events.alert); its `seq` is its id on every screen.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import QuerySet
from django.utils import timezone

if TYPE_CHECKING:
    from dispatch.models import Event


class AlertAcknowledgement(models.Model):
    """Who took charge of an alert, and when: one per alert, never changed."""

    event = models.OneToOneField("dispatch.Event", on_delete=models.PROTECT, related_name="acknowledgement")
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        app_label = "dispatch"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"alert #{self.event_id} acknowledged"


def alerts_open(*, since: datetime) -> QuerySet[Event]:
    """Alerts raised since `since` that nobody has acknowledged yet, oldest first."""
    from dispatch.models import Event  # models imports this module: import late

    return Event.objects.filter(
        type="alert", for_console=True, at__gte=since, acknowledgement__isnull=True
    ).order_by("id")


class NotAnAlert(Exception):
    pass


def alert_acknowledge(*, seq: int, by: Any) -> AlertAcknowledgement:
    """Acknowledge the alert `seq`; a second acknowledgement is a no-op that returns the first."""
    from dispatch.models import Event  # models imports this module: import late

    if not Event.objects.filter(pk=seq, type="alert").exists():
        raise NotAnAlert(seq)
    existing = AlertAcknowledgement.objects.filter(event_id=seq).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return AlertAcknowledgement.objects.create(
                event_id=seq, by=by if getattr(by, "is_authenticated", False) else None, at=timezone.now()
            )
    except IntegrityError:
        # Two dispatchers clicked at once: the other one's acknowledgement stands.
        return AlertAcknowledgement.objects.get(event_id=seq)
