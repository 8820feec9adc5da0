"""Pre-emption: a priority-1 incident may take a unit on its way to a priority-3 one.

Only when that unit would arrive more than `DISPATCH["PREEMPT_SAVING_SECONDS"]` sooner than the best free unit
(or when no unit is free at all); 0 turns pre-emption off. The priority-3 incident goes back to the queue: its
assignment is cancelled with the reason "pre-empted" and its re-dispatch is enqueued. Both crews and the
consoles see the change (assignment.updated, assignment.created, incident.updated, alert `preempted`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from calls.models import Incident, IncidentStatus, Priority
from dispatch import events, services
from dispatch.models import ACTIVE_STATUSES, Assignment, AssignmentStatus
from dispatch.plans import candidates_planned
from dispatch.ranking import Candidate, units_free_for, units_ranked_for
from fleet.models import Unit

S = AssignmentStatus
# A unit not yet on scene can be turned around; one on scene has a patient.
PREEMPTIBLE = (S.ASSIGNED, S.ACKNOWLEDGED, S.EN_ROUTE)


@dataclass(frozen=True, slots=True)
class Preemption:
    assignment_id: int  # the priority-3 assignment to take the unit from
    candidate: Candidate
    saving_s: float  # how much sooner than the best free unit (inf: none is free)


def preemption_for(incident: Incident) -> Preemption | None:
    """The unit worth taking from a priority-3 incident for `incident`, if any. Reads only."""
    saving = float(settings.DISPATCH["PREEMPT_SAVING_SECONDS"])
    if saving <= 0 or incident.priority != Priority.RED or not incident.has_place:
        return None
    tried = list(incident.assignments.values_list("unit_id", flat=True))
    free = candidates_planned(
        incident, units_ranked_for(incident, list(units_free_for(incident, exclude_unit_ids=tried)))
    )
    best_free = free[0].score if free else math.inf
    taken = {
        a.unit_id: a
        for a in Assignment.objects.filter(status__in=PREEMPTIBLE, incident__priority=Priority.GREEN)
        .exclude(unit_id__in=tried)
        .exclude(unit__kind=Unit.Kind.TRANSPORT)
        .select_related("unit__station")
    }
    if not taken:
        return None
    ranked = candidates_planned(incident, units_ranked_for(incident, [a.unit for a in taken.values()]))
    if not ranked or best_free - ranked[0].score <= saving:
        return None
    best = ranked[0]
    reason = (
        "pre-empted from a priority-3 incident: no unit free"
        if math.isinf(best_free)
        else f"pre-empted from a priority-3 incident: {best_free - best.score:.0f} s sooner than the best free unit"
    )
    return Preemption(
        taken[best.unit.pk].pk,
        Candidate(best.unit, best.leg, best.score, best.from_station, reason),
        best_free - best.score,
    )


def incident_preempt_if_faster(*, incident_id: int) -> Assignment | None:
    """Give a waiting priority-1 incident a unit taken from a priority-3 one, when the policy allows it.

    Locks both incidents in id order, then the unit, then the priority-3 assignment; re-checks everything under
    the locks (one active assignment per unit holds). Cancels it ("pre-empted"), starts the new one, enqueues
    the priority-3 incident's re-dispatch; events to both crews and the consoles, alert `preempted`.
    """
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is None or incident.status != IncidentStatus.PENDING or incident.outside_service_area:
        return None
    plan = preemption_for(incident)
    if plan is None:
        return None
    other_id = Assignment.objects.filter(pk=plan.assignment_id).values_list("incident_id", flat=True).first()
    if other_id is None or other_id == incident_id:
        return None
    with events.atomic():
        locked = {
            i.pk: i
            for i in Incident.objects.select_for_update()
            .filter(pk__in=sorted([incident_id, other_id]))
            .order_by("pk")
        }
        incident, other = locked[incident_id], locked[other_id]
        if (
            incident.status != IncidentStatus.PENDING
            or incident.assignments.filter(status__in=ACTIVE_STATUSES).exists()
        ):
            return None
        unit = services._lock_unit(plan.candidate.unit.pk)
        old = Assignment.objects.select_for_update().get(pk=plan.assignment_id)
        if old.status not in PREEMPTIBLE or old.incident_id != other.pk or other.priority != Priority.GREEN:
            return None
        old.incident, old.unit = other, unit
        now = timezone.now()
        services._assignment_end(old, S.CANCELLED, by=None, at=now, reason="pre-empted", redispatch=True)
        services._incident_refresh_status(other, by=None, at=now)
        leg = plan.candidate.leg
        new = services._assignment_start(
            incident=incident, unit=unit, by=None, automatic=True, eta=leg.duration_s,
            distance=leg.distance_m, source=leg.source, replaced=old, diverted_from=other,
        )  # fmt: skip
        events.incident_updated(other, unit_ids=[unit.pk])  # read with its assignments by the status refresh
        events.alert(
            "preempted",
            f"Unit {unit.call_sign} dialihkan ke kejadian prioritas 1 {incident.number}; "
            f"kejadian {other.number} kembali menunggu.",
            incident=other,
            unit=unit,
            extra={"assignment": old.pk, "to_incident": incident.pk, "to_assignment": new.pk},
        )
        events.alert(
            "preempted",
            f"Unit {unit.call_sign} diambil dari kejadian prioritas 3 {other.number}.",
            incident=incident,
            unit=unit,
            extra={"assignment": new.pk, "from_incident": other.pk, "saving_seconds": None
                   if math.isinf(plan.saving_s) else round(plan.saving_s)},
        )  # fmt: skip
        return new
