"""The assignment status machine of product.md, walked through `assignment_transition` cell by cell."""

from datetime import timedelta
from itertools import product

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from accounts.errors import Conflict
from accounts.models import Role
from calls.models import Incident
from dispatch import services
from dispatch.models import TRANSITIONS, Assignment, Event, StatusChange
from fleet.models import Unit
from tests.factories import HospitalFactory, IncidentFactory, UnitFactory, UserFactory

pytestmark = pytest.mark.django_db

STATUSES = [
    "assigned",
    "acknowledged",
    "en_route",
    "on_scene",
    "transporting",
    "at_hospital",
    "cleared",
    "declined",
    "expired",
    "cancelled",
]

# product.md: assigned → acknowledged → en_route → on_scene → [transporting → at_hospital] → cleared;
# or declined, expired (no ack in time), cancelled before cleared. A crew may depart without a separate ack.
EXPECTED_TABLE = {
    "assigned": {"acknowledged", "en_route", "declined", "expired", "cancelled"},
    "acknowledged": {"en_route", "cancelled"},
    "en_route": {"on_scene", "cancelled"},
    "on_scene": {"transporting", "cleared", "cancelled"},
    "transporting": {"at_hospital", "cancelled"},
    "at_hospital": {"cleared", "cancelled"},
}
ALLOWED = [(a, b) for a, b in product(STATUSES, STATUSES) if b in EXPECTED_TABLE.get(a, set())]
REFUSED = [(a, b) for a, b in product(STATUSES, STATUSES) if a != b and b not in EXPECTED_TABLE.get(a, set())]

# How to reach each status from a fresh assignment.
PATH = {
    "assigned": [],
    "acknowledged": ["acknowledged"],
    "en_route": ["acknowledged", "en_route"],
    "on_scene": ["acknowledged", "en_route", "on_scene"],
    "transporting": ["acknowledged", "en_route", "on_scene", "transporting"],
    "at_hospital": ["acknowledged", "en_route", "on_scene", "transporting", "at_hospital"],
    "cleared": ["acknowledged", "en_route", "on_scene", "cleared"],
    "declined": ["declined"],
    "expired": ["expired"],
    "cancelled": ["cancelled"],
}
STAMP = {
    "acknowledged": "acknowledged_at",
    "en_route": "en_route_at",
    "on_scene": "on_scene_at",
    "transporting": "transporting_at",
    "at_hospital": "at_hospital_at",
    "cleared": "cleared_at",
    "declined": "ended_at",
    "expired": "ended_at",
    "cancelled": "ended_at",
}
STAMPS = [
    "assigned_at",
    "acknowledged_at",
    "en_route_at",
    "on_scene_at",
    "transporting_at",
    "at_hospital_at",
    "cleared_at",
    "ended_at",
]
UNIT_AFTER = {
    "acknowledged": "assigned",
    "en_route": "en_route",
    "on_scene": "on_scene",
    "transporting": "transporting",
    "at_hospital": "at_hospital",
    "cleared": "returning",
    "declined": "available",
    "expired": "out_of_service",
}
DEPARTED = {"en_route", "on_scene", "transporting", "at_hospital"}
INCIDENT_AFTER = {
    "acknowledged": "dispatched",
    "en_route": "dispatched",
    "on_scene": "on_scene",
    "transporting": "transporting",
    "at_hospital": "transporting",
    "cleared": "closed",
    "declined": "pending",
    "expired": "pending",
    "cancelled": "pending",
}


@pytest.fixture
def user(db):
    return UserFactory(role=Role.DISPATCHER)


def assignment_in(status: str, *, by) -> Assignment:
    incident = IncidentFactory()
    unit = UnitFactory()
    assignment = services.assignment_create(incident_id=incident.pk, unit_id=unit.pk, by=by)
    for step in PATH[status]:
        services.assignment_transition(assignment_id=assignment.pk, status=step, by=by)
    assignment.refresh_from_db()
    assert assignment.status == status
    return assignment


def world(assignment: Assignment) -> dict:
    """Everything a transition could touch."""
    assignment = Assignment.objects.get(pk=assignment.pk)
    return {
        "assignment": model_to_dict(assignment),
        "unit": model_to_dict(Unit.objects.get(pk=assignment.unit_id)),
        "incident": model_to_dict(Incident.objects.get(pk=assignment.incident_id), exclude=["updated_at"]),
        "status_changes": StatusChange.objects.count(),
        "events": list(Event.objects.values_list("id", flat=True)),
    }


def test_the_transition_table_is_the_one_product_md_describes():
    assert {str(k): {str(s) for s in v} for k, v in TRANSITIONS.items()} == EXPECTED_TABLE


