"""Writes that change who goes where. Each takes its row locks first (incident, then unit, then assignment),
changes state, records events last, and leaves tasks and broadcasts to after the commit."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, prefetch_related_objects
from django.utils import timezone
from geopy.distance import geodesic

from accounts.errors import Conflict
from accounts.models import Role, User
from calls.models import OPEN_STATUSES, Call, Incident, IncidentStatus
from dispatch import events, plans, policies, push
from dispatch.lateness import assignments_late_alert
from dispatch.models import (
    ACTIVE_STATUSES,
    UNIT_STATUS_FOR,
    Assignment,
    AssignmentStatus,
    StatusChange,
)
from dispatch.ranking import units_free_for
from fleet.models import FREE_STATUSES, Unit, UnitPosition, UnitStatus
from geo.gazetteer import reverse
from geo.models import Facility
from geo.points import LatLon
from geo.routing import route_between, travel_times_to

log = logging.getLogger(__name__)
S = AssignmentStatus


class NotFound(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class Invalid(Exception):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("invalid")
        self.fields = fields


def _tasks() -> Any:
    from dispatch import tasks  # tasks import services; import lazily to keep the cycle out of load time

    return tasks


def _enqueue(task_name: str, *args: Any, countdown: float | None = None) -> None:
    """Send a task once the transaction commits. A broker that is down loses nothing: the sweeper re-drives."""
    task = getattr(_tasks(), task_name)
    transaction.on_commit(lambda: task.apply_async(args, countdown=countdown), robust=True)


# --- Calls and incidents ------------------------------------------------------------------------


@dataclass
class CallRecorded:
    call: Call
    incident: Incident
    created: bool
    possible_duplicates: list[Incident] = field(default_factory=list)


def _place(incident: Incident) -> None:
    if not incident.has_place:
        return
    assert incident.lat is not None
    assert incident.lon is not None
    found = reverse(LatLon(incident.lat, incident.lon))
    placement = found.placement
    incident.kecamatan, incident.kelurahan = placement.kecamatan, placement.kelurahan
    incident.outside_service_area = placement.inside_service_area is False
    # What a crew looks for on arrival: "dekat Matos (120 m)".
    near = found.nearest
    incident.nearest_place = (
        {"name": near.name, "kind": near.kind, "distance_m": round(near.distance_m)} if near else None
    )


def incidents_possibly_duplicate(
    *, phone: str, location: LatLon | None, exclude_id: int = 0
) -> list[Incident]:
    """Open incidents from the same number, or near the same place, within the duplicate window."""
    cfg = settings.DISPATCH
    since = timezone.now() - timedelta(seconds=cfg["DUPLICATE_WINDOW_SECONDS"])
    same_phone = Exists(Call.objects.filter(incident=OuterRef("pk"), caller_phone=phone))
    wanted = Q(same_phone=True)
    if location is not None:
        radius_deg = cfg["DUPLICATE_DISTANCE_M"] / 111_000 * 1.5
        wanted |= Q(lat__range=(location.lat - radius_deg, location.lat + radius_deg),
                    lon__range=(location.lon - radius_deg, location.lon + radius_deg))  # fmt: skip
    found = (
        Incident.objects.filter(status__in=OPEN_STATUSES, received_at__gte=since)
        .exclude(id=exclude_id)
        .annotate(same_phone=same_phone)
        .filter(wanted)
        .values_list("id", "same_phone", "lat", "lon")
    )
    ids = {
        pk
        for pk, by_phone, lat, lon in found
        if by_phone
        or (
            location is not None
            and lat is not None
            and geodesic((lat, lon), (location.lat, location.lon)).meters <= cfg["DUPLICATE_DISTANCE_M"]
        )
    }
    from dispatch.selectors import incidents_with_detail

    return list(incidents_with_detail().filter(id__in=ids).order_by("-received_at")) if ids else []


def call_record(
    *,
    user: Any,
    caller_phone: str,
    complaint: str,
    priority: int,
    caller_name: str = "",
    location: LatLon | None = None,
    address: str = "",
    patient_count: int = 1,
    notes: str = "",
    incident_id: int | None = None,
    client_id: uuid.UUID | None = None,
) -> CallRecorded:
    """Record a 119 call: a new incident, or attached to `incident_id` (never a second dispatch).

    Same `client_id` twice → the first call, unchanged. Locks the attached incident. After commit: geocoding
    (address only) or auto-dispatch (a place inside the service area), or an alert (outside it).
    """
    now = timezone.now()
    try:
        with events.atomic():
            result = _call_record_locked(
                user=user, now=now, caller_phone=caller_phone, complaint=complaint, priority=priority,
                caller_name=caller_name, location=location, address=address, patient_count=patient_count,
                notes=notes, incident_id=incident_id, client_id=client_id,
            )  # fmt: skip
    except IntegrityError:
        # A replay (or a race) of the same client_id: the first call stands, unchanged; answer with it. Not
        # looked up first: replays are rare, and every new call would pay for the look-up.
        existing = (
            Call.objects.select_related("incident").filter(client_id=client_id).first() if client_id else None
        )
        if existing is None:
            raise
        return CallRecorded(existing, existing.incident, created=False)
    result.possible_duplicates = incidents_possibly_duplicate(
        phone=caller_phone, location=location, exclude_id=result.incident.id
    )
    return result


def _call_record_locked(
    *,
    user: Any,
    now: datetime,
    caller_phone: str,
    complaint: str,
    priority: int,
    caller_name: str,
    location: LatLon | None,
    address: str,
    patient_count: int,
    notes: str,
    incident_id: int | None,
    client_id: uuid.UUID | None,
) -> CallRecorded:
    attach = incident_id is not None
    if attach:
        try:
            incident = Incident.objects.select_for_update().get(pk=int(incident_id))  # type: ignore[arg-type]
        except Incident.DoesNotExist:
            raise Invalid({"incident": "No such incident."}) from None
        if not incident.is_open:
            raise Conflict("The incident is closed; record a new one.", code="incident_closed")
    else:
        incident = Incident(
            priority=priority,
            complaint=complaint,
            lat=location.lat if location else None,
            lon=location.lon if location else None,
            address=address,
            patient_count=patient_count,
            notes=notes,
            received_at=now,
            created_by=user if getattr(user, "is_authenticated", False) else None,
            geocoding=Incident.Geocoding.NOT_NEEDED if location else Incident.Geocoding.PENDING,
        )
        _place(incident)
        incident.save()
        local = timezone.localtime(now)
        incident.number = f"{local:%Y%m%d}-{incident.pk:05d}"
        incident.save(update_fields=["number"])
    call = Call.objects.create(
        incident=incident,
        client_id=client_id,
        caller_phone=caller_phone,
        caller_name=caller_name,
        lat=location.lat if location else None,
        lon=location.lon if location else None,
        address=address,
        complaint=complaint,
        priority=priority,
        patient_count=patient_count,
        notes=notes,
        received_at=now,
        recorded_by=user if getattr(user, "is_authenticated", False) else None,
    )
    changed_unit_ids: list[int] = []
    if attach:
        # A second caller may know more: the worse priority and the larger count win; the place is kept.
        incident.priority = min(incident.priority, priority)
        incident.patient_count = max(incident.patient_count, patient_count)
        if not incident.has_place and location is not None:
            incident.lat, incident.lon = location.lat, location.lon
            incident.geocoding = Incident.Geocoding.NOT_NEEDED
            _place(incident)
        incident.save()
        changed_unit_ids = list(
            incident.assignments.filter(status__in=ACTIVE_STATUSES).values_list("unit_id", flat=True)
        )
    if attach:
        incident = _incident_detail(incident)
    else:  # a new incident: its one call, no assignment yet
        _in_hand(incident, "calls", [call])
        incident = _incident_detail(incident, assignments=[])
    if attach:
        events.call_created(call, actor=user)
        events.incident_updated(incident, actor=user, unit_ids=changed_unit_ids)
    else:
        events.incident_created(incident, actor=user)
        events.call_created(call, actor=user)
    _after_place_known(incident)
    return CallRecorded(call, incident, created=True)


def _incident_fresh(pk: int) -> Incident:
    from dispatch.selectors import incidents_with_detail

    return incidents_with_detail().get(pk=pk)


def _in_hand(instance: Any, related: str, objects: list[Any]) -> None:
    """Give `instance` the objects of its reverse relation `related` as prefetch_related would, without a
    query: the caller holds them all (a new incident's one call, the assignments it has just read and made)."""
    manager = getattr(instance, related)
    cache = instance.__dict__.setdefault("_prefetched_objects_cache", {})
    cache.pop(related, None)
    queryset = manager.get_queryset()
    queryset._result_cache, queryset._prefetch_done = list(objects), True
    cache[related] = queryset


def _incident_detail(incident: Incident, *, assignments: list[Assignment] | None = None) -> Incident:
    """The incident in hand (locked, changed) with its calls and assignments, for its status and its
    representation: what `_incident_fresh` gives, without reading the incident again.

    Its assignments are read again every time (the second unit of a multi-unit dispatch must not be missing
    from the incident's event), unless the caller holds all of them (`assignments`); its calls only if not
    read yet: they change only when a call is recorded, which reads the incident afresh."""
    cache = getattr(incident, "_prefetched_objects_cache", None)
    if cache is not None:
        cache.pop("assignments", None)  # prefetching skips what it has fetched once
    if assignments is not None:
        _in_hand(incident, "assignments", assignments)
    prefetch_related_objects(
        [incident],
        "calls",
        Prefetch("assignments", queryset=Assignment.objects.select_related("unit", "hospital")),
    )
    for assignment in incident.assignments.all():
        assignment.incident = incident
    return incident


def _unit_detail(unit: Unit, active: list[Assignment]) -> Unit:
    """The unit in hand (locked with its station) with what the caller knows to be its active assignment."""
    unit.active_assignments = active  # type: ignore[attr-defined]  # as units_with_assignment() prefetches
    return unit


def _after_place_known(incident: Incident) -> None:
    """Inside a transaction: what follows once an incident's place is (or is not yet) known."""
    if not incident.is_open or incident.status != IncidentStatus.PENDING:
        return
    if not incident.has_place:
        if incident.geocoding == Incident.Geocoding.PENDING:
            _enqueue("geocode_incident", incident.id)
        return
    if incident.outside_service_area:
        events.alert(
            "outside_service_area",
            "Lokasi di luar wilayah layanan: tidak ditugaskan otomatis.",
            incident=incident,
        )
        return
    _enqueue("dispatch_incident", incident.id)


def incident_place_set(
    *, incident_id: int, location: LatLon | None, found: bool, user: Any = None
) -> Incident:
    """Geocoding's answer for an address-only incident; locks the incident; dispatches when found."""
    with events.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident_id)
        if incident.has_place or incident.geocoding != Incident.Geocoding.PENDING:
            return incident
        if found and location is not None:
            incident.lat, incident.lon = location.lat, location.lon
            incident.geocoding = Incident.Geocoding.FOUND
            _place(incident)
        else:
            incident.geocoding = Incident.Geocoding.NOT_FOUND
        incident.save()
        incident = _incident_fresh(incident.pk)
        events.incident_updated(incident, actor=user)
        if not found:
            events.alert(
                "address_not_found", "Alamat tidak ditemukan: tentukan lokasi di peta.", incident=incident
            )
        _after_place_known(incident)
    return incident


