"""Dispatch services: auto-dispatch, the queue, timeouts, cancel, calls, units, positions, events, intervals."""

import uuid
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from accounts.errors import Conflict
from accounts.models import Role
from calls.models import Call, Incident
from dispatch import reports, services, tasks
from dispatch.models import Assignment, Event, StatusChange
from fleet.models import MANUAL_STATUSES, Unit, UnitPosition
from geo.models import Region
from geo.points import LatLon
from tests.factories import CENTRE, KM, AssignmentFactory, IncidentFactory, UnitFactory, UserFactory

pytestmark = pytest.mark.django_db


def unit_at(km_north: float, **fields) -> Unit:
    """A free unit `km_north` of the centre, with a fresh position."""
    fields.setdefault("location_at", timezone.now())
    return UnitFactory(lat=CENTRE[0] + km_north * KM, lon=CENTRE[1], **fields)


def incident(**fields) -> Incident:
    return IncidentFactory(lat=CENTRE[0], lon=CENTRE[1], **fields)


def active(incident: Incident) -> list[Assignment]:
    return list(
        Assignment.objects.filter(
            incident=incident,
            status__in=["assigned", "acknowledged", "en_route", "on_scene", "transporting", "at_hospital"],
        )
    )


def dispatched_unit(incident: Incident) -> Unit | None:
    pk = tasks.dispatch_incident(incident.pk)
    return Assignment.objects.get(pk=pk).unit if pk else None


def types(sent: list[dict]) -> list[str]:
    return [e["type"] for e in sent]


def alerts(code: str) -> list[Event]:
    return [e for e in Event.objects.filter(type="alert") if e.data["code"] == code]


@pytest.fixture
def user(db):
    return UserFactory(role=Role.DISPATCHER)


# --- Auto-dispatch --------------------------------------------------------------------------------


def test_auto_dispatch_sends_the_nearest_free_unit():
    far, near, middle = unit_at(3), unit_at(0.5), unit_at(1.5)
    unit_at(0.1, status="out_of_service")
    busy = unit_at(0.2)
    services.assignment_create(incident_id=incident().pk, unit_id=busy.pk, by=None)
    wanted = incident()

    assert dispatched_unit(wanted) == near

    assignment = active(wanted)[0]
    assert assignment.automatic is True
    assert assignment.source == "geodesic"
    assert assignment.distance_m == pytest.approx(500 * 1.4, rel=0.02)
    assert assignment.eta_seconds == pytest.approx(assignment.distance_m / (30 / 3.6), rel=0.01)
    near.refresh_from_db()
    assert near.status == "assigned"
    wanted.refresh_from_db()
    assert wanted.status == "dispatched"
    assert far.status == middle.status == "available"


def test_auto_dispatch_takes_a_returning_unit_too():
    returning = unit_at(1, status="returning")
    unit_at(2)
    assert dispatched_unit(incident()) == returning


def test_auto_dispatch_ranks_a_stale_position_from_the_units_post():
    # Its last position is next to the incident but an hour old: it is ranked from its post, 5 km away.
    stale = unit_at(0.1, location_at=timezone.now() - timedelta(hours=1))
    stale.station.lat = CENTRE[0] + 5 * KM
    stale.station.save()
    fresh = unit_at(1)
    assert dispatched_unit(incident()) == fresh


@pytest.mark.parametrize(
    ("preference_s", "priority", "expected"),
    [
        (180, 1, "als"),  # BLS 0.5 km (84 s + 180 s) against ALS 1.5 km (252 s)
        (0, 1, "bls"),  # without the preference the nearer BLS wins
        (180, 2, "bls"),  # the preference is for priority 1 only
        (180, 3, "bls"),
    ],
)
def test_priority_1_prefers_als_by_counting_bls_slower(settings, preference_s, priority, expected):
    settings.DISPATCH = {**settings.DISPATCH, "ALS_PREFERENCE_SECONDS": preference_s}
    unit_at(0.5, kind="bls")
    unit_at(1.5, kind="als")
    assert dispatched_unit(incident(priority=priority)).kind == expected


def test_priority_1_takes_a_much_nearer_bls_when_the_als_is_far(settings):
    settings.DISPATCH = {**settings.DISPATCH, "ALS_PREFERENCE_SECONDS": 180}
    bls = unit_at(0.5, kind="bls")  # 84 s + 180 s
    unit_at(3, kind="als")  # 504 s
    assert dispatched_unit(incident(priority=1)) == bls


def test_priority_1_never_takes_a_transport_unit():
    unit_at(0.1, kind="transport")
    als = unit_at(4, kind="als")
    assert dispatched_unit(incident(priority=1)) == als


