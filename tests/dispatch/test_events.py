"""The event record: a transaction's events are written together before commit, in order, with each stream's
previous seq; an event from a rolled-back savepoint is never written; and what the services tell is what a
fresh read of the same objects says."""

import json

import pytest
from django.db import transaction
from rest_framework.renderers import JSONRenderer

from accounts.models import Role
from dispatch import events, services, tasks
from dispatch.models import Event, EventStream, StatusChange
from dispatch.selectors import assignments_with_detail, incidents_with_detail, units_with_assignment
from dispatch.serializers import AssignmentSerializer, IncidentSerializer, UnitSerializer
from geo.points import LatLon
from tests.factories import CENTRE, UnitFactory, UserFactory


@pytest.fixture
def user(db):
    return UserFactory(role=Role.DISPATCHER)


def record(user, **fields):
    values = {
        "caller_phone": "+6281234567890",
        "complaint": "pingsan",
        "priority": 2,
        "location": LatLon(*CENTRE),
    }
    return services.call_record(user=user, **(values | fields))


def as_json(data) -> object:
    return json.loads(JSONRenderer().render(data))


def test_each_broadcast_carries_its_streams_previous_seq(
    user, sent_events, django_capture_on_commit_callbacks
):
    unit = UnitFactory(lat=CENTRE[0], lon=CENTRE[1])
    batches = []
    original = events._broadcast
    events._broadcast = lambda batch: batches.append([(e.id, e.type, dict(e.stream_prev)) for e in batch])
    try:
        with django_capture_on_commit_callbacks(execute=True):
            first = record(user)
        with django_capture_on_commit_callbacks(execute=True):
            tasks.dispatch_incident(first.incident.pk)
    finally:
        events._broadcast = original

    assert [[t for _, t, _ in b] for b in batches] == [
        ["incident.created", "call.created"],
        ["assignment.created", "unit.updated", "incident.updated"],
    ]
    (created, call), (assigned, unit_updated, incident_updated) = batches
    # Each event's prev in the console stream is the console event before it; the unit stream starts afresh.
    assert call[2] == {"console": created[0]}
    assert assigned[2] == {"console": call[0], f"unit.{unit.pk}": None}
    assert unit_updated[2] == {"console": assigned[0], f"unit.{unit.pk}": assigned[0]}
    assert incident_updated[2] == {"console": unit_updated[0]}
    assert EventStream.objects.get(key="console").last_seq == incident_updated[0]
    assert EventStream.objects.get(key=f"unit.{unit.pk}").last_seq == unit_updated[0]
    # Written together: consecutive ids, one time stamp per transaction.
    ids = [e for e, _, _ in batches[1]]
    assert ids == list(range(ids[0], ids[0] + 3))
    assert Event.objects.filter(id__in=ids).values("at").distinct().count() == 1


def _rolled_back(incident, code: str) -> None:
    with transaction.atomic():
        events.alert(code, code, incident=incident)
        raise RuntimeError("rolled back")


def _kept_around_a_rollback(incident) -> None:
    with events.atomic():
        events.alert("kept", "kept", incident=incident)
        with pytest.raises(RuntimeError):
            _rolled_back(incident, "dropped")
        events.alert("kept too", "kept too", incident=incident)


def test_an_event_from_a_savepoint_that_rolled_back_is_never_written_nor_sent(
    user, sent_events, django_capture_on_commit_callbacks
):
    incident = record(user).incident
    before = Event.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        _kept_around_a_rollback(incident)
    codes = [e.data["code"] for e in Event.objects.order_by("id")[before:]]
    assert codes == ["kept", "kept too"]
    assert [e["data"]["code"] for e in sent_events[-2:]] == ["kept", "kept too"]
    assert "dropped" not in [e["data"].get("code") for e in sent_events]


def _failing(incident) -> None:
    with events.atomic():
        events.alert("lost", "lost", incident=incident)
        raise RuntimeError("boom")


def test_a_transaction_that_fails_writes_none_of_its_events(
    user, sent_events, django_capture_on_commit_callbacks
):
    incident = record(user).incident
    before = Event.objects.count()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        _failing(incident)
    assert Event.objects.count() == before
    assert "lost" not in [e["data"].get("code") for e in sent_events]


def test_an_event_outside_events_atomic_is_written_at_once(user):
    incident = record(user).incident
    with transaction.atomic():
        events.alert("now", "now", incident=incident)
        assert Event.objects.filter(type="alert", data__code="now").exists()


def test_status_history_is_written_before_commit_without_what_a_savepoint_rolled_back(user):
    incident = record(user).incident

    def history(reason: str) -> None:
        events.status_changed(subject=StatusChange.Subject.INCIDENT, incident=incident, from_status="pending",
                              to_status="pending", at=incident.received_at, reason=reason)  # fmt: skip

    with events.atomic():
        history("kept")
        try:
            with transaction.atomic():
                history("dropped")
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            pass
        history("kept too")
        assert not StatusChange.objects.filter(incident=incident, reason__startswith="kept").exists()  # yet
    reasons = list(
        StatusChange.objects.filter(incident=incident).order_by("id").values_list("reason", flat=True)
    )
    assert reasons[-2:] == ["kept", "kept too"]
    assert "dropped" not in reasons

    with transaction.atomic():  # outside events.atomic(): at once
        history("now")
        assert StatusChange.objects.filter(incident=incident, reason="now").exists()


def _last(type_: str, **where) -> dict:
    return Event.objects.filter(type=type_, **where).order_by("-id").first().data


@pytest.mark.parametrize("step", ["call", "dispatch", "en_route", "on_scene", "cancel"])
def test_what_the_services_tell_is_what_a_fresh_read_says(user, step):
    """The services build events from the objects they hold instead of reading them again: after each step,
    the newest event of each object equals that object's representation read afresh from the database."""
    unit = UnitFactory(lat=CENTRE[0], lon=CENTRE[1])
    incident_id = record(user).incident.pk
    steps = ["call", "dispatch", "en_route", "on_scene", "cancel"]
    assignment_id = None
    for done in steps[1 : steps.index(step) + 1]:
        if done == "dispatch":
            assignment_id = tasks.dispatch_incident(incident_id)
        elif done == "cancel":
            services.incident_cancel(incident_id=incident_id, reason="salah sambung", by=user)
        else:
            services.assignment_transition(assignment_id=assignment_id, status=done, by=user)

    fresh_incident = as_json(IncidentSerializer(incidents_with_detail().get(pk=incident_id)).data)
    told = _last("incident.created" if step == "call" else "incident.updated", incident_id=incident_id)
    assert as_json(told) == fresh_incident
    if assignment_id is not None:
        fresh = as_json(AssignmentSerializer(assignments_with_detail().get(pk=assignment_id)).data)
        told = _last("assignment.created" if step == "dispatch" else "assignment.updated", unit_id=unit.pk)
        assert {k: v for k, v in as_json(told).items() if k != "route"} == fresh
        fresh_unit = as_json(UnitSerializer(units_with_assignment().get(pk=unit.pk)).data)
        assert as_json(_last("unit.updated", unit_id=unit.pk)) == fresh_unit


def test_a_broadcast_that_fails_after_commit_loses_nothing_and_fails_nothing(
    user, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    """Redis away: the call is recorded and its events are in the record for clients to catch up from."""

    def redis_down(batch):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(events, "_broadcast", redis_down)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = record(user)
    assert callbacks
    assert list(Event.objects.filter(incident_id=result.incident.pk).values_list("type", flat=True)) == [
        "incident.created",
        "call.created",
    ]
    assert "Redis is down" in caplog.text
