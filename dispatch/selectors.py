"""Reads: querysets shaped for the serializers, so a list costs a fixed number of queries."""

from django.db.models import Prefetch, QuerySet

from calls.models import OPEN_STATUSES, Incident
from dispatch.models import ACTIVE_STATUSES, Assignment, Event
from fleet.models import Unit


def incidents_with_detail() -> QuerySet[Incident]:
    return Incident.objects.prefetch_related(
        "calls",
        Prefetch("assignments", queryset=Assignment.objects.select_related("incident", "unit", "hospital")),
    )


def incidents_open() -> QuerySet[Incident]:
    return incidents_with_detail().filter(status__in=OPEN_STATUSES)


def units_with_assignment() -> QuerySet[Unit]:
    return Unit.objects.select_related("station").prefetch_related(
        Prefetch(
            "assignments",
            queryset=Assignment.objects.filter(status__in=ACTIVE_STATUSES).select_related("incident"),
            to_attr="active_assignments",
        )
    )


def assignment_active_for_unit(*, unit_id: int) -> Assignment | None:
    return (
        Assignment.objects.select_related("incident", "unit", "hospital")
        .filter(unit_id=unit_id, status__in=ACTIVE_STATUSES)
        .first()
    )


def assignments_with_detail() -> QuerySet[Assignment]:
    return Assignment.objects.select_related("incident", "unit", "hospital")


def events_visible(*, unit_id: int | None, after: int, before: int | None = None) -> QuerySet[Event]:
    """Events after `after` (and before `before`) that a console (unit_id None) or one unit's crew may see."""
    events = Event.objects.filter(id__gt=after)
    if before is not None:
        events = events.filter(id__lt=before)
    events = events.filter(for_console=True) if unit_id is None else events.filter(unit_id=unit_id)
    return events.order_by("id")


def event_last_seq() -> int:
    last = Event.objects.order_by("-id").values_list("id", flat=True).first()
    return last or 0