# --- Status bookkeeping ------------------------------------------------------------------------


def _incident_status_from(incident: Incident, assignments: list[Assignment]) -> str:
    active = [a for a in assignments if a.is_active]
    if not active:
        if any(a.status == S.CLEARED for a in assignments):
            return IncidentStatus.CLOSED
        return IncidentStatus.PENDING
    statuses = {a.status for a in active}
    if statuses & {S.TRANSPORTING, S.AT_HOSPITAL}:
        return IncidentStatus.TRANSPORTING
    if S.ON_SCENE in statuses:
        return IncidentStatus.ON_SCENE
    return IncidentStatus.DISPATCHED


def _incident_refresh_status(
    incident: Incident, *, by: Any, at: datetime, assignments: list[Assignment] | None = None
) -> bool:
    """Recompute an open incident's status from its assignments (read again here, with its calls, so the
    incident is ready for its event, unless the caller holds them all: `assignments`); True when it changed."""
    _incident_detail(incident, assignments=assignments)
    if not incident.is_open:
        return False
    new = _incident_status_from(incident, list(incident.assignments.all()))
    if new == incident.status:
        return False
    events.status_changed(
        subject=StatusChange.Subject.INCIDENT, incident=incident, from_status=incident.status, to_status=new,
        at=at, by=_who(by),
    )  # fmt: skip
    incident.status = new
    if new == IncidentStatus.CLOSED:
        incident.closed_at = at
    incident.save(update_fields=["status", "closed_at", "updated_at"])
    return True


