"""Races on PostgreSQL: several workers and dispatchers acting at once, each thread on its own connection.

Row locks, SKIP LOCKED and the partial unique constraint only mean something on PostgreSQL (they are no-ops
or absent on SQLite), so these tests refuse to run anywhere else.
"""

from __future__ import annotations

import itertools
import queue
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.db.models import Count

from accounts.errors import Conflict
from accounts.models import Role
from calls.models import Incident, IncidentStatus
from dispatch import services, tasks
from dispatch.models import ACTIVE_STATUSES, UNIT_STATUS_FOR, Assignment, Event, StatusChange
from fleet.models import Unit, UnitStatus
from tests.factories import CENTRE, IncidentFactory, StationFactory, UnitFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = 4


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("race tests need PostgreSQL's row locks (house style)")


@dataclass
class Outcome:
    value: Any = None
    conflict: Conflict | None = None
    error: BaseException | None = None


def _attempt(job: Callable[[], Any]) -> Outcome:
    try:
        return Outcome(value=job())
    except Conflict as exc:
        return Outcome(conflict=exc)
    except BaseException as exc:  # a deadlock, an IntegrityError: whatever escapes is a failure
        return Outcome(error=exc)


def together(*jobs: Callable[[], Any]) -> list[Outcome]:
    """Run `jobs` at the same moment, each in its own thread with its own database connection."""
    start = threading.Barrier(len(jobs))

    def run(job: Callable[[], Any]) -> Outcome:
        try:
            start.wait(timeout=30)
            return _attempt(job)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))


def _errors(outcomes: list[Outcome]) -> list[BaseException]:
    return [o.error for o in outcomes if o.error is not None]


def _units(n: int) -> list[Unit]:
    return [
        UnitFactory(call_sign=f"R-{i:02d}", station=StationFactory(lat=CENTRE[0] + i * 0.004, lon=CENTRE[1]))
        for i in range(n)
    ]


def _assert_units_match_their_assignments() -> None:
    """Each unit's status follows its one active assignment; a unit with none is not 'on a job'."""
    active = Assignment.objects.filter(status__in=ACTIVE_STATUSES)
    doubled = active.values("unit").annotate(n=Count("id")).filter(n__gt=1)
    assert not doubled.exists(), list(doubled)
    by_unit = {a.unit_id: a for a in active}
    for unit in Unit.objects.all():
        if unit.pk in by_unit:
            assert unit.status == UNIT_STATUS_FOR[by_unit[unit.pk].status], unit.call_sign
        else:
            assert unit.status in (UnitStatus.AVAILABLE, UnitStatus.RETURNING, UnitStatus.OUT_OF_SERVICE)


def _assert_no_unit_ever_held_two_assignments() -> None:
    """From the history: per unit, the periods between an assignment's start and end never overlap, and the
    record the clients were told from says the same."""
    for unit_id in Unit.objects.values_list("id", flat=True):
        periods = sorted(
            (a.assigned_at, a.ended_at, a.pk) for a in Assignment.objects.filter(unit_id=unit_id)
        )
        for (_, ended, pk), (started, _, next_pk) in itertools.pairwise(periods):
            assert ended is not None, f"unit {unit_id}: {pk} never ended before {next_pk} began"
            assert ended <= started, f"unit {unit_id}: {pk} and {next_pk} overlap"
        created = [e.data["id"] for e in Event.objects.filter(type="assignment.created", unit_id=unit_id)]
        ended = [
            e.data["id"]
            for e in Event.objects.filter(type="assignment.updated", unit_id=unit_id)
            if e.data["status"] not in ACTIVE_STATUSES
        ]
        open_ = 0
        for event in Event.objects.filter(unit_id=unit_id, type__startswith="assignment.").order_by("id"):
            if event.type == "assignment.created":
                open_ += 1
            elif event.data["status"] not in ACTIVE_STATUSES:
                open_ -= 1
            assert open_ <= 1, f"unit {unit_id} was told of two active assignments at #{event.pk}"
        assert sorted(created) == sorted(
            Assignment.objects.filter(unit_id=unit_id).values_list("id", flat=True)
        )
        assert len(ended) == len(set(ended))