def test_priority_1_with_only_transport_units_free_waits_with_an_alert():
    transport = unit_at(0.1, kind="transport")
    waiting = incident(priority=1)

    assert dispatched_unit(waiting) is None

    waiting.refresh_from_db()
    assert waiting.status == "pending"
    assert [a.incident_id for a in alerts("no_unit_available")] == [waiting.pk]
    transport.refresh_from_db()
    assert transport.status == "available"


def test_a_green_call_may_take_a_transport_unit():
    transport = unit_at(0.1, kind="transport")
    unit_at(3, kind="als")
    assert dispatched_unit(incident(priority=3)) == transport


def test_no_free_unit_leaves_the_incident_pending_and_alerts_the_consoles(
    sent_events, django_capture_on_commit_callbacks
):
    unit_at(1, status="out_of_service")
    waiting = incident()

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.dispatch_incident(waiting.pk) is None

    waiting.refresh_from_db()
    assert waiting.status == "pending"
    assert Assignment.objects.count() == 0
    assert types(sent_events) == ["alert"]
    assert sent_events[0]["data"]["code"] == "no_unit_available"
    assert sent_events[0]["data"]["incident"] == waiting.pk


def test_auto_dispatch_leaves_an_incident_that_already_has_a_unit_alone():
    unit_at(1)
    unit_at(2)
    served = incident()
    dispatched_unit(served)

    assert tasks.dispatch_incident(served.pk) is None
    assert len(active(served)) == 1


@pytest.mark.parametrize("status", ["cancelled", "closed"])
def test_auto_dispatch_ignores_an_incident_that_is_over(status):
    unit_at(1)
    assert tasks.dispatch_incident(incident(status=status).pk) is None
    assert Assignment.objects.count() == 0


def test_auto_dispatch_ignores_an_incident_outside_the_service_area():
    unit_at(1)
    outside = incident(outside_service_area=True)
    assert tasks.dispatch_incident(outside.pk) is None
    assert Assignment.objects.count() == 0


# --- The queue ------------------------------------------------------------------------------------