def _who(user: Any) -> Any:
    return user if getattr(user, "is_authenticated", False) else None


def _unit_set(unit: Unit, status: str, *, by: Any, at: datetime, reason: str = "") -> None:
    if unit.status == status and unit.status_reason == reason:
        return
    events.status_changed(
        subject=StatusChange.Subject.UNIT, unit=unit, from_status=unit.status, to_status=status, at=at,
        by=_who(by), reason=reason,
    )  # fmt: skip
    unit.status, unit.status_reason, unit.status_at = status, reason, at
    unit.save(update_fields=["status", "status_reason", "status_at"])


def _lock_unit(unit_id: int) -> Unit:
    try:
        return Unit.objects.select_for_update(of=("self",)).select_related("station").get(pk=unit_id)
    except Unit.DoesNotExist:
        raise NotFound("unit") from None


# --- Assignments -------------------------------------------------------------------------------


def _assignment_start(
    *,
    incident: Incident,
    unit: Unit,
    by: Any,
    automatic: bool,
    eta: float | None,
    distance: float | None,
    source: str,
    replaced: Assignment | None = None,
    earlier: list[Assignment] | None = None,
    diverted_from: Incident | None = None,
) -> Assignment:
    """With incident and unit locked: create the assignment, move the unit, schedule the ack timeout.
    `earlier`: all the incident's assignments before this one, when the caller holds them (with their units
    and hospitals); the new one is added to that list.

    Routing runs before the first event is recorded, so the event lock is never held while routing.
    """
    now = timezone.now()
    route = None
    origin = _unit_position(unit)
    if origin is not None and incident.has_place:
        assert incident.lat is not None
        assert incident.lon is not None
        found = route_between(origin=origin, destination=LatLon(incident.lat, incident.lon))
        route = found.geometry
    assignment = Assignment.objects.create(
        incident=incident, unit=unit, status=S.ASSIGNED, eta_seconds=None if eta is None else round(eta, 1),
        distance_m=None if distance is None else round(distance, 1),
        source=source, route=route, assigned_at=now, assigned_by=_who(by), automatic=automatic,
        diverted_from=diverted_from,
    )  # fmt: skip
    events.status_changed(
        subject=StatusChange.Subject.ASSIGNMENT, assignment=assignment, to_status=S.ASSIGNED, at=now, by=_who(by),
        reason="automatic" if automatic else "manual",
    )  # fmt: skip
    _unit_set(unit, UnitStatus.ASSIGNED, by=by, at=now)
    assignment.hospital = None
    if earlier is not None:
        earlier.append(assignment)
    _incident_refresh_status(incident, by=by, at=now, assignments=earlier)
    if replaced is not None:
        # The replaced unit's crew and the consoles learn that it is off this incident, before the new one.
        events.assignment_updated(_assignment_fresh(replaced.pk), actor=by)
        events.unit_updated(_unit_fresh(replaced.unit_id), actor=by)
    events.assignment_created(assignment, actor=by)
    events.unit_updated(_unit_detail(unit, [assignment]), actor=by)
    events.incident_updated(incident, actor=by)
    # The sweeper expires it too, should this timer be lost with a worker.
    _enqueue("expire_assignment", assignment.id, countdown=settings.DISPATCH["ACK_TIMEOUT_SECONDS"])
    if push.subscribed(unit_id=unit.pk):
        _enqueue("push_assignment", assignment.id)
    return assignment