def _assert_events_committed_in_seq_order() -> None:
    """The advisory lock serializes event writers: a higher seq is never stamped earlier."""
    stamps = list(Event.objects.order_by("id").values_list("at", flat=True))
    assert stamps == sorted(stamps)


# --- Auto-dispatch against a dispatcher -----------------------------------------------------------


@pytest.mark.parametrize("round_", range(3))
def test_thirty_incidents_dispatched_at_once_never_give_a_unit_two_incidents(round_):
    rng = random.Random(round_)
    units = _units(10)
    dispatcher = UserFactory(role=Role.DISPATCHER)
    incidents = [
        IncidentFactory(lat=CENTRE[0] + rng.uniform(-0.02, 0.05), lon=CENTRE[1] + rng.uniform(-0.02, 0.02),
                        priority=rng.choice([1, 2, 3]))
        for _ in range(30)
    ]  # fmt: skip
    todo: queue.Queue[int] = queue.Queue()
    for incident in rng.sample(incidents, len(incidents)):
        todo.put(incident.pk)
    manual: list[tuple[int, int]] = [(rng.choice(incidents).pk, rng.choice(units).pk) for _ in range(12)]
    dispatched: list[int] = []
    refused: list[Conflict] = []

    def worker() -> None:
        while True:
            try:
                incident_id = todo.get_nowait()
            except queue.Empty:
                return
            if tasks.dispatch_incident(incident_id) is not None:
                dispatched.append(incident_id)

    def dispatcher_by_hand() -> None:
        for incident_id, unit_id in manual:
            try:
                services.assignment_create(incident_id=incident_id, unit_id=unit_id, by=dispatcher)
            except Conflict as exc:
                refused.append(exc)

    def queue_server() -> None:
        for _ in range(3):
            tasks.serve_queue()

    outcomes = together(*[worker] * WORKERS, dispatcher_by_hand, queue_server)

    assert _errors(outcomes) == []
    assert {c.error_code for c in refused} <= {"unit_not_free"}
    _assert_units_match_their_assignments()
    _assert_no_unit_ever_held_two_assignments()
    _assert_events_committed_in_seq_order()
    # Nothing ended, so every assignment ever made is still active: one per unit, all ten units busy.
    assignments = list(Assignment.objects.all())
    assert len(assignments) == 10
    assert all(a.status == "assigned" for a in assignments)
    assert sorted(a.unit_id for a in assignments) == sorted(u.pk for u in units)
    assert all(u.status == UnitStatus.ASSIGNED for u in Unit.objects.all())
    # Every incident ends assigned (dispatched) or waiting (pending), and its status says which.
    with_unit = {a.incident_id for a in assignments}
    for incident in Incident.objects.all():
        expected = IncidentStatus.DISPATCHED if incident.pk in with_unit else IncidentStatus.PENDING
        assert incident.status == expected, incident.pk
    by_hand = [a for a in assignments if not a.automatic]
    automatic = [a for a in assignments if a.automatic]
    assert len(automatic) + len(by_hand) == 10
    # Auto-dispatch gives an incident one unit only; a dispatcher may add a second unit by hand.
    assert len({a.incident_id for a in automatic}) == len(automatic)
    assert len(with_unit) + Incident.objects.filter(status=IncidentStatus.PENDING).count() == 30
    assert Incident.objects.filter(status=IncidentStatus.PENDING).count() >= 20
    assert len(set(dispatched)) == len(dispatched) <= 10
    assert len(by_hand) + len(refused) == len(manual)
    # The record agrees: ten assignment.created, each unit told it was assigned once.
    assert Event.objects.filter(type="assignment.created").count() == 10
    told = Counter(
        e.unit_id for e in Event.objects.filter(type="unit.updated") if e.data["status"] == "assigned"
    )
    assert told == Counter({u.pk: 1 for u in units})
    changes = Counter(
        StatusChange.objects.filter(subject="unit", to_status="assigned").values_list("unit_id", flat=True)
    )
    assert changes == Counter({u.pk: 1 for u in units})


