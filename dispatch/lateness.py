"""Late units: one `late` alert when a unit has not reached the scene by its ETA plus a margin."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from calls.models import Incident
from dispatch import events
from dispatch.models import Assignment, AssignmentStatus, Event

S = AssignmentStatus
# Still on the way: the ETA promised the scene and it has not been reached.
ON_THE_WAY = (S.ASSIGNED, S.ACKNOWLEDGED, S.EN_ROUTE)


def assignments_late_alert(*, limit: int = 100) -> int:
    """Alert `late` once per assignment whose unit is past (departure or assignment) + ETA + margin.

    Locks the incident, then the assignment (as services do), re-checks, records the alert; returns how many.
    """
    margin = timedelta(seconds=settings.DISPATCH["LATE_MARGIN_SECONDS"])
    now = timezone.now()
    due = []
    # A fleet's units on the way: a few dozen rows at most.
    on_the_way = Assignment.objects.filter(status__in=ON_THE_WAY, eta_seconds__isnull=False).order_by("id")
    for pk, assigned_at, en_route_at, eta in on_the_way.values_list(
        "id", "assigned_at", "en_route_at", "eta_seconds"
    ):
        if eta is not None and (en_route_at or assigned_at) + timedelta(seconds=eta) + margin < now:
            due.append(pk)
    if due:
        done = set(
            Event.objects.filter(type="alert", data__code="late", data__assignment__in=due).values_list(
                "data__assignment", flat=True
            )
        )
        due = [pk for pk in due if pk not in done]
    return sum(_late_alert(pk, margin=margin) for pk in due[:limit])


def _late_alert(assignment_id: int, *, margin: timedelta) -> bool:
    incident_id = Assignment.objects.filter(pk=assignment_id).values_list("incident_id", flat=True).first()
    if incident_id is None:
        return False
    with events.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident_id)
        assignment = (
            Assignment.objects.select_for_update(of=("self",)).select_related("unit").get(pk=assignment_id)
        )
        if assignment.status not in ON_THE_WAY or assignment.eta_seconds is None:
            return False
        if Event.objects.filter(
            type="alert", incident_id=incident_id, data__code="late", data__assignment=assignment_id
        ).exists():
            return False
        over = (timezone.now() - (assignment.en_route_at or assignment.assigned_at)).total_seconds()
        late_by = over - assignment.eta_seconds
        if late_by <= margin.total_seconds():
            return False
        unit = assignment.unit
        events.alert(
            "late",
            f"Unit {unit.call_sign} terlambat {late_by / 60:.0f} menit dari perkiraan tiba.",
            incident=incident,
            unit=unit,
            extra={"assignment": assignment_id, "late_by_seconds": round(late_by)},
        )
        return True