def _unit_position(unit: Unit) -> LatLon | None:
    if unit.lat is not None and unit.lon is not None:
        return LatLon(unit.lat, unit.lon)
    if unit.station is not None:
        return LatLon(unit.station.lat, unit.station.lon)
    return None


def _unit_fresh(pk: int) -> Unit:
    from dispatch.selectors import units_with_assignment

    return units_with_assignment().get(pk=pk)


def incident_dispatch_auto(
    *, incident_id: int, alert_if_none: bool = True, skip_locked: bool = False
) -> Assignment | None:
    """Give the incident the best free unit, if it still needs one.

    Locks the incident, then claims units best-first with SKIP LOCKED so concurrent workers never wait on
    or share a unit; the partial unique constraint is the last word. No unit → alert (once per call site).
    More patients than one unit carries → several units (`plans.units_more_needed`); priority 1 may first
    pre-empt a unit from priority 3 (`preemption`, its own transaction and lock order). `skip_locked`: an
    incident another transaction holds is being dispatched there; the queue passes it by instead of waiting.
    """
    if settings.DISPATCH["PREEMPT_SAVING_SECONDS"] > 0:
        from dispatch.preemption import incident_preempt_if_faster

        preempted = incident_preempt_if_faster(incident_id=incident_id)
        if preempted is not None:
            return preempted
    with events.atomic():
        incident = Incident.objects.select_for_update(skip_locked=skip_locked).filter(pk=incident_id).first()
        if incident is None or incident.status != IncidentStatus.PENDING or not incident.has_place:
            return None
        if incident.outside_service_area:
            return None
        earlier = list(incident.assignments.select_related("unit", "hospital"))
        if any(a.is_active for a in earlier):
            return None
        # A unit that declined, timed out or was taken off this incident is not sent back to it.
        tried = [a.unit_id for a in earlier if a.status in (S.DECLINED, S.EXPIRED, S.CANCELLED)]
        candidates = policies.units_ranked(incident, list(units_free_for(incident, exclude_unit_ids=tried)))
        first: Assignment | None = None
        carried = sent = 0
        for candidate in candidates:
            unit = (
                Unit.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("station")
                .filter(pk=candidate.unit.pk, status__in=FREE_STATUSES)
                .exclude(Exists(Assignment.objects.filter(unit=OuterRef("pk"), status__in=ACTIVE_STATUSES)))
                .first()
            )
            if unit is None:
                continue
            held = len(earlier)
            try:
                with transaction.atomic():
                    started = _assignment_start(
                        incident=incident, unit=unit, by=None, automatic=True, eta=candidate.leg.duration_s,
                        distance=candidate.leg.distance_m, source=candidate.leg.source, earlier=earlier,
                    )  # fmt: skip
            except IntegrityError:
                del earlier[held:]  # rolled back with its savepoint
                log.warning("unit %s was taken concurrently; trying the next", unit.pk)
                continue
            first, carried, sent = first or started, carried + unit.capacity, sent + 1
            if not plans.units_more_needed(patients=incident.patient_count, carried=carried, sent=sent):
                break
        if first is not None:
            if carried < incident.patient_count:
                events.alert(
                    "units_short",
                    f"Hanya {sent} unit untuk {incident.patient_count} pasien.",
                    incident=incident,
                )
            return first
        if alert_if_none:
            events.alert("no_unit_available", "Tidak ada unit siaga: kejadian menunggu.", incident=incident)
    return None