def test_units_taken_out_of_service_while_workers_dispatch_are_never_out_of_service_on_a_job():
    units = _units(6)
    dispatcher = UserFactory(role=Role.DISPATCHER)
    incidents = [IncidentFactory() for _ in range(6)]

    def take_out(unit: Unit) -> Callable[[], Any]:
        return lambda: services.unit_set_status(unit_id=unit.pk, status="out_of_service", by=dispatcher)

    outcomes = together(
        *[lambda i=i: tasks.dispatch_incident(i.pk) for i in incidents], *[take_out(u) for u in units[::2]]
    )

    assert _errors(outcomes) == []
    assert {o.conflict.error_code for o in outcomes if o.conflict} <= {"unit_busy"}
    _assert_units_match_their_assignments()
    for unit in Unit.objects.filter(status=UnitStatus.OUT_OF_SERVICE):
        assert not Assignment.objects.filter(unit=unit, status__in=ACTIVE_STATUSES).exists()
    assigned = Assignment.objects.filter(status__in=ACTIVE_STATUSES).count()
    out = Unit.objects.filter(status=UnitStatus.OUT_OF_SERVICE).count()
    assert assigned + out == 6  # every unit either went or was taken out; none left idle while work waited


def test_the_same_call_sent_twice_at_once_records_one_call_and_one_incident():
    _units(2)
    call_taker = UserFactory(role=Role.CALL_TAKER)
    key = uuid.uuid4()

    def send() -> Any:
        return services.call_record(
            user=call_taker, caller_phone="+6281234567890", complaint="pingsan", priority=1,
            location=services.LatLon(CENTRE[0], CENTRE[1]), client_id=key,
        )  # fmt: skip

    outcomes = together(*[send] * 5)

    assert _errors(outcomes) == []
    assert len({o.value.call.pk for o in outcomes}) == 1
    assert [o.value.created for o in outcomes].count(True) == 1
    assert Incident.objects.count() == 1
    assert Event.objects.filter(type="incident.created").count() == 1


def test_workers_racing_for_the_same_incident_assign_it_once():
    _units(5)
    incident = IncidentFactory()
    outcomes = together(*[lambda: tasks.dispatch_incident(incident.pk)] * 6)
    assert _errors(outcomes) == []
    assert len([o for o in outcomes if o.value is not None]) == 1
    assert Assignment.objects.filter(incident=incident).count() == 1
    _assert_units_match_their_assignments()


def test_the_queue_served_by_several_workers_as_units_free_up_never_doubles_a_unit():
    """Units coming free (cleared) while several workers serve the queue and dispatch at once."""
    units = _units(4)
    dispatcher = UserFactory(role=Role.DISPATCHER)
    first = [IncidentFactory() for _ in units]
    held = [
        services.assignment_create(incident_id=i.pk, unit_id=u.pk, by=dispatcher)
        for i, u in zip(first, units, strict=True)
    ]
    waiting = [IncidentFactory(priority=2) for _ in range(8)]
    for assignment in held:
        services.assignment_transition(assignment_id=assignment.pk, status="en_route", by=dispatcher)
        services.assignment_transition(assignment_id=assignment.pk, status="on_scene", by=dispatcher)

    def clear(assignment: Assignment) -> Callable[[], Any]:
        return lambda: services.assignment_transition(
            assignment_id=assignment.pk, status="cleared", by=dispatcher
        )

    def serve() -> None:
        for _ in range(5):
            tasks.serve_queue()
            time.sleep(0.01)

    outcomes = together(
        *[clear(a) for a in held], serve, serve, lambda: [tasks.dispatch_incident(i.pk) for i in waiting]
    )
    tasks.serve_queue()  # what the tasks enqueued after commit would do

    assert _errors(outcomes) == []
    _assert_units_match_their_assignments()
    _assert_no_unit_ever_held_two_assignments()
    assert Assignment.objects.filter(status__in=ACTIVE_STATUSES).count() == 4
    assert (
        Incident.objects.filter(pk__in=[i.pk for i in waiting], status=IncidentStatus.DISPATCHED).count() == 4
    )
    assert Incident.objects.filter(pk__in=[i.pk for i in first], status=IncidentStatus.CLOSED).count() == 4


