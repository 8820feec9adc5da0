"""Properties every dispatch policy keeps, whatever the fleet, the calls and the move-ups applied (hypothesis):
no unit ever holds two active incidents, and no priority-1 incident waits while a suitable unit is free."""

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from calls.models import Incident
from dispatch import moveup, policies, services
from dispatch.models import ACTIVE_STATUSES, Assignment
from fleet.models import FREE_STATUSES, Station, Unit
from geo.models import Region
from tests.factories import CENTRE, KM, IncidentFactory, UnitFactory, square

NEXT = {"assigned": "en_route", "acknowledged": "en_route", "en_route": "on_scene", "on_scene": "cleared",
        "transporting": "at_hospital", "at_hospital": "cleared"}  # fmt: skip

units_strategy = st.lists(
    st.tuples(
        st.sampled_from(["als", "bls", "transport"]),
        st.floats(-4, 4, allow_nan=False),
        st.sampled_from(["available", "available", "returning", "out_of_service"]),
        st.integers(1, 2),
    ),
    min_size=1,
    max_size=5,
)
ops_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("call"), st.integers(1, 3), st.integers(1, 4), st.floats(-3, 3, allow_nan=False)),
        st.tuples(st.just("advance"), st.integers(0, 30)),
        st.tuples(st.just("cancel"), st.integers(0, 30)),
        st.tuples(st.just("free"), st.integers(0, 30)),
        st.tuples(st.just("moveup")),
    ),
    min_size=1,
    max_size=8,
)


def _apply(op: tuple) -> None:
    kind = op[0]
    if kind == "call":
        _, priority, patients, km = op
        incident = IncidentFactory(priority=priority, patient_count=patients, lat=CENTRE[0] + km * KM)
        services.incident_dispatch_auto(incident_id=incident.pk)
    elif kind == "advance":
        ids = list(
            Assignment.objects.filter(status__in=ACTIVE_STATUSES).order_by("id").values_list("id", "status")
        )
        if ids:
            pk, status = ids[op[1] % len(ids)]
            services.assignment_transition(assignment_id=pk, status=NEXT[status], by=None)
    elif kind == "cancel":
        ids = list(
            Incident.objects.filter(status__in=["pending", "dispatched"])
            .order_by("id")
            .values_list("id", flat=True)
        )
        if ids:
            services.incident_cancel(incident_id=ids[op[1] % len(ids)], reason="test", by=None)
    elif kind == "moveup":
        # The dispatcher applies the whole move-up plan (free units only, so nothing may break).
        for move in moveup.moveup_plan().moves:
            moveup.unit_station_move(unit_id=move.unit.pk, station_id=move.to.pk, by=None)
    else:
        ids = list(Unit.objects.filter(status="out_of_service").order_by("id").values_list("id", flat=True))
        if ids:
            services.unit_set_status(unit_id=ids[op[1] % len(ids)], status="available", by=None)


def _check_invariants() -> None:
    for unit in Unit.objects.all():
        assert Assignment.objects.filter(unit=unit, status__in=ACTIVE_STATUSES).count() <= 1, unit
    for incident in Incident.objects.filter(priority=1, status="pending"):
        tried = set(incident.assignments.values_list("unit_id", flat=True))
        suitable = [
            u.call_sign
            for u in Unit.objects.filter(status__in=FREE_STATUSES).exclude(kind="transport")
            if u.pk not in tried and not u.assignments.filter(status__in=ACTIVE_STATUSES).exists()
        ]
        assert not suitable, f"priority 1 {incident.pk} waits while {suitable} are free"


@pytest.fixture
def no_tasks(monkeypatch):
    # The worker's part is played below: the queue is served after every step.
    monkeypatch.setattr(services, "_enqueue", lambda *args, **kwargs: None)


@pytest.mark.django_db
@pytest.mark.parametrize("policy", policies.policies_available())
@hsettings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(units=units_strategy, ops=ops_strategy, preempt=st.booleans())
def test_no_policy_gives_a_unit_two_incidents_or_leaves_priority_1_waiting(
    settings, no_tasks, policy, units, ops, preempt
):
    settings.DISPATCH = {
        **settings.DISPATCH,
        "POLICY": policy,
        "PREEMPT_SAVING_SECONDS": 60 if preempt else 0,
        "MAX_UNITS_PER_INCIDENT": 3,
    }
    with transaction.atomic():
        Region.objects.create(kind="kelurahan", name="Utara", geometry=square(3.0), population=1000)
        Region.objects.create(kind="kelurahan", name="Selatan", geometry=square(-3.0), population=2000)
        Station.objects.create(name="Pos Utara", lat=CENTRE[0] + 3.0 * KM, lon=CENTRE[1])
        Station.objects.create(name="Pos Selatan", lat=CENTRE[0] - 3.0 * KM, lon=CENTRE[1])
        for kind, km, status, capacity in units:
            UnitFactory(kind=kind, status=status, capacity=capacity, lat=CENTRE[0] + km * KM, lon=CENTRE[1],
                        location_at=timezone.now())  # fmt: skip
        for op in ops:
            _apply(op)
            services.queue_serve()
            _check_invariants()
        transaction.set_rollback(True)