def assignment_create(
    *, incident_id: int, unit_id: int, by: Any, replace_id: int | None = None
) -> Assignment:
    """A dispatcher's choice: send `unit_id`, optionally replacing one of the incident's active assignments.

    Locks incident, unit, then the replaced assignment. 409 if the unit is not free or the incident is over.
    """
    with events.atomic():
        incident = Incident.objects.select_for_update().filter(pk=incident_id).first()
        if incident is None:
            raise NotFound("incident")
        if not incident.is_open:
            raise Conflict("The incident is closed or cancelled.", code="incident_closed")
        if not Unit.objects.filter(pk=unit_id).exists():
            raise Invalid({"unit": "No such unit."})
        replaced: Assignment | None = None
        if replace_id is not None:
            replaced_unit_id = (
                Assignment.objects.filter(pk=replace_id, incident=incident)
                .values_list("unit_id", flat=True)
                .first()
            )
            if replaced_unit_id is None:
                raise Invalid({"replace": "No such assignment on this incident."})
            if replaced_unit_id == unit_id:
                raise Conflict("That unit already holds this assignment.", code="same_unit")
            # Units in id order, so that two dispatchers swapping units cannot deadlock.
            locked = {u.pk: u for u in Unit.objects.select_for_update(of=("self",)).select_related("station")
                      .filter(pk__in=sorted([unit_id, replaced_unit_id])).order_by("pk")}  # fmt: skip
            unit = locked[unit_id]
            replaced = Assignment.objects.select_for_update().get(pk=replace_id)
            if not replaced.is_active:
                raise Conflict("The assignment to replace has already ended.", code="assignment_ended")
        else:
            unit = _lock_unit(unit_id)
        if not unit.is_free or unit.assignments.filter(status__in=ACTIVE_STATUSES).exists():
            raise Conflict(f"Unit {unit.call_sign} is not free ({unit.status}).", code="unit_not_free")
        if replaced is not None:
            _assignment_end(
                replaced, S.CANCELLED, by=by, at=timezone.now(), reason="reassigned", redispatch=False
            )
        origin = _unit_position(unit)
        leg = None
        if origin is not None and incident.lat is not None and incident.lon is not None:
            leg = travel_times_to(destination=LatLon(incident.lat, incident.lon), origins=[origin])[0]
        return _assignment_start(
            incident=incident, unit=unit, by=by, automatic=False,
            eta=leg.duration_s if leg else None, distance=leg.distance_m if leg else None,
            source=leg.source if leg else "geodesic", replaced=replaced,
        )  # fmt: skip


def _queue_serve_after_commit() -> None:
    """A unit came free: once this commits, offer it to the waiting incidents, if any wait. Looked at after
    commit: an incident that found no unit before then is waiting by now, and one recorded later is
    dispatched by its own task, which sees this unit free."""

    def serve_if_waiting() -> None:
        if _incidents_waiting().exists():
            _tasks().serve_queue.apply_async()

    transaction.on_commit(serve_if_waiting, robust=True)


def _assignment_end(
    assignment: Assignment,
    status: str,
    *,
    by: Any,
    at: datetime,
    reason: str,
    redispatch: bool,
    client_id: uuid.UUID | None = None,
) -> None:
    """With incident, unit and assignment locked: end it and free (or mark) the unit."""
    previous = assignment.status
    assignment.status = status
    assignment.ended_at = at
    assignment.ended_reason = reason or status
    if status == S.CLEARED:
        assignment.cleared_at = at
    # Only what changed: the route (kilobytes of coordinates) is not written again.
    assignment.save(update_fields=["status", "ended_at", "ended_reason", "cleared_at"])
    events.status_changed(
        subject=StatusChange.Subject.ASSIGNMENT, assignment=assignment, from_status=previous, to_status=status,
        at=at, by=_who(by), reason=reason, client_id=client_id,
    )  # fmt: skip
    unit = assignment.unit
    if status == S.EXPIRED:
        _unit_set(unit, UnitStatus.OUT_OF_SERVICE, by=by, at=at, reason="ack_timeout")
    elif status == S.CLEARED or previous in (S.EN_ROUTE, S.ON_SCENE, S.TRANSPORTING, S.AT_HOSPITAL):
        _unit_set(unit, UnitStatus.RETURNING, by=by, at=at)
    else:
        _unit_set(unit, UnitStatus.AVAILABLE, by=by, at=at)
    if unit.is_free:
        _queue_serve_after_commit()
    if redispatch and assignment.incident.is_open:
        _enqueue("dispatch_incident", assignment.incident_id)