@pytest.mark.parametrize("waiting", [True, False])
def test_a_freed_unit_wakes_the_queue_after_commit_only_when_an_incident_waits(
    user, waiting, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(tasks.serve_queue, "apply_async", lambda *a, **k: sent.append(a))
    unit = unit_at(1, status="out_of_service")
    if waiting:
        assert dispatched_unit(incident(priority=2)) is None
    incident(priority=2, outside_service_area=True)  # never served by the queue: not a reason to wake it

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.unit_set_status(unit_id=unit.pk, status="available", by=user)
    assert sent == []  # not before commit
    for callback in callbacks:
        callback()

    assert len(sent) == (1 if waiting else 0)


def test_a_freed_unit_goes_to_the_waiting_incident_with_the_highest_priority_then_the_oldest(user):
    now = timezone.now()
    unit = unit_at(1, status="out_of_service")
    green_oldest = incident(priority=3, received_at=now - timedelta(minutes=30))
    yellow_newer = incident(priority=2, received_at=now - timedelta(minutes=1))
    yellow_older = incident(priority=2, received_at=now - timedelta(minutes=5))
    for waiting in (green_oldest, yellow_newer, yellow_older):
        assert dispatched_unit(waiting) is None

    services.unit_set_status(unit_id=unit.pk, status="available", by=user)
    assert tasks.serve_queue() == 1

    assert [a.incident for a in Assignment.objects.all()] == [yellow_older]
    second = unit_at(2, status="out_of_service")
    services.unit_set_status(unit_id=second.pk, status="available", by=user)
    tasks.serve_queue()
    assert active(yellow_newer)[0].unit == second
    assert active(green_oldest) == []


def test_a_unit_freed_by_clearing_is_given_to_the_waiting_incident(user):
    unit = unit_at(1)
    first = incident()
    assignment = Assignment.objects.get(pk=tasks.dispatch_incident(first.pk))
    waiting = incident(priority=1)
    assert tasks.dispatch_incident(waiting.pk) is None

    for step in ["en_route", "on_scene", "cleared"]:
        services.assignment_transition(assignment_id=assignment.pk, status=step, by=user)
    unit.refresh_from_db()
    assert unit.status == "returning"

    assert tasks.serve_queue() == 1
    assert active(waiting)[0].unit == unit


def test_the_queue_skips_an_incident_no_free_unit_is_fit_for():
    unit_at(1, kind="transport")
    red = incident(priority=1, received_at=timezone.now() - timedelta(minutes=10))
    green = incident(priority=3)
    assert services.queue_serve() == 1
    assert active(red) == []
    assert active(green)[0].unit.kind == "transport"


def test_the_queue_does_nothing_without_a_free_unit():
    unit_at(1, status="out_of_service")
    incident()
    assert services.queue_serve() == 0
    assert Assignment.objects.count() == 0


# --- Timeouts, declines, re-dispatch ---------------------------------------------------------------


def test_an_unacknowledged_assignment_expires_and_the_next_unit_goes(
    sent_events, sent_tasks, django_capture_on_commit_callbacks
):
    near, far = unit_at(0.5), unit_at(2)
    waiting = incident()
    first = tasks.dispatch_incident(waiting.pk)
    Assignment.objects.filter(pk=first).update(assigned_at=timezone.now() - timedelta(seconds=61))

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.expire_assignment(first) is True

    expired = Assignment.objects.get(pk=first)
    assert expired.status == "expired"
    assert expired.ended_reason == "ack_timeout"
    near.refresh_from_db()
    assert (near.status, near.status_reason) == ("out_of_service", "ack_timeout")
    assert types(sent_events) == ["assignment.updated", "unit.updated", "incident.updated", "alert"]
    assert sent_events[-1]["data"]["code"] == "ack_timeout"
    assert sent_events[-1]["data"]["unit"] == near.pk
    assert sent_events[2]["data"]["status"] == "pending"
    assert [(name, args) for name, args, _ in sent_tasks()] == [("dispatch_incident", (waiting.pk,))]

    assert dispatched_unit(waiting) == far


def test_an_assignment_does_not_expire_before_its_time(settings):
    settings.DISPATCH = {**settings.DISPATCH, "ACK_TIMEOUT_SECONDS": 60}
    unit = unit_at(1)
    first = tasks.dispatch_incident(incident().pk)
    Assignment.objects.filter(pk=first).update(assigned_at=timezone.now() - timedelta(seconds=30))

    assert tasks.expire_assignment(first) is False

    assert Assignment.objects.get(pk=first).status == "assigned"
    unit.refresh_from_db()
    assert unit.status == "assigned"


def test_an_acknowledged_assignment_never_expires(user):
    unit_at(1)
    first = tasks.dispatch_incident(incident().pk)
    services.assignment_transition(assignment_id=first, status="acknowledged", by=user)
    Assignment.objects.filter(pk=first).update(assigned_at=timezone.now() - timedelta(hours=1))

    assert tasks.expire_assignment(first) is False
    assert Assignment.objects.get(pk=first).status == "acknowledged"


def test_the_sweep_expires_lost_timers_and_serves_the_queue():
    unit_at(0.5)
    far = unit_at(2)
    waiting = incident()
    first = tasks.dispatch_incident(waiting.pk)
    Assignment.objects.filter(pk=first).update(assigned_at=timezone.now() - timedelta(minutes=5))

    result = tasks.sweep()

    assert result["expired"] == 1
    assert result["assigned"] == 1
    assert active(waiting)[0].unit == far


def test_a_declined_assignment_frees_the_unit_and_the_next_unit_goes(
    user, sent_tasks, django_capture_on_commit_callbacks
):
    near, far = unit_at(0.5), unit_at(2)
    waiting = incident()
    first = tasks.dispatch_incident(waiting.pk)

    with django_capture_on_commit_callbacks(execute=True):
        services.assignment_transition(assignment_id=first, status="declined", by=user)

    near.refresh_from_db()
    assert near.status == "available"
    waiting.refresh_from_db()
    assert waiting.status == "pending"
    assert [a.data["unit"] for a in alerts("declined")] == [near.pk]
    assert {(name, args) for name, args, _ in sent_tasks()} == {
        ("serve_queue", ()),
        ("dispatch_incident", (waiting.pk,)),
    }
    # The unit that declined is free again, yet not asked twice for the same incident.
    assert dispatched_unit(waiting) == far


def test_a_cancelled_assignment_sends_the_next_unit_not_the_same_one_again(
    user, sent_tasks, django_capture_on_commit_callbacks
):
    near, far = unit_at(0.5), unit_at(2)
    waiting = incident()
    first = tasks.dispatch_incident(waiting.pk)

    with django_capture_on_commit_callbacks(execute=True):
        services.assignment_transition(assignment_id=first, status="cancelled", by=user)

    near.refresh_from_db()
    assert near.status == "available"
    waiting.refresh_from_db()
    assert waiting.status == "pending"
    assert ("serve_queue", ()) in [(name, args) for name, args, _ in sent_tasks()]
    # The queue serves the incident again, but not with the unit the dispatcher just took off it.
    tasks.serve_queue()
    assert active(waiting)[0].unit == far


# --- Manual assignment, replace, cancel ------------------------------------------------------------


def test_a_dispatcher_assignment_takes_a_free_unit_and_is_not_automatic(
    user, settings, sent_tasks, django_capture_on_commit_callbacks
):
    settings.DISPATCH = {**settings.DISPATCH, "ACK_TIMEOUT_SECONDS": 60}
    unit = unit_at(1)
    target = incident()

    with django_capture_on_commit_callbacks(execute=True):
        assignment = services.assignment_create(incident_id=target.pk, unit_id=unit.pk, by=user)

    assert (assignment.status, assignment.automatic, assignment.assigned_by) == ("assigned", False, user)
    assert assignment.eta_seconds > 0
    unit.refresh_from_db()
    assert unit.status == "assigned"
    # Its acknowledgement timer leaves after commit, due when the timeout runs out.
    ((name, args, eta),) = sent_tasks()
    assert (name, args) == ("expire_assignment", (assignment.pk,))
    due = datetime.fromisoformat(eta) - assignment.assigned_at
    assert timedelta(seconds=59) <= due <= timedelta(seconds=62)


@pytest.mark.parametrize("unit_status", ["out_of_service", "assigned", "en_route", "on_scene"])
def test_a_dispatcher_cannot_take_a_unit_that_is_not_free(user, unit_status, db_state):
    unit = unit_at(1, status=unit_status)
    target = incident()
    seen = db_state()

    with pytest.raises(Conflict) as raised:
        services.assignment_create(incident_id=target.pk, unit_id=unit.pk, by=user)

    assert raised.value.error_code == "unit_not_free"
    assert db_state() == seen


def test_a_unit_never_holds_two_active_assignments(user):
    unit = unit_at(1)
    services.assignment_create(incident_id=incident().pk, unit_id=unit.pk, by=user)
    Unit.objects.filter(pk=unit.pk).update(status="available")  # a stale status must not fool it

    with pytest.raises(Conflict):
        services.assignment_create(incident_id=incident().pk, unit_id=unit.pk, by=user)
    assert Assignment.objects.filter(unit=unit).count() == 1


def test_replace_cancels_the_old_assignment_frees_its_unit_and_tells_everyone(
    user, sent_events, django_capture_on_commit_callbacks
):
    old_unit, new_unit = unit_at(0.5), unit_at(2)
    target = incident()
    old = tasks.dispatch_incident(target.pk)

    with django_capture_on_commit_callbacks(execute=True):
        new = services.assignment_create(incident_id=target.pk, unit_id=new_unit.pk, by=user, replace_id=old)

    replaced = Assignment.objects.get(pk=old)
    assert (replaced.status, replaced.ended_reason) == ("cancelled", "reassigned")
    old_unit.refresh_from_db()
    assert old_unit.status == "available"
    assert [a.pk for a in active(target)] == [new.pk]
    updated = [e["data"] for e in sent_events if e["type"] == "assignment.updated"]
    assert [(d["id"], d["status"]) for d in updated] == [(old, "cancelled")]
    units_told = {e["data"]["id"]: e["data"]["status"] for e in sent_events if e["type"] == "unit.updated"}
    assert units_told == {old_unit.pk: "available", new_unit.pk: "assigned"}
    assert types(sent_events)[-1] == "incident.updated"


def test_replace_with_the_same_unit_is_a_conflict(user, db_state):
    unit = unit_at(1)
    target = incident()
    old = tasks.dispatch_incident(target.pk)
    seen = db_state()

    with pytest.raises(Conflict):
        services.assignment_create(incident_id=target.pk, unit_id=unit.pk, by=user, replace_id=old)
    assert db_state() == seen


def test_replace_of_an_assignment_of_another_incident_is_invalid(user, db_state):
    unit_at(1)
    spare = unit_at(2)
    elsewhere = tasks.dispatch_incident(incident().pk)
    target = incident(status="pending")
    seen = db_state()

    with pytest.raises(services.Invalid):
        services.assignment_create(incident_id=target.pk, unit_id=spare.pk, by=user, replace_id=elsewhere)
    assert db_state() == seen


def test_assigning_to_a_closed_incident_is_a_conflict(user):
    unit = unit_at(1)
    with pytest.raises(Conflict) as raised:
        services.assignment_create(incident_id=incident(status="closed").pk, unit_id=unit.pk, by=user)
    assert raised.value.error_code == "incident_closed"


def test_cancel_ends_every_active_assignment_and_frees_the_units(
    user, sent_events, django_capture_on_commit_callbacks
):
    departed, alerted = unit_at(0.5), unit_at(2)
    target = incident()
    a = services.assignment_create(incident_id=target.pk, unit_id=departed.pk, by=user)
    services.assignment_create(incident_id=target.pk, unit_id=alerted.pk, by=user)
    services.assignment_transition(assignment_id=a.pk, status="en_route", by=user)

    with django_capture_on_commit_callbacks(execute=True):
        result = services.incident_cancel(incident_id=target.pk, reason="penelepon iseng", by=user)

    assert (result.status, result.cancel_reason) == ("cancelled", "penelepon iseng")
    assert result.closed_at is not None
    assert active(target) == []
    assert {a.status for a in Assignment.objects.filter(incident=target)} == {"cancelled"}
    departed.refresh_from_db()
    alerted.refresh_from_db()
    assert (departed.status, alerted.status) == ("returning", "available")
    change = StatusChange.objects.filter(incident=target, to_status="cancelled").get()
    assert (change.by, change.reason) == (user, "penelepon iseng")
    assert types(sent_events) == ["assignment.updated"] * 2 + ["unit.updated"] * 2 + ["incident.updated"]
    assert sent_events[-1]["data"]["status"] == "cancelled"


def test_cancel_twice_is_a_no_op_and_a_closed_incident_cannot_be_cancelled(user):
    target = incident()
    services.incident_cancel(incident_id=target.pk, reason="batal", by=user)
    changes = StatusChange.objects.count()
    assert services.incident_cancel(incident_id=target.pk, reason="lagi", by=user).cancel_reason == "batal"
    assert StatusChange.objects.count() == changes

    with pytest.raises(Conflict):
        services.incident_cancel(incident_id=incident(status="closed").pk, reason="batal", by=user)


def test_a_cancelled_incident_is_never_dispatched_again(user):
    unit_at(1)
    target = incident()
    services.incident_cancel(incident_id=target.pk, reason="batal", by=user)
    assert tasks.dispatch_incident(target.pk) is None
    assert services.queue_serve() == 0


# --- Calls ----------------------------------------------------------------------------------------


def record(user, **fields) -> services.CallRecorded:
    values = {
        "caller_phone": "+6281234567890",
        "complaint": "pingsan",
        "priority": 2,
        "location": LatLon(*CENTRE),
    } | fields
    return services.call_record(user=user, **values)


def test_a_call_creates_a_numbered_incident_and_tells_the_consoles_after_commit(
    user, sent_events, sent_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = record(user, patient_count=2, notes="lantai 2")

    assert result.created
    incident = Incident.objects.get()
    assert result.incident.pk == incident.pk
    assert incident.number == f"{timezone.localtime(incident.received_at):%Y%m%d}-{incident.pk:05d}"
    assert (incident.status, incident.priority, incident.patient_count) == ("pending", 2, 2)
    assert result.call.incident_id == incident.pk
    assert result.call.recorded_by == user
    assert types(sent_events) == ["incident.created", "call.created"]
    assert sent_events[0]["seq"] < sent_events[1]["seq"]
    assert [(name, args) for name, args, _ in sent_tasks()] == [("dispatch_incident", (incident.pk,))]


def test_nothing_is_broadcast_before_commit(user, sent_events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record(user)
    assert sent_events == []
    assert len(callbacks) >= 3  # two broadcasts and the dispatch task


def test_the_whole_flow_is_told_in_order(user, sent_events, django_capture_on_commit_callbacks):
    unit = unit_at(1)
    with django_capture_on_commit_callbacks(execute=True):
        result = record(user)
    with django_capture_on_commit_callbacks(execute=True):
        pk = tasks.dispatch_incident(result.incident.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.assignment_transition(assignment_id=pk, status="en_route", by=user)

    assert types(sent_events) == [
        "incident.created",
        "call.created",
        "assignment.created",
        "unit.updated",
        "incident.updated",
        "assignment.updated",
        "unit.updated",
        "incident.updated",
    ]
    seqs = [e["seq"] for e in sent_events]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert sent_events[2]["data"]["unit"]["id"] == unit.pk
    assert sent_events[3]["data"]["status"] == "assigned"
    assert sent_events[6]["data"]["status"] == "en_route"
    assert list(Event.objects.values_list("type", flat=True)) == types(sent_events)


def test_the_same_client_id_twice_records_one_call(user):
    client_id = uuid.uuid4()
    first = record(user, client_id=client_id)
    again = record(user, client_id=client_id, complaint="lain")

    assert again.created is False
    assert again.call.pk == first.call.pk
    assert Call.objects.count() == Incident.objects.count() == 1
    assert Call.objects.get().complaint == "pingsan"


def test_a_call_outside_the_service_area_is_not_dispatched_and_alerts(
    user, sent_tasks, django_capture_on_commit_callbacks
):
    lat, lon = CENTRE
    square = [
        [lon - 0.05, lat - 0.05],
        [lon + 0.05, lat - 0.05],
        [lon + 0.05, lat + 0.05],
        [lon - 0.05, lat + 0.05],
        [lon - 0.05, lat - 0.05],
    ]
    Region.objects.create(
        kind="service_area", name="Kota Malang", geometry={"type": "Polygon", "coordinates": [square]}
    )
    unit_at(1)

    with django_capture_on_commit_callbacks(execute=True):
        inside = record(user).incident
        outside = record(user, location=LatLon(lat + 0.5, lon)).incident

    assert (inside.outside_service_area, outside.outside_service_area) == (False, True)
    assert [e.incident_id for e in alerts("outside_service_area")] == [outside.pk]
    assert [(name, args) for name, args, _ in sent_tasks()] == [("dispatch_incident", (inside.pk,))]
    assert tasks.dispatch_incident(outside.pk) is None
    assert dispatched_unit(inside) is not None


def test_a_call_with_only_an_address_waits_for_geocoding_and_is_not_dispatched(
    user, sent_tasks, django_capture_on_commit_callbacks
):
    unit_at(1)
    with django_capture_on_commit_callbacks(execute=True):
        result = record(user, location=None, address="Jl. Ijen 10")
    assert (result.incident.geocoding, result.incident.has_place) == ("pending", False)
    assert [(name, args) for name, args, _ in sent_tasks()] == [("geocode_incident", (result.incident.pk,))]
    assert tasks.dispatch_incident(result.incident.pk) is None


def test_attaching_a_call_never_dispatches_a_second_unit(user):
    unit_at(1)
    unit_at(2)
    first = record(user, priority=3, patient_count=1)
    tasks.dispatch_incident(first.incident.pk)

    second = record(
        user, incident_id=first.incident.pk, priority=1, patient_count=3, caller_phone="0811111111"
    )
    tasks.dispatch_incident(first.incident.pk)
    services.queue_serve()

    assert second.created
    assert Incident.objects.count() == 1
    assert Call.objects.filter(incident=first.incident).count() == 2
    assert len(active(first.incident)) == 1
    merged = Incident.objects.get()
    assert (merged.priority, merged.patient_count) == (1, 3)  # the worse priority and the larger count


def test_attaching_to_a_closed_incident_is_a_conflict_and_records_nothing(user, db_state):
    closed = incident(status="closed")
    seen = db_state()
    with pytest.raises(Conflict):
        record(user, incident_id=closed.pk)
    assert db_state() == seen


def test_attaching_to_an_unknown_incident_is_invalid(user, db_state):
    seen = db_state()
    with pytest.raises(services.Invalid):
        record(user, incident_id=987654321)
    assert db_state() == seen


def test_a_call_from_the_same_number_suggests_the_open_incident(user):
    earlier = record(user, caller_phone="+6281299990000", location=LatLon(CENTRE[0] + 5 * KM, CENTRE[1]))
    result = record(user, caller_phone="+6281299990000")
    assert [i.pk for i in result.possible_duplicates] == [earlier.incident.pk]


def test_a_call_near_an_open_incident_suggests_it(user):
    earlier = record(user, caller_phone="+6281200000001")
    near = LatLon(CENTRE[0] + 0.2 * KM, CENTRE[1])  # 200 m, inside the 250 m default
    result = record(user, caller_phone="+6281200000002", location=near)
    assert [i.pk for i in result.possible_duplicates] == [earlier.incident.pk]


@pytest.mark.parametrize("why", ["far", "closed", "cancelled", "old"])
def test_no_duplicate_is_suggested_for_what_is_far_over_or_old(user, why):
    earlier = record(user, caller_phone="+6281200000001").incident
    if why in ("closed", "cancelled"):
        Incident.objects.filter(pk=earlier.pk).update(status=why)
    if why == "old":
        Incident.objects.filter(pk=earlier.pk).update(received_at=timezone.now() - timedelta(hours=1))
    place = LatLon(CENTRE[0] + (0.3 if why == "far" else 0.1) * KM, CENTRE[1])
    result = record(user, caller_phone="+6281200000002", location=place)
    assert result.possible_duplicates == []


# --- Units ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"), [(a, b) for a in MANUAL_STATUSES for b in MANUAL_STATUSES if a != b]
)
def test_a_unit_without_a_job_can_be_set_to_any_manual_status(user, before, after):
    unit = unit_at(1, status=before)
    result = services.unit_set_status(unit_id=unit.pk, status=after, by=user)
    unit.refresh_from_db()
    assert result.status == unit.status == after
    change = StatusChange.objects.filter(unit=unit).get()
    assert (change.from_status, change.to_status, change.by) == (before, after, user)


def test_setting_the_same_unit_status_again_is_a_no_op(user, db_state):
    unit = unit_at(1, status="returning")
    seen = db_state()
    services.unit_set_status(unit_id=unit.pk, status="returning", by=user)
    assert db_state() == seen


@pytest.mark.parametrize("status", ["available", "out_of_service", "returning"])
@pytest.mark.parametrize("assignment_status", ["assigned", "en_route", "at_hospital"])
def test_a_unit_on_an_assignment_cannot_be_set_by_hand(user, db_state, status, assignment_status):
    unit = unit_at(1)
    a = services.assignment_create(incident_id=incident().pk, unit_id=unit.pk, by=user)
    for step in {
        "assigned": [],
        "en_route": ["en_route"],
        "at_hospital": ["en_route", "on_scene", "transporting", "at_hospital"],
    }[assignment_status]:
        services.assignment_transition(assignment_id=a.pk, status=step, by=user)
    seen = db_state()

    with pytest.raises(Conflict) as raised:
        services.unit_set_status(unit_id=unit.pk, status=status, by=user)

    assert raised.value.status_code == 409
    assert raised.value.error_code == "unit_busy"
    assert db_state() == seen


def test_a_unit_set_available_after_a_timeout_takes_work_again(
    user, sent_tasks, django_capture_on_commit_callbacks
):
    unit = unit_at(1, status="out_of_service", status_reason="ack_timeout")
    waiting = incident()
    assert tasks.dispatch_incident(waiting.pk) is None

    with django_capture_on_commit_callbacks(execute=True):
        services.unit_set_status(unit_id=unit.pk, status="available", by=user)
    unit.refresh_from_db()
    assert unit.status_reason == ""
    assert [name for name, _, _ in sent_tasks()] == ["serve_queue"]
    tasks.serve_queue()
    assert active(waiting)[0].unit == unit


def test_positions_are_stored_and_move_the_unit_only_forward_in_time(
    user, sent_events, django_capture_on_commit_callbacks
):
    unit = unit_at(0, location_at=timezone.now() - timedelta(minutes=10))
    t = timezone.now() - timedelta(minutes=5)
    batch = [
        services.Position(-7.97, 112.63, t, heading=90),
        services.Position(-7.96, 112.64, t + timedelta(seconds=5)),
    ]

    with django_capture_on_commit_callbacks(execute=True):
        assert services.unit_positions_record(unit_id=unit.pk, positions=batch, by=user) == 2

    unit.refresh_from_db()
    assert (unit.lat, unit.lon, unit.location_at) == (-7.96, 112.64, t + timedelta(seconds=5))
    assert types(sent_events) == ["unit.moved"]
    assert sent_events[0]["data"]["location"] == {"lat": -7.96, "lon": 112.64}

    late = [services.Position(-7.5, 112.5, t - timedelta(minutes=1))]  # buffered offline, older
    with django_capture_on_commit_callbacks(execute=True):
        services.unit_positions_record(unit_id=unit.pk, positions=late, by=user)

    unit.refresh_from_db()
    assert (unit.lat, unit.lon) == (-7.96, 112.64)
    assert UnitPosition.objects.filter(unit=unit).count() == 3
    assert types(sent_events) == ["unit.moved"]


def test_positions_for_an_unknown_unit_are_not_found(user):
    with pytest.raises(services.NotFound):
        services.unit_positions_record(unit_id=987654321, positions=[], by=user)
    with pytest.raises(services.NotFound):
        services.unit_positions_record(
            unit_id=987654321, positions=[services.Position(-7.97, 112.63, timezone.now())], by=user
        )


def test_unit_moved_is_thinned_but_the_unit_always_has_its_newest_position(
    user, sent_events, django_capture_on_commit_callbacks, settings
):
    settings.DISPATCH = {**settings.DISPATCH, "UNIT_MOVED_MIN_SECONDS": 60}
    unit = unit_at(0, location_at=timezone.now() - timedelta(minutes=10))
    t = timezone.now() - timedelta(minutes=5)
    for k in range(3):
        fix = [services.Position(-7.97 + k / 100, 112.63, t + timedelta(seconds=k))]
        with django_capture_on_commit_callbacks(execute=True):
            services.unit_positions_record(unit_id=unit.pk, positions=fix, by=user)
        unit.refresh_from_db()
        assert unit.lat == pytest.approx(-7.97 + k / 100)
    # The first move is told; the next two, within a minute of it, are not.
    assert types(sent_events) == ["unit.moved"]
    assert sent_events[0]["data"]["location"]["lat"] == pytest.approx(-7.97)

    Unit.objects.filter(pk=unit.pk).update(moved_told_at=timezone.now() - timedelta(seconds=61))
    with django_capture_on_commit_callbacks(execute=True):
        services.unit_positions_record(
            unit_id=unit.pk, positions=[services.Position(-7.90, 112.63, t + timedelta(seconds=9))], by=user
        )
    assert types(sent_events) == ["unit.moved", "unit.moved"]
    assert sent_events[1]["data"]["location"]["lat"] == pytest.approx(-7.90)


# --- Intervals and the report ------------------------------------------------------------------------


def timed_incident(start, *, priority=2, kecamatan="Klojen", **stamps):
    """A closed incident received at `start` whose one assignment has the given second offsets."""
    at = {name: start + timedelta(seconds=s) for name, s in stamps.items() if s is not None}
    target = IncidentFactory(
        received_at=start,
        priority=priority,
        kecamatan=kecamatan,
        status="closed",
        closed_at=at.get("closed_at"),
    )
    AssignmentFactory(incident=target, status="cleared", **{k: v for k, v in at.items() if k != "closed_at"})
    return target


def test_intervals_are_computed_from_the_status_timestamps():
    start = timezone.now() - timedelta(hours=2)
    target = timed_incident(
        start,
        assigned_at=60,
        acknowledged_at=70,
        en_route_at=90,
        on_scene_at=390,
        transporting_at=990,
        at_hospital_at=1890,
        cleared_at=2400,
        closed_at=2490,
    )

    intervals = reports.incident_intervals(target, list(target.assignments.all()))

    assert intervals == {
        "call_to_dispatch": 60,
        "turnout": 30,
        "travel": 300,
        "response": 390,
        "on_scene": 600,
        "transport": 900,
        "total": 2490,
    }


def test_intervals_measure_the_first_unit_to_arrive_not_the_one_that_declined():
    start = timezone.now() - timedelta(hours=2)
    target = IncidentFactory(received_at=start, status="on_scene")
    s = lambda seconds: start + timedelta(seconds=seconds)  # noqa: E731
    AssignmentFactory(incident=target, status="declined", assigned_at=s(30), ended_at=s(40))
    AssignmentFactory(
        incident=target, status="on_scene", assigned_at=s(45), en_route_at=s(100), on_scene_at=s(700)
    )
    AssignmentFactory(
        incident=target, status="on_scene", assigned_at=s(50), en_route_at=s(60), on_scene_at=s(500)
    )

    intervals = reports.incident_intervals(target, list(target.assignments.all()))

    assert intervals["call_to_dispatch"] == 30  # the first unit alerted
    assert intervals["turnout"] == 10  # the first to depart: 50 → 60
    assert intervals["travel"] == 440  # the first to arrive: 60 → 500
    assert intervals["response"] == 500
    assert intervals["on_scene"] is None  # still there
    assert intervals["transport"] is None
    assert intervals["total"] is None  # not closed


def test_the_report_gives_count_mean_median_and_p90_overall_by_priority_and_kecamatan():
    start = timezone.now() - timedelta(hours=3)
    for response, priority, kecamatan in [(300, 1, "Klojen"), (600, 1, "Blimbing"), (1200, 2, "Klojen")]:
        timed_incident(
            start,
            priority=priority,
            kecamatan=kecamatan,
            assigned_at=60,
            en_route_at=120,
            on_scene_at=response,
            cleared_at=response + 600,
            closed_at=response + 700,
        )
    cancelled = IncidentFactory(received_at=start, status="cancelled")
    AssignmentFactory(incident=cancelled, status="cancelled", assigned_at=start, on_scene_at=start)
    timed_incident(start - timedelta(days=30), assigned_at=1, en_route_at=2, on_scene_at=3)  # before `since`

    report = reports.response_time_report(since=start - timedelta(minutes=1), until=None)

    assert report["incidents"] == 3
    assert figures(report["overall"]["response"]) == {
        "count": 3,
        "mean": 700.0,
        "median": 600.0,
        "p90": 1080.0,
    }
    assert figures(report["overall"]["turnout"]) == {"count": 3, "mean": 60.0, "median": 60.0, "p90": 60.0}
    assert figures(report["overall"]["transport"]) == {"count": 0, "mean": None, "median": None, "p90": None}
    assert figures(report["by_priority"]["1"]["response"]) == {
        "count": 2,
        "mean": 450.0,
        "median": 450.0,
        "p90": 570.0,
    }
    assert report["by_priority"]["2"]["response"]["count"] == 1
    assert report["by_kecamatan"]["Klojen"]["response"]["median"] == 750.0
    assert report["by_kecamatan"]["Blimbing"]["total"]["mean"] == 1300.0


def figures(table: dict) -> dict:
    return {k: table[k] for k in ("count", "mean", "median", "p90")}


def test_the_report_window_is_since_inclusive_until_exclusive():
    start = timezone.now() - timedelta(hours=3)
    timed_incident(start, assigned_at=10)
    timed_incident(start + timedelta(hours=1), assigned_at=20)

    assert reports.response_time_report(since=start, until=start + timedelta(hours=1))["incidents"] == 1
    assert reports.response_time_report(since=None, until=None)["overall"]["call_to_dispatch"]["mean"] == 15.0