# --- One assignment, several hands --------------------------------------------------------------


@pytest.fixture
def dispatched():
    """An incident with one unit assigned, its crew user and a dispatcher."""
    unit = UnitFactory()
    dispatcher = UserFactory(role=Role.DISPATCHER)
    crew = UserFactory(role=Role.CREW, unit=unit)
    incident = IncidentFactory()
    assignment = services.assignment_create(incident_id=incident.pk, unit_id=unit.pk, by=dispatcher)
    return assignment, crew, dispatcher


def test_the_same_tap_replayed_concurrently_is_applied_once(dispatched):
    assignment, crew, _ = dispatched
    tap = uuid.uuid4()

    def send() -> Assignment:
        return services.assignment_transition(
            assignment_id=assignment.pk, status="en_route", by=crew, client_id=tap
        )

    outcomes = together(*[send] * 6)

    assert _errors(outcomes) == []
    assert [o.conflict for o in outcomes] == [None] * 6
    assert all(o.value.status == "en_route" for o in outcomes)
    assert StatusChange.objects.filter(client_id=tap).count() == 1
    assert StatusChange.objects.filter(assignment=assignment, to_status="en_route").count() == 1
    updates = [e for e in Event.objects.filter(type="assignment.updated") if e.data["status"] == "en_route"]
    assert len(updates) == 1
    _assert_units_match_their_assignments()


def test_different_taps_for_the_same_status_at_once_record_it_once(dispatched):
    assignment, crew, dispatcher = dispatched
    outcomes = together(
        *[lambda who=who: services.assignment_transition(assignment_id=assignment.pk, status="acknowledged",
                                                         by=who, client_id=uuid.uuid4())
          for who in (crew, crew, dispatcher, crew)]
    )  # fmt: skip
    assert _errors(outcomes) == []
    assert StatusChange.objects.filter(assignment=assignment, to_status="acknowledged").count() == 1
    assert Assignment.objects.get(pk=assignment.pk).status == "acknowledged"


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return int(cursor.fetchone()[0])