def assignment_transition(
    *,
    assignment_id: int,
    status: str,
    by: Any,
    at: datetime | None = None,
    hospital_id: int | None = None,
    client_id: uuid.UUID | None = None,
    reason: str = "",
) -> Assignment:
    """Move an assignment through the one transition table; a repeated status or replayed tap is a no-op.

    Locks incident, unit, assignment in that order. `at` (an offline tap's time) is kept, clamped between the
    previous status's time and now. The unit and incident follow; an ended one frees the unit and re-dispatches.
    """
    if client_id is not None and StatusChange.objects.filter(client_id=client_id).exists():
        return _assignment_fresh(assignment_id)
    ref = Assignment.objects.filter(pk=assignment_id).values("incident_id", "unit_id").first()
    if ref is None:
        raise NotFound("assignment")
    now = timezone.now()
    try:
        with events.atomic():
            incident = Incident.objects.select_for_update().get(pk=ref["incident_id"])
            unit = _lock_unit(ref["unit_id"])
            assignment = (
                Assignment.objects.select_for_update(of=("self",))
                .select_related("hospital")
                .get(pk=assignment_id)
            )
            assignment.incident, assignment.unit = incident, unit
            if assignment.status == status:
                return _assignment_fresh(assignment_id)
            # Checked again under the locks: the twin of a resent tap may have committed (and a later tap
            # after it) while this one waited.
            if client_id is not None and StatusChange.objects.filter(client_id=client_id).exists():
                return _assignment_fresh(assignment_id)
            if not assignment.can_move_to(status):
                raise Conflict(
                    f"An assignment cannot go from {assignment.status} to {status}.",
                    code="transition_not_allowed",
                )
            hospital = None
            if status == S.TRANSPORTING and hospital_id is not None:
                hospital = Facility.objects.filter(pk=hospital_id, kind=Facility.Kind.HOSPITAL).first()
                if hospital is None:
                    raise Invalid({"hospital": "No such hospital."})
            last = max(t for t in (assignment.assigned_at, assignment.acknowledged_at, assignment.en_route_at,
                                   assignment.on_scene_at, assignment.transporting_at, assignment.at_hospital_at)
                       if t is not None)  # fmt: skip
            when = min(max(at or now, last), now)
            if status in (S.DECLINED, S.EXPIRED, S.CANCELLED, S.CLEARED):
                _assignment_end(assignment, status, by=by, at=when, reason=reason, client_id=client_id,
                                redispatch=status in (S.DECLINED, S.EXPIRED))  # fmt: skip
            else:
                previous = assignment.status
                if status == S.EN_ROUTE and assignment.acknowledged_at is None:
                    assignment.acknowledged_at = when
                setattr(assignment, f"{status}_at", when)
                assignment.status = status
                if hospital is not None:
                    assignment.hospital = hospital
                assignment.save(update_fields=["status", "acknowledged_at", f"{status}_at", "hospital"])
                events.status_changed(
                    subject=StatusChange.Subject.ASSIGNMENT, assignment=assignment, from_status=previous,
                    to_status=status, at=when, by=_who(by), client_id=client_id, reason=reason,
                )  # fmt: skip
                _unit_set(unit, UNIT_STATUS_FOR[status], by=by, at=when)
            _incident_refresh_status(incident, by=by, at=when)
            events.assignment_updated(assignment, actor=by)
            events.unit_updated(_unit_detail(unit, [assignment] if assignment.is_active else []), actor=by)
            events.incident_updated(incident, actor=by)
            if status == S.EXPIRED:
                events.alert("ack_timeout", f"Unit {unit.call_sign} tidak menjawab penugasan.", incident=incident,
                             unit=unit)  # fmt: skip
            elif status == S.DECLINED:
                events.alert(
                    "declined", f"Unit {unit.call_sign} menolak penugasan.", incident=incident, unit=unit
                )
            return assignment
    except IntegrityError:
        # Only a replayed client_id racing its twin can land here: the twin was applied.
        if client_id is not None and StatusChange.objects.filter(client_id=client_id).exists():
            return _assignment_fresh(assignment_id)
        raise


def _assignment_fresh(pk: int) -> Assignment:
    return Assignment.objects.select_related("incident", "unit", "hospital").get(pk=pk)


def assignment_expire_if_unacknowledged(*, assignment_id: int) -> bool:
    """The ack timeout: an assignment still `assigned` after its time expires; True when it did."""
    timeout = timedelta(seconds=settings.DISPATCH["ACK_TIMEOUT_SECONDS"])
    assignment = Assignment.objects.filter(pk=assignment_id).first()
    if assignment is None or assignment.status != S.ASSIGNED:
        return False
    if timezone.now() - assignment.assigned_at < timeout - timedelta(seconds=0.5):
        return False
    try:
        result = assignment_transition(
            assignment_id=assignment_id, status=S.EXPIRED, by=None, reason="ack_timeout"
        )
    except Conflict:
        return False  # acknowledged in the meantime
    return result.status == S.EXPIRED