def test_the_table_covers_every_pair_once():
    assert len(ALLOWED) == 16
    assert len(ALLOWED) + len(REFUSED) + len(STATUSES) == len(STATUSES) ** 2


@pytest.mark.parametrize(("before", "after"), ALLOWED)
def test_an_allowed_transition_moves_the_assignment_stamps_it_and_the_unit_and_incident_follow(
    before, after, user
):
    assignment = assignment_in(before, by=user)
    earlier = model_to_dict(assignment)
    start = timezone.now()

    result = services.assignment_transition(assignment_id=assignment.pk, status=after, by=user)

    end = timezone.now()
    assignment.refresh_from_db()
    assert result.status == after
    assert assignment.status == after
    stamp = getattr(assignment, STAMP[after])
    assert start <= stamp <= end
    untouched = set(STAMPS) - {STAMP[after]}
    if after == "cleared":
        untouched.discard("ended_at")
        assert assignment.ended_at == stamp
    if before == "assigned" and after == "en_route":
        untouched.discard("acknowledged_at")
        assert assignment.acknowledged_at == stamp  # departing at once acknowledges too
    for name in untouched:
        assert getattr(assignment, name) == earlier[name], name

    unit = Unit.objects.get(pk=assignment.unit_id)
    expected_unit = UNIT_AFTER.get(after) or ("returning" if before in DEPARTED else "available")
    assert unit.status == expected_unit
    if expected_unit != earlier_unit_status(before):
        assert unit.status_at == stamp
    assert unit.status_reason == ("ack_timeout" if after == "expired" else "")
    assert Incident.objects.get(pk=assignment.incident_id).status == INCIDENT_AFTER[after]

    change = StatusChange.objects.filter(assignment=assignment).order_by("-id").first()
    assert (change.from_status, change.to_status, change.at, change.by) == (before, after, stamp, user)


def earlier_unit_status(status: str) -> str:
    return "assigned" if status in ("assigned", "acknowledged") else status


@pytest.mark.parametrize(("before", "after"), ALLOWED)
def test_an_ended_assignment_records_why_it_ended(before, after, user):
    assignment = assignment_in(before, by=user)
    services.assignment_transition(assignment_id=assignment.pk, status=after, by=user, reason="ban bocor")
    assignment.refresh_from_db()
    if after in ("cleared", "declined", "expired", "cancelled"):
        assert assignment.ended_at is not None
        assert assignment.ended_reason == "ban bocor"
        assert not assignment.is_active
    else:
        assert assignment.ended_at is None
        assert assignment.ended_reason == ""
        assert assignment.is_active


@pytest.mark.parametrize(("before", "after"), REFUSED)
def test_a_refused_transition_is_a_409_conflict_and_changes_nothing(before, after, user):
    assignment = assignment_in(before, by=user)
    seen = world(assignment)

    with pytest.raises(Conflict) as raised:
        services.assignment_transition(assignment_id=assignment.pk, status=after, by=user)

    assert raised.value.status_code == 409
    assert raised.value.error_code == "transition_not_allowed"
    assert world(assignment) == seen


@pytest.mark.parametrize("status", STATUSES)
def test_a_repeated_status_is_a_no_op(status, user):
    assignment = assignment_in(status, by=user)
    seen = world(assignment)

    result = services.assignment_transition(assignment_id=assignment.pk, status=status, by=user)

    assert result.status == status
    assert world(assignment) == seen


def test_a_replayed_tap_is_a_no_op_even_after_later_taps(user):
    assignment = assignment_in("assigned", by=user)
    tap = "6f1c1f8e-1a57-4c39-9a49-6a0f6b2f0a11"
    services.assignment_transition(assignment_id=assignment.pk, status="acknowledged", by=user, client_id=tap)
    services.assignment_transition(assignment_id=assignment.pk, status="en_route", by=user)
    seen = world(assignment)

    # The phone lost the answer and sends the acknowledgement again: no 409, nothing changes.
    result = services.assignment_transition(
        assignment_id=assignment.pk, status="acknowledged", by=user, client_id=tap
    )

    assert result.status == "en_route"
    assert world(assignment) == seen
    assert StatusChange.objects.filter(client_id=tap).count() == 1


def test_a_replayed_final_tap_is_a_no_op(user):
    assignment = assignment_in("on_scene", by=user)
    tap = "0b7e4d0e-5f0e-4a53-8d0b-1f3a2b9c7d55"
    services.assignment_transition(assignment_id=assignment.pk, status="cleared", by=user, client_id=tap)
    seen = world(assignment)

    services.assignment_transition(assignment_id=assignment.pk, status="cleared", by=user, client_id=tap)

    assert world(assignment) == seen