def _wait_for_lock_waiters(n: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while _lock_waiters() < n:
        assert time.monotonic() < deadline, f"fewer than {n} transactions waiting on a lock"
        time.sleep(0.02)


def test_a_replayed_tap_overtaken_by_a_later_tap_is_still_a_no_op(dispatched):
    """A phone resends its 'berangkat' tap while the original is still in flight and the crew has already
    tapped 'tiba di lokasi': the resend must answer like the original did, not with a 409."""
    assignment, crew, _ = dispatched
    departed, arrived = uuid.uuid4(), uuid.uuid4()
    release, holding = threading.Event(), threading.Event()

    def hold_the_incident() -> None:
        with transaction.atomic():
            Incident.objects.select_for_update().get(pk=assignment.incident_id)
            holding.set()
            release.wait(timeout=20)

    def tap(status: str, client_id: uuid.UUID) -> Callable[[], Assignment]:
        return lambda: services.assignment_transition(
            assignment_id=assignment.pk, status=status, by=crew, client_id=client_id
        )

    with ThreadPoolExecutor(max_workers=4) as pool:

        def start(job: Callable[[], Any]) -> Any:
            def run() -> Outcome:
                try:
                    return _attempt(job)
                finally:
                    connections.close_all()

            return pool.submit(run)

        holder = start(hold_the_incident)
        assert holding.wait(timeout=10)
        # They queue on the incident's lock in this order: the tap, the later tap, the resent first tap.
        original = start(tap("en_route", departed))
        _wait_for_lock_waiters(1)
        later = start(tap("on_scene", arrived))
        _wait_for_lock_waiters(2)
        resent = start(tap("en_route", departed))
        _wait_for_lock_waiters(3)
        release.set()
        results = {"original": original.result(), "later": later.result(), "resent": resent.result()}
        assert holder.result().error is None

    assert results["original"].value.status == "en_route"
    assert results["later"].value.status == "on_scene"
    assert results["resent"].error is None
    assert results["resent"].conflict is None, results["resent"].conflict
    assert results["resent"].value.status == "on_scene"
    assert StatusChange.objects.filter(client_id=departed).count() == 1
    assert Assignment.objects.get(pk=assignment.pk).status == "on_scene"


@pytest.mark.parametrize("round_", range(4))
def test_cancelling_the_incident_while_the_crew_taps_ends_cancelled_with_the_unit_free(dispatched, round_):
    assignment, crew, dispatcher = dispatched
    jobs = [
        lambda: services.incident_cancel(
            incident_id=assignment.incident_id, reason="salah alamat", by=dispatcher
        ),
        lambda: services.assignment_transition(assignment_id=assignment.pk, status="en_route", by=crew),
    ]
    if round_ % 2:
        jobs.reverse()
    outcomes = together(*jobs)

    assert _errors(outcomes) == []
    cancel, tapped = outcomes if not round_ % 2 else outcomes[::-1]
    assert cancel.conflict is None
    assert cancel.value.status == IncidentStatus.CANCELLED
    final = Assignment.objects.get(pk=assignment.pk)
    assert final.status == "cancelled"
    unit = Unit.objects.get(pk=assignment.unit_id)
    if tapped.conflict is not None:
        assert tapped.conflict.error_code == "transition_not_allowed"
        assert final.en_route_at is None
        assert unit.status == UnitStatus.AVAILABLE
    else:
        assert final.en_route_at is not None
        assert unit.status == UnitStatus.RETURNING  # it had left its post
    assert not Assignment.objects.filter(status__in=ACTIVE_STATUSES).exists()
    _assert_units_match_their_assignments()
    history = list(StatusChange.objects.filter(assignment=assignment).values_list("to_status", flat=True))
    assert history in (["assigned", "cancelled"], ["assigned", "en_route", "cancelled"])


@pytest.mark.parametrize("round_", range(3))
def test_a_dispatcher_cancelling_the_assignment_while_the_crew_taps_leaves_one_story(dispatched, round_):
    assignment, crew, dispatcher = dispatched
    outcomes = together(
        lambda: services.assignment_transition(
            assignment_id=assignment.pk, status="cancelled", by=dispatcher
        ),
        lambda: services.assignment_transition(assignment_id=assignment.pk, status="acknowledged", by=crew),
        lambda: services.assignment_transition(assignment_id=assignment.pk, status="en_route", by=crew),
    )
    assert _errors(outcomes) == []
    assert outcomes[0].conflict is None
    assert Assignment.objects.get(pk=assignment.pk).status == "cancelled"
    _assert_units_match_their_assignments()
    _assert_no_unit_ever_held_two_assignments()


@pytest.mark.parametrize("round_", range(3))
def test_the_ack_timeout_racing_the_crews_acknowledgement_ends_one_way_only(dispatched, settings, round_):
    settings.DISPATCH = {**settings.DISPATCH, "ACK_TIMEOUT_SECONDS": 0}
    assignment, crew, _ = dispatched
    outcomes = together(
        lambda: services.assignment_expire_if_unacknowledged(assignment_id=assignment.pk),
        lambda: services.assignment_transition(assignment_id=assignment.pk, status="acknowledged", by=crew),
    )
    assert _errors(outcomes) == []
    expired, acknowledged = outcomes
    final = Assignment.objects.get(pk=assignment.pk)
    unit = Unit.objects.get(pk=assignment.unit_id)
    if final.status == "expired":
        assert expired.value is True
        assert acknowledged.conflict is not None
        assert unit.status == UnitStatus.OUT_OF_SERVICE
        assert [e.data["code"] for e in Event.objects.filter(type="alert")] == ["ack_timeout"]
    else:
        assert final.status == "acknowledged"
        assert expired.value is False
        assert acknowledged.conflict is None
        assert unit.status == UnitStatus.ASSIGNED
        assert not Event.objects.filter(type="alert").exists()
    _assert_units_match_their_assignments()


# --- Two dispatchers, replace ---------------------------------------------------------------------


@pytest.mark.parametrize("round_", range(3))
def test_two_dispatchers_replacing_the_same_assignment_with_different_units_one_wins(round_):
    old, one, two = _units(3)
    first, second = UserFactory(role=Role.DISPATCHER), UserFactory(role=Role.DISPATCHER)
    incident = IncidentFactory()
    replaced = services.assignment_create(incident_id=incident.pk, unit_id=old.pk, by=first)

    outcomes = together(
        lambda: services.assignment_create(incident_id=incident.pk, unit_id=one.pk, replace_id=replaced.pk, by=first),
        lambda: services.assignment_create(incident_id=incident.pk, unit_id=two.pk, replace_id=replaced.pk, by=second),
    )  # fmt: skip

    assert _errors(outcomes) == []
    winners = [o for o in outcomes if o.conflict is None]
    assert len(winners) == 1
    assert [o.conflict.error_code for o in outcomes if o.conflict] == ["assignment_ended"]
    active = list(Assignment.objects.filter(incident=incident, status__in=ACTIVE_STATUSES))
    assert [a.pk for a in active] == [winners[0].value.pk]
    assert Assignment.objects.get(pk=replaced.pk).ended_reason == "reassigned"
    loser = two if winners[0].value.unit_id == one.pk else one
    assert Unit.objects.get(pk=loser.pk).status == UnitStatus.AVAILABLE
    assert Unit.objects.get(pk=old.pk).status == UnitStatus.AVAILABLE
    _assert_units_match_their_assignments()
    _assert_no_unit_ever_held_two_assignments()


@pytest.mark.parametrize("round_", range(3))
def test_two_dispatchers_swapping_units_between_two_incidents_are_refused_without_deadlock(round_):
    """Each wants the unit the other holds: a unit that is not free cannot be taken, so both get a 409 (and
    neither waits forever on the other's locks); nothing changes."""
    u1, u2 = _units(2)
    first, second = UserFactory(role=Role.DISPATCHER), UserFactory(role=Role.DISPATCHER)
    i1, i2 = IncidentFactory(), IncidentFactory()
    a1 = services.assignment_create(incident_id=i1.pk, unit_id=u1.pk, by=first)
    a2 = services.assignment_create(incident_id=i2.pk, unit_id=u2.pk, by=second)
    events_before = Event.objects.count()

    outcomes = together(
        lambda: services.assignment_create(incident_id=i1.pk, unit_id=u2.pk, replace_id=a1.pk, by=first),
        lambda: services.assignment_create(incident_id=i2.pk, unit_id=u1.pk, replace_id=a2.pk, by=second),
    )

    assert _errors(outcomes) == []
    assert [o.conflict.error_code for o in outcomes if o.conflict] == ["unit_not_free", "unit_not_free"]
    assert {a.pk: a.status for a in Assignment.objects.all()} == {a1.pk: "assigned", a2.pk: "assigned"}
    assert Event.objects.count() == events_before
    _assert_units_match_their_assignments()


@pytest.mark.parametrize("round_", range(3))
def test_chained_replacements_across_incidents_with_overlapping_units_do_not_deadlock(round_):
    """Dispatcher A moves a free unit onto incident 1; B, at the same moment, moves incident 1's old unit
    (free only if A wins first) onto incident 2, while a worker auto-dispatches a third incident."""
    u1, u2, u3, u4 = _units(4)
    a, b = UserFactory(role=Role.DISPATCHER), UserFactory(role=Role.DISPATCHER)
    i1, i2, i3 = IncidentFactory(), IncidentFactory(), IncidentFactory()
    on_1 = services.assignment_create(incident_id=i1.pk, unit_id=u1.pk, by=a)
    on_2 = services.assignment_create(incident_id=i2.pk, unit_id=u2.pk, by=b)

    outcomes = together(
        lambda: services.assignment_create(incident_id=i1.pk, unit_id=u3.pk, replace_id=on_1.pk, by=a),
        lambda: services.assignment_create(incident_id=i2.pk, unit_id=u1.pk, replace_id=on_2.pk, by=b),
        lambda: tasks.dispatch_incident(i3.pk),
    )

    assert _errors(outcomes) == []
    for outcome in outcomes[:2]:
        assert outcome.conflict is None or outcome.conflict.error_code == "unit_not_free"
    _assert_units_match_their_assignments()
    _assert_no_unit_ever_held_two_assignments()
    for incident in (i1, i2):
        assert Assignment.objects.filter(incident=incident, status__in=ACTIVE_STATUSES).count() == 1
    assert Assignment.objects.filter(incident=i3, status__in=ACTIVE_STATUSES).count() == 1
    busy = set(Assignment.objects.filter(status__in=ACTIVE_STATUSES).values_list("unit_id", flat=True))
    assert len(busy) == 3
    assert busy <= {u1.pk, u2.pk, u3.pk, u4.pk}


# --- The record ---------------------------------------------------------------------------------


def test_concurrent_writers_commit_events_in_seq_order_so_replay_never_skips_one():
    """While writers race, a reader polling `since` sees every event exactly once and in order."""
    units = _units(6)
    dispatcher = UserFactory(role=Role.DISPATCHER)
    incidents = [IncidentFactory() for _ in range(12)]
    done = threading.Event()
    seen: list[int] = []

    def reader() -> None:
        since = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
        while True:
            finished = done.is_set()
            fresh = list(Event.objects.filter(id__gt=since).order_by("id").values_list("id", flat=True))
            seen.extend(fresh)
            since = fresh[-1] if fresh else since
            if finished:
                return

    def writers() -> None:
        try:
            with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                list(pool.map(_closing(tasks.dispatch_incident), [i.pk for i in incidents]))
            for unit in units:
                services.unit_positions_record(
                    unit_id=unit.pk,
                    positions=[services.Position(CENTRE[0], CENTRE[1], _now())],
                    by=dispatcher,
                )
        finally:
            done.set()

    outcomes = together(reader, writers)

    assert _errors(outcomes) == []
    assert seen == sorted(set(seen))
    assert seen == list(Event.objects.filter(id__gt=seen[0] - 1).order_by("id").values_list("id", flat=True))
    _assert_events_committed_in_seq_order()


def _closing(fn: Callable[[int], Any]) -> Callable[[int], Any]:
    def run(arg: int) -> Any:
        try:
            return fn(arg)
        finally:
            connections.close_all()

    return run


def _now() -> Any:
    from django.utils import timezone

    return timezone.now()


def test_incidents_and_units_touched_concurrently_keep_their_status_histories_consistent():
    """Every recorded unit status change starts from the status the previous one ended in."""
    units = _units(5)
    dispatcher = UserFactory(role=Role.DISPATCHER)
    incidents = [IncidentFactory() for _ in range(5)]
    assignments = [
        services.assignment_create(incident_id=i.pk, unit_id=u.pk, by=dispatcher)
        for i, u in zip(incidents, units, strict=True)
    ]
    jobs: list[Callable[[], Any]] = []
    for assignment in assignments:
        for status in ("acknowledged", "en_route", "on_scene", "cleared"):
            jobs.append(lambda a=assignment, s=status: services.assignment_transition(
                assignment_id=a.pk, status=s, by=dispatcher))  # fmt: skip
    random.Random(7).shuffle(jobs)
    jobs.extend(
        lambda i=i: services.incident_cancel(incident_id=i.pk, reason="uji", by=dispatcher)
        for i in incidents[:2]
    )
    outcomes = together(*jobs)

    assert _errors(outcomes) == []
    for unit in units:
        chain = list(StatusChange.objects.filter(subject="unit", unit=unit).order_by("id"))
        for before, after in itertools.pairwise(chain):
            assert after.from_status == before.to_status, (unit.call_sign, before, after)
        assert Unit.objects.get(pk=unit.pk).status == (chain[-1].to_status if chain else UnitStatus.AVAILABLE)
    per_assignment: defaultdict[int, list[str]] = defaultdict(list)
    for change in StatusChange.objects.filter(subject="assignment").order_by("id"):
        per_assignment[change.assignment_id].append(change.to_status)
    for history in per_assignment.values():
        assert history[0] == "assigned"
        assert len(history) == len(set(history))
    _assert_units_match_their_assignments()