def incident_cancel(*, incident_id: int, reason: str, by: Any) -> Incident:
    """Cancel an open incident: locks it, then its units; active assignments are cancelled, units freed."""
    with events.atomic():
        incident = Incident.objects.select_for_update().filter(pk=incident_id).first()
        if incident is None:
            raise NotFound("incident")
        if incident.status == IncidentStatus.CANCELLED:
            return _incident_fresh(incident.pk)
        if incident.status == IncidentStatus.CLOSED:
            raise Conflict("The incident is already closed.", code="incident_closed")
        now = timezone.now()
        active_ids = list(
            incident.assignments.filter(status__in=ACTIVE_STATUSES)
            .order_by("unit_id")
            .values_list("id", "unit_id")
        )
        units = {u.pk: u for u in Unit.objects.select_for_update(of=("self",)).select_related("station")
                 .filter(pk__in=[u for _, u in active_ids]).order_by("pk")}  # fmt: skip
        ended = []
        for assignment in (
            Assignment.objects.select_for_update(of=("self",))
            .select_related("hospital")
            .filter(pk__in=[a for a, _ in active_ids])
        ):
            assignment.incident, assignment.unit = incident, units[assignment.unit_id]
            _assignment_end(
                assignment, S.CANCELLED, by=by, at=now, reason="incident cancelled", redispatch=False
            )
            ended.append(assignment)
        events.status_changed(
            subject=StatusChange.Subject.INCIDENT, incident=incident, from_status=incident.status,
            to_status=IncidentStatus.CANCELLED, at=now, by=_who(by), reason=reason[:200],
        )  # fmt: skip
        incident.status = IncidentStatus.CANCELLED
        incident.cancel_reason = reason
        incident.closed_at = now
        incident.save(update_fields=["status", "cancel_reason", "closed_at", "updated_at"])
        _incident_detail(incident)
        for assignment in ended:
            events.assignment_updated(assignment, actor=by)
        for unit in units.values():
            # A unit has one active assignment at most: this incident's, now ended.
            events.unit_updated(_unit_detail(unit, []), actor=by)
        events.incident_updated(incident, actor=by)
        return incident


# --- Units -------------------------------------------------------------------------------------


def unit_set_status(*, unit_id: int, status: str, by: Any) -> Unit:
    """A crew or dispatcher sets available / returning / out of service; 409 while the unit is on a job."""
    with events.atomic():
        unit = _lock_unit(unit_id)
        if unit.status == status:
            return _unit_fresh(unit.pk)
        if unit.assignments.filter(status__in=ACTIVE_STATUSES).exists():
            raise Conflict(f"Unit {unit.call_sign} is on an assignment.", code="unit_busy")
        if not unit.can_set_manually(status):
            raise Conflict(
                f"A unit cannot go from {unit.status} to {status} by hand.", code="transition_not_allowed"
            )
        _unit_set(unit, status, by=by, at=timezone.now())
        events.unit_updated(_unit_fresh(unit.pk), actor=by)
        if unit.is_free:
            _queue_serve_after_commit()
        return _unit_fresh(unit.pk)


@dataclass(frozen=True)
class Position:
    lat: float
    lon: float
    at: datetime
    heading: float | None = None
    speed: float | None = None
    accuracy: float | None = None


@dataclass(frozen=True)
class PositionBatch:
    """One phone's batch of positions for its unit, oldest first, and who sent it."""

    unit_id: int
    positions: list[Position]
    by: Any


def unit_positions_record(*, unit_id: int, positions: list[Position], by: Any) -> int:
    """Store a batch of positions (oldest first); the unit's position moves only forward in time."""
    if not positions:
        if not Unit.objects.filter(pk=unit_id).exists():
            raise NotFound("unit")
        return 0
    (accepted,) = unit_positions_record_many([PositionBatch(unit_id, positions, by)])
    if accepted is None:
        raise NotFound("unit")
    return accepted