def test_an_offline_tap_keeps_the_time_it_was_made(user):
    assignment = assignment_in("acknowledged", by=user)
    Assignment.objects.filter(pk=assignment.pk).update(
        assigned_at=timezone.now() - timedelta(minutes=10),
        acknowledged_at=timezone.now() - timedelta(minutes=9),
    )
    tapped = timezone.now() - timedelta(minutes=5)

    services.assignment_transition(assignment_id=assignment.pk, status="en_route", by=user, at=tapped)

    assignment.refresh_from_db()
    assert assignment.en_route_at == tapped
    assert StatusChange.objects.filter(assignment=assignment).last().at == tapped
    assert Unit.objects.get(pk=assignment.unit_id).status_at == tapped


def test_an_offline_tap_before_the_previous_status_is_clamped_to_it(user):
    assignment = assignment_in("acknowledged", by=user)
    acknowledged = timezone.now() - timedelta(minutes=2)
    Assignment.objects.filter(pk=assignment.pk).update(
        assigned_at=acknowledged - timedelta(minutes=1), acknowledged_at=acknowledged
    )

    services.assignment_transition(
        assignment_id=assignment.pk, status="en_route", by=user, at=acknowledged - timedelta(hours=3)
    )

    assignment.refresh_from_db()
    assert assignment.en_route_at == acknowledged


def test_a_tap_dated_in_the_future_is_clamped_to_now(user):
    assignment = assignment_in("en_route", by=user)
    start = timezone.now()

    services.assignment_transition(
        assignment_id=assignment.pk, status="on_scene", by=user, at=start + timedelta(days=2)
    )

    assignment.refresh_from_db()
    assert start <= assignment.on_scene_at <= timezone.now()


def test_transporting_records_the_destination_hospital(user):
    assignment = assignment_in("on_scene", by=user)
    hospital = HospitalFactory()

    result = services.assignment_transition(
        assignment_id=assignment.pk, status="transporting", by=user, hospital_id=hospital.pk
    )

    assert result.hospital == hospital
    assignment.refresh_from_db()
    assert assignment.hospital_id == hospital.pk


def test_transporting_to_a_place_that_is_not_a_hospital_is_refused_and_changes_nothing(user):
    assignment = assignment_in("on_scene", by=user)
    puskesmas = HospitalFactory(kind="puskesmas")
    seen = world(assignment)

    with pytest.raises(services.Invalid) as raised:
        services.assignment_transition(
            assignment_id=assignment.pk, status="transporting", by=user, hospital_id=puskesmas.pk
        )

    assert "hospital" in raised.value.fields
    assert world(assignment) == seen


def test_a_transition_of_an_unknown_assignment_is_not_found(user):
    with pytest.raises(services.NotFound):
        services.assignment_transition(assignment_id=987654321, status="acknowledged", by=user)


def test_the_incident_follows_the_furthest_of_its_units_and_closes_with_the_last(user):
    incident = IncidentFactory()
    first, second = UnitFactory(), UnitFactory()
    a = services.assignment_create(incident_id=incident.pk, unit_id=first.pk, by=user)
    b = services.assignment_create(incident_id=incident.pk, unit_id=second.pk, by=user)
    for step in PATH["on_scene"]:
        services.assignment_transition(assignment_id=a.pk, status=step, by=user)
    services.assignment_transition(assignment_id=b.pk, status="en_route", by=user)
    incident.refresh_from_db()
    assert incident.status == "on_scene"

    services.assignment_transition(assignment_id=a.pk, status="cleared", by=user)
    incident.refresh_from_db()
    assert incident.status == "dispatched"  # the second unit is still on its way
    assert incident.closed_at is None

    services.assignment_transition(assignment_id=b.pk, status="on_scene", by=user)
    services.assignment_transition(assignment_id=b.pk, status="cleared", by=user)
    incident.refresh_from_db()
    assert incident.status == "closed"
    assert incident.closed_at == Assignment.objects.get(pk=b.pk).cleared_at


def test_every_status_change_is_recorded_with_who_and_when(user):
    assignment = assignment_in("cleared", by=user)
    changes = list(StatusChange.objects.filter(assignment=assignment).order_by("id"))
    assert [(c.from_status, c.to_status) for c in changes] == [
        ("", "assigned"),
        ("assigned", "acknowledged"),
        ("acknowledged", "en_route"),
        ("en_route", "on_scene"),
        ("on_scene", "cleared"),
    ]
    assert all(c.by == user for c in changes)
    assert [c.at for c in changes] == sorted(c.at for c in changes)
    unit_changes = StatusChange.objects.filter(unit_id=assignment.unit_id).order_by("id")
    assert [c.to_status for c in unit_changes] == ["assigned", "en_route", "on_scene", "returning"]