def unit_positions_record_many(batches: list[PositionBatch], *, crew_only: bool = False) -> list[int | None]:
    """Store several phones' batches in one transaction: how many positions each one gave, or None for a
    batch refused (its unit is gone or, with `crew_only`, its sender is no longer an active crew member of
    that unit).

    `unit.moved` is thinned: told at most once per DISPATCH["UNIT_MOVED_MIN_SECONDS"] per unit (a phone sends a
    batch every few seconds, so normally every batch is told; a flood is not)."""
    results: list[int | None] = [len(batch.positions) for batch in batches]
    with events.atomic():
        # Locked in id order, so that transactions of several processes never wait on each other in a circle.
        units = {
            unit.pk: unit
            for unit in Unit.objects.select_for_update(of=("self",))
            .filter(pk__in={batch.unit_id for batch in batches})
            .only("call_sign", "status", "location_at", "moved_told_at")  # unit.moved sets the rest
            .order_by("pk")
        }
        crews: dict[int, int | None] = {}
        if crew_only:
            senders = {batch.by.pk for batch in batches}
            crews = dict(
                User.objects.filter(pk__in=senders, is_active=True, role=Role.CREW).values_list(
                    "pk", "unit_id"
                )
            )
        rows: list[UnitPosition] = []
        newest: dict[int, tuple[Position, Any]] = {}
        for i, batch in enumerate(batches):
            if batch.unit_id not in units or (crew_only and crews.get(batch.by.pk) != batch.unit_id):
                results[i] = None
                continue
            rows.extend(
                UnitPosition(unit_id=batch.unit_id, lat=p.lat, lon=p.lon, at=p.at, heading=p.heading,
                             speed=p.speed, accuracy=p.accuracy)
                for p in batch.positions
            )  # fmt: skip
            if batch.positions:
                latest = max(batch.positions, key=lambda p: p.at)
                if batch.unit_id not in newest or latest.at > newest[batch.unit_id][0].at:
                    newest[batch.unit_id] = (latest, batch.by)
        if rows:
            UnitPosition.objects.bulk_create(rows)
        now = timezone.now()
        min_gap = timedelta(seconds=settings.DISPATCH["UNIT_MOVED_MIN_SECONDS"])
        moved: list[Unit] = []
        told: list[tuple[Unit, Any]] = []
        for unit_id, (latest, by) in newest.items():
            unit = units[unit_id]
            if unit.location_at is not None and latest.at <= unit.location_at:
                continue
            unit.lat, unit.lon, unit.location_at = latest.lat, latest.lon, latest.at
            unit.heading, unit.speed, unit.accuracy = latest.heading, latest.speed, latest.accuracy
            moved.append(unit)
            if unit.moved_told_at is None or now - unit.moved_told_at >= min_gap:
                unit.moved_told_at = now
                told.append((unit, by))
        if moved:
            _units_moved_write(moved)
        for unit, by in told:
            events.unit_moved(unit, actor=by)
    return results


_MOVED_FIELDS = ("lat", "lon", "location_at", "heading", "speed", "accuracy", "moved_told_at")


def _units_moved_write(units: list[Unit]) -> None:
    """One parametrised UPDATE sent for every moved unit at once (psycopg pipelines an executemany); the ORM's
    bulk_update builds a CASE per field and value, and cost more CPU than the rest of the write together."""
    connection = transaction.get_connection()
    meta, quote = Unit._meta, connection.ops.quote_name
    by_name = {f.name: f for f in meta.concrete_fields}
    columns = [by_name[name] for name in _MOVED_FIELDS]
    assignments = ", ".join(f"{quote(c.column)} = %s" for c in columns)
    # Only the model's own, quoted names go into the text; every value is a parameter.
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
    rows = [[c.get_db_prep_save(getattr(u, c.attname), connection) for c in columns] + [u.pk] for u in units]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


# --- The queue ---------------------------------------------------------------------------------


def _incidents_waiting() -> QuerySet[Incident]:
    """What the queue serves: pending incidents with a place inside the service area."""
    return Incident.objects.filter(
        status=IncidentStatus.PENDING, lat__isnull=False, outside_service_area=False
    )


def queue_serve(*, limit: int = 50) -> int:
    """Offer free units to waiting incidents, by priority then age; returns how many were assigned."""
    waiting = list(
        _incidents_waiting().order_by("priority", "received_at", "id").values_list("id", flat=True)[:limit]
    )
    assigned = 0
    for incident_id in waiting:
        if not Unit.objects.filter(status__in=FREE_STATUSES).exists():
            break
        # Every freed unit runs this: workers pass by incidents another is dispatching instead of queueing
        # behind them (the sweeper comes back to anything left).
        if incident_dispatch_auto(incident_id=incident_id, alert_if_none=False, skip_locked=True) is not None:
            assigned += 1
    return assigned


def assignments_overdue_for_ack() -> list[int]:
    cutoff = timezone.now() - timedelta(seconds=settings.DISPATCH["ACK_TIMEOUT_SECONDS"])
    return list(
        Assignment.objects.filter(status=S.ASSIGNED, assigned_at__lte=cutoff).values_list("id", flat=True)
    )


def sweep() -> dict[str, int]:
    """Re-drive what a lost task or a broker outage left behind; idempotent, run by Celery beat."""
    expired = sum(
        assignment_expire_if_unacknowledged(assignment_id=pk) for pk in assignments_overdue_for_ack()
    )
    stuck_before = timezone.now() - timedelta(seconds=settings.DISPATCH["STUCK_PENDING_SECONDS"])
    geocoding = list(
        Incident.objects.filter(
            status=IncidentStatus.PENDING, geocoding=Incident.Geocoding.PENDING, received_at__lte=stuck_before
        ).values_list("id", flat=True)[:50]
    )
    for pk in geocoding:
        _tasks().geocode_incident.delay(pk)
    assigned = queue_serve()
    late = assignments_late_alert()
    return {"expired": expired, "assigned": assigned, "geocoding": len(geocoding), "late": late}
