"""Dispatch intelligence (issue 7): one scenario per rule that the plain nearest-unit rule gets wrong."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import Role
from calls.models import Incident
from dispatch import coverage, hospitals, lateness, moveup, policies, services
from dispatch.models import ACTIVE_STATUSES, Assignment, Event
from dispatch.selectors import assignments_with_detail
from dispatch.serializers import AssignmentSerializer
from fleet.models import Station, Unit
from geo.models import Facility
from geo.points import LatLon
from tests.factories import (
    CENTRE,
    KM,
    HospitalFactory,
    IncidentFactory,
    StationFactory,
    UnitFactory,
    kelurahan,
)

pytestmark = pytest.mark.django_db

# The geodesic estimate: straight line x 1.4 at 30 km/h, so 1 km north is about 168 s away.
SECONDS_PER_KM = 1400 / (30 / 3.6)


def unit_at(km_north: float, **fields) -> Unit:
    fields.setdefault("location_at", timezone.now())
    return UnitFactory(lat=CENTRE[0] + km_north * KM, lon=CENTRE[1], **fields)


def incident(**fields) -> Incident:
    return IncidentFactory(lat=CENTRE[0], lon=CENTRE[1], **fields)


def active(incident: Incident) -> list[Assignment]:
    return list(Assignment.objects.filter(incident=incident, status__in=ACTIVE_STATUSES).order_by("id"))


def alerts(code: str) -> list[Event]:
    return [e for e in Event.objects.filter(type="alert").order_by("id") if e.data["code"] == code]


@pytest.fixture
def dispatch_settings(settings):
    """Change DISPATCH entries for one test."""

    def change(**values):
        settings.DISPATCH = {**settings.DISPATCH, **values}

    return change


@pytest.fixture
def enqueued(monkeypatch):
    """Tasks the services send after commit, as (name, args), instead of sending them."""
    sent: list[tuple] = []
    monkeypatch.setattr(services, "_enqueue", lambda name, *args, countdown=None: sent.append((name, args)))
    return sent


# --- Response plans -------------------------------------------------------------------------------


def test_priority_1_takes_the_als_unit_when_it_is_within_the_margin(dispatch_settings):
    dispatch_settings(POLICY="plans", ALS_MARGIN_SECONDS=180)
    unit_at(1.0, kind=Unit.Kind.BLS, call_sign="BLS-1")
    als = unit_at(2.0, kind=Unit.Kind.ALS)  # about 168 s further: inside the margin

    assignment = services.incident_dispatch_auto(incident_id=incident(priority=1).pk)

    assert assignment is not None
    assert assignment.unit == als
    best = next(iter(policies.units_ranked(incident(priority=1), list(Unit.objects.all()))))
    assert best.unit == als
    assert "BLS-1" in best.reason and "180 s margin" in best.reason


def test_priority_1_takes_the_bls_unit_when_the_als_is_more_than_the_margin_further(dispatch_settings):
    dispatch_settings(POLICY="plans", ALS_MARGIN_SECONDS=60)
    bls = unit_at(1.0, kind=Unit.Kind.BLS)
    unit_at(2.0, kind=Unit.Kind.ALS)  # about 168 s further: beyond a 60 s margin

    assignment = services.incident_dispatch_auto(incident_id=incident(priority=1).pk)

    assert assignment is not None
    assert assignment.unit == bls
    best = next(iter(policies.units_ranked(incident(priority=1), [bls])))
    assert "no ALS unit free" in best.reason


def test_priority_2_takes_the_nearest_unit_whatever_its_kind(dispatch_settings):
    dispatch_settings(POLICY="plans", ALS_MARGIN_SECONDS=180)
    bls = unit_at(1.0, kind=Unit.Kind.BLS)
    unit_at(2.0, kind=Unit.Kind.ALS)

    assignment = services.incident_dispatch_auto(incident_id=incident(priority=2).pk)

    assert assignment is not None
    assert assignment.unit == bls


@pytest.mark.parametrize("policy", ["plans", "coverage", "road", "straight"])
def test_a_transport_unit_never_gets_priority_1_however_near(dispatch_settings, policy):
    dispatch_settings(POLICY=policy)
    unit_at(0.1, kind=Unit.Kind.TRANSPORT)
    als = unit_at(5.0, kind=Unit.Kind.ALS)

    assignment = services.incident_dispatch_auto(incident_id=incident(priority=1).pk)

    assert assignment is not None
    assert assignment.unit == als


def test_more_patients_than_one_unit_carries_get_several_units(dispatch_settings):
    dispatch_settings(POLICY="plans", MAX_UNITS_PER_INCIDENT=3)
    units = [unit_at(km, capacity=1) for km in (0.5, 1.0, 1.5, 2.0)]
    crash = incident(priority=2, patient_count=3)

    services.incident_dispatch_auto(incident_id=crash.pk)

    assert [a.unit for a in active(crash)] == units[:3]
    assert not alerts("units_short")


def test_the_incident_event_after_several_units_names_every_unit_sent(dispatch_settings):
    dispatch_settings(POLICY="plans", MAX_UNITS_PER_INCIDENT=3)
    units = [unit_at(km, capacity=1) for km in (0.5, 1.0, 1.5)]
    crash = incident(priority=2, patient_count=3)

    services.incident_dispatch_auto(incident_id=crash.pk)

    told = Event.objects.filter(type="incident.updated", incident_id=crash.pk).order_by("id").last()
    assert told is not None
    assert sorted(a["unit"]["id"] for a in told.data["assignments"]) == sorted(u.pk for u in units)


def test_several_units_count_each_units_capacity(dispatch_settings):
    dispatch_settings(POLICY="plans", MAX_UNITS_PER_INCIDENT=3)
    big = unit_at(0.5, capacity=2)
    small = unit_at(1.0, capacity=1)
    unit_at(1.5, capacity=1)
    crash = incident(priority=2, patient_count=3)

    services.incident_dispatch_auto(incident_id=crash.pk)

    assert [a.unit for a in active(crash)] == [big, small]


def test_several_units_stop_at_the_cap_and_say_when_they_are_short(dispatch_settings):
    dispatch_settings(POLICY="plans", MAX_UNITS_PER_INCIDENT=2)
    for km in (0.5, 1.0, 1.5):
        unit_at(km)
    crash = incident(priority=2, patient_count=5)

    services.incident_dispatch_auto(incident_id=crash.pk)

    assert len(active(crash)) == 2
    assert [a.data["incident"] for a in alerts("units_short")] == [crash.pk]


# --- Late alert -----------------------------------------------------------------------------------


def test_a_unit_past_its_eta_by_the_margin_raises_one_late_alert(dispatch_settings, enqueued):
    dispatch_settings(LATE_MARGIN_SECONDS=120)
    unit = unit_at(1.0)
    on_time = unit_at(5.0)
    wanted, other = incident(), incident()
    late = services.assignment_create(incident_id=wanted.pk, unit_id=unit.pk, by=None)
    services.assignment_transition(assignment_id=late.pk, status="en_route", by=None)
    fine = services.assignment_create(incident_id=other.pk, unit_id=on_time.pk, by=None)
    services.assignment_transition(assignment_id=fine.pk, status="en_route", by=None)
    late.refresh_from_db()
    # ETA about 168 s for the near unit, about 840 s for the far one; 6 minutes later only the near one is late.
    with time_machine.travel(timezone.now() + timedelta(seconds=late.eta_seconds + 240), tick=False):
        assert services.sweep()["late"] == 1
        assert services.sweep()["late"] == 0  # once per assignment

    sent = alerts("late")
    assert [(e.data["unit"], e.data["assignment"], e.incident_id) for e in sent] == [
        (unit.pk, late.pk, wanted.pk)
    ]


def test_a_unit_on_scene_is_never_late(dispatch_settings, enqueued):
    dispatch_settings(LATE_MARGIN_SECONDS=0)
    unit = unit_at(1.0)
    assignment = services.assignment_create(incident_id=incident().pk, unit_id=unit.pk, by=None)
    services.assignment_transition(assignment_id=assignment.pk, status="en_route", by=None)
    services.assignment_transition(assignment_id=assignment.pk, status="on_scene", by=None)

    with time_machine.travel(timezone.now() + timedelta(hours=1), tick=False):
        assert lateness.assignments_late_alert() == 0


# --- Pre-emption ----------------------------------------------------------------------------------


def _unit_on_its_way_to(priority: int, *, km_north: float, status: str = "en_route") -> Assignment:
    unit = unit_at(km_north)
    green = incident(priority=priority)
    assignment = services.assignment_create(incident_id=green.pk, unit_id=unit.pk, by=None)
    if status != "assigned":
        services.assignment_transition(assignment_id=assignment.pk, status=status, by=None)
    # It has driven to within `km_north` of the new call's place.
    return Assignment.objects.select_related("unit", "incident").get(pk=assignment.pk)


def test_priority_1_takes_a_unit_on_its_way_to_priority_3_when_that_saves_enough(dispatch_settings, enqueued):
    dispatch_settings(POLICY="plans", PREEMPT_SAVING_SECONDS=120)
    taken = _unit_on_its_way_to(3, km_north=0.5)
    unit_at(6.0)  # the best free unit: about 850 s further
    red = incident(priority=1)

    assignment = services.incident_dispatch_auto(incident_id=red.pk)

    assert assignment is not None
    assert assignment.unit_id == taken.unit_id
    taken.refresh_from_db()
    assert (taken.status, taken.ended_reason) == ("cancelled", "pre-empted")
    taken.incident.refresh_from_db()
    assert taken.incident.status == "pending"
    assert ("dispatch_incident", (taken.incident_id,)) in enqueued
    assert Assignment.objects.filter(unit_id=taken.unit_id, status__in=ACTIVE_STATUSES).count() == 1
    # The crew is told it is off the green call, then given the red one; the console gets both alerts.
    crew = [(e.type, e.data.get("id"), e.data.get("status"))
            for e in Event.objects.filter(unit_id=taken.unit_id, type__startswith="assignment.")]  # fmt: skip
    assert crew[-2:] == [
        ("assignment.updated", taken.pk, "cancelled"),
        ("assignment.created", assignment.pk, "assigned"),
    ]
    assert sorted(e.incident_id for e in alerts("preempted")) == sorted([red.pk, taken.incident_id])
    # The new job names the one it took the unit off, in its event and in any later read (a phone's snapshot).
    told = Event.objects.filter(type="assignment.created", unit_id=taken.unit_id).last().data
    fresh = AssignmentSerializer(assignments_with_detail().get(pk=assignment.pk)).data
    expected = {"id": taken.incident_id, "number": taken.incident.number, "priority": 3}
    assert told["diverted_from"] == fresh["diverted_from"] == expected
    assert AssignmentSerializer(assignments_with_detail().get(pk=taken.pk)).data["diverted_from"] is None


def test_pre_emption_is_off_when_the_saving_setting_is_zero(dispatch_settings, enqueued):
    dispatch_settings(POLICY="plans", PREEMPT_SAVING_SECONDS=0)
    taken = _unit_on_its_way_to(3, km_north=0.5)
    far = unit_at(6.0)

    assignment = services.incident_dispatch_auto(incident_id=incident(priority=1).pk)

    assert assignment is not None
    assert assignment.unit == far
    taken.refresh_from_db()
    assert taken.status == "en_route"


@pytest.mark.parametrize(
    ("priority", "status", "free_km"),
    [(2, "en_route", 6.0), (3, "on_scene", 6.0), (3, "en_route", 1.0)],
    ids=["priority-2-is-kept", "on-scene-is-kept", "saving-too-small"],
)
def test_pre_emption_leaves_the_unit_alone(dispatch_settings, enqueued, priority, status, free_km):
    dispatch_settings(POLICY="plans", PREEMPT_SAVING_SECONDS=120)
    taken = _unit_on_its_way_to(priority, km_north=0.5, status="en_route")
    if status == "on_scene":
        services.assignment_transition(assignment_id=taken.pk, status="on_scene", by=None)
    free = unit_at(free_km)

    assignment = services.incident_dispatch_auto(incident_id=incident(priority=1).pk)

    assert assignment is not None
    assert assignment.unit == free
    taken.refresh_from_db()
    assert taken.status == status


def test_a_waiting_priority_1_takes_a_unit_from_priority_3_when_none_is_free(dispatch_settings, enqueued):
    dispatch_settings(POLICY="plans", PREEMPT_SAVING_SECONDS=120)
    taken = _unit_on_its_way_to(3, km_north=3.0, status="assigned")

    red = incident(priority=1)

    assignment = services.incident_dispatch_auto(incident_id=red.pk)

    assert assignment is not None
    assert assignment.unit_id == taken.unit_id
    [told] = [e for e in alerts("preempted") if e.incident_id == red.pk]
    assert told.data["saving_seconds"] is None  # no unit was free at all


# --- Queue ----------------------------------------------------------------------------------------


def test_a_priority_1_call_with_no_unit_free_raises_an_alert_at_once(enqueued):
    unit_at(1.0, status="out_of_service")
    red = incident(priority=1)

    assert services.incident_dispatch_auto(incident_id=red.pk) is None

    [alert] = alerts("no_unit_available")
    assert (alert.incident_id, alert.data["priority"]) == (red.pk, 1)


def test_the_queue_serves_priority_1_before_an_older_priority_3(enqueued):
    green = incident(priority=3, received_at=timezone.now() - timedelta(minutes=10))
    red = incident(priority=1)
    unit = unit_at(1.0)

    assert services.queue_serve() == 1

    assert [a.unit for a in active(red)] == [unit]
    assert active(green) == []


# --- Hospitals ------------------------------------------------------------------------------------


def test_a_dispatcher_sets_a_hospitals_ed_status_and_the_console_is_told(make_client):
    hospital = HospitalFactory()
    client = make_client(Role.DISPATCHER)

    answer = client.post(
        f"/api/v1/hospitals/{hospital.pk}/status/", {"ed_status": "diversion"}, format="json"
    )

    assert answer.status_code == 200, answer.content
    assert answer.json()["ed_status"] == "diversion"
    hospital.refresh_from_db()
    assert hospital.ed_status == "diversion"
    [event] = Event.objects.filter(type="hospital.updated")
    assert (event.data["id"], event.data["ed_status"], event.for_console) == (hospital.pk, "diversion", True)


def test_hospital_status_refuses_other_roles_bad_values_and_unknown_ids(make_client):
    hospital = HospitalFactory()
    url = f"/api/v1/hospitals/{hospital.pk}/status/"

    assert make_client(Role.CALL_TAKER).post(url, {"ed_status": "closed"}, format="json").status_code == 403
    dispatcher = make_client(Role.DISPATCHER)
    bad = dispatcher.post(url, {"ed_status": "full"}, format="json")
    assert bad.status_code == 400
    assert "ed_status" in bad.json()["error"]["fields"]
    missing = dispatcher.post("/api/v1/hospitals/999999/status/", {"ed_status": "closed"}, format="json")
    assert missing.status_code == 404
    hospital.refresh_from_db()
    assert hospital.ed_status == "open"
    assert not Event.objects.filter(type="hospital.updated").exists()


def test_a_hospital_on_diversion_is_recommended_after_an_open_one_further_away(make_client):
    near = HospitalFactory(lat=CENTRE[0] + 0.5 * KM, lon=CENTRE[1])
    far = HospitalFactory(lat=CENTRE[0] + 3 * KM, lon=CENTRE[1])
    origin = LatLon(*CENTRE)
    assert hospitals.hospitals_ranked_for(origin=origin, case=hospitals.Case.GENERAL)[0].hospital == near

    make_client(Role.DISPATCHER).post(f"/api/v1/hospitals/{near.pk}/status/", {"ed_status": "diversion"},
                                      format="json")  # fmt: skip

    ranked = [r.hospital for r in hospitals.hospitals_ranked_for(origin=origin, case=hospitals.Case.GENERAL)]
    assert ranked == [far, near]
    assert Facility.objects.get(pk=near.pk).ed_status == "diversion"


# --- Coverage -------------------------------------------------------------------------------------


@pytest.fixture
def two_districts(db, dispatch_settings):
    """Demand 3.5 km north (kecamatan Utara) and 3.5 km south (Selatan); the target reaches about 2.86 km."""
    dispatch_settings(COVERAGE_TURNOUT_SECONDS=0)
    coverage._legs_cache.clear()
    kelurahan("Utara-1", 3.5, kecamatan="Utara")
    kelurahan("Selatan-1", -3.5, kecamatan="Selatan")


def test_coverage_sends_the_nearly_as_near_unit_that_leaves_the_city_covered(
    dispatch_settings, two_districts
):
    dispatch_settings(POLICY="coverage", COVERAGE_TOLERANCE_SECONDS=60, COVERAGE_TARGET_SECONDS=480)
    north = unit_at(1.0)  # nearest; the only one covering the north
    south = unit_at(-1.05)  # about 8 s further; the south stays covered by the third unit
    unit_at(-2.0)

    ranked = list(policies.units_ranked(incident(priority=2), list(Unit.objects.all())))
    assignment = services.incident_dispatch_auto(incident_id=incident(priority=2).pk)

    assert ranked[0].unit == south
    assert ranked[1].unit == north
    assert "of demand covered" in ranked[0].reason and north.call_sign in ranked[0].reason
    assert assignment is not None
    assert assignment.unit == south


def test_coverage_never_trades_more_than_the_tolerance(dispatch_settings, two_districts):
    dispatch_settings(POLICY="coverage", COVERAGE_TOLERANCE_SECONDS=5, COVERAGE_TARGET_SECONDS=480)
    north = unit_at(1.0)
    unit_at(-1.05)
    unit_at(-2.0)

    assignment = services.incident_dispatch_auto(incident_id=incident(priority=2).pk)

    assert assignment is not None
    assert assignment.unit == north


def test_moveup_sends_an_idle_unit_to_the_post_that_covers_an_uncovered_kecamatan(
    dispatch_settings, two_districts, make_client
):
    dispatch_settings(COVERAGE_TARGET_SECONDS=480, MOVEUP_MAX_MOVES=3)
    south_post = StationFactory(name="Pos Selatan", lat=CENTRE[0] - 3.5 * KM, lon=CENTRE[1])
    north_post = StationFactory(name="Pos Utara", lat=CENTRE[0] + 3.5 * KM, lon=CENTRE[1])
    first = UnitFactory(station=south_post, call_sign="A-1", location_at=timezone.now())
    UnitFactory(station=south_post, call_sign="A-2", location_at=timezone.now())

    plan = make_client(Role.DISPATCHER).get("/api/v1/moveup/").json()

    assert plan["uncovered"] == ["Utara"]
    assert plan["uncovered_after"] == []
    [move] = plan["moves"]
    assert move["to_station"]["id"] == north_post.pk
    assert move["newly_covered"] == ["Utara"]
    assert move["coverage_after"] > move["coverage_before"]
    assert move["unit"]["call_sign"] in ("A-1", "A-2")

    dispatcher = make_client(Role.DISPATCHER)
    applied = dispatcher.post("/api/v1/moveup/", {"unit": first.pk, "station": north_post.pk}, format="json")

    assert applied.status_code == 200, applied.content
    assert Unit.objects.get(pk=first.pk).station == north_post
    assert Event.objects.filter(type="unit.updated", unit_id=first.pk).exists()
    assert make_client(Role.CALL_TAKER).get("/api/v1/moveup/").status_code == 403


def test_moveup_proposes_nothing_when_every_kecamatan_is_covered(dispatch_settings, two_districts):
    dispatch_settings(COVERAGE_TARGET_SECONDS=480)
    UnitFactory(station=StationFactory(lat=CENTRE[0] - 3.5 * KM, lon=CENTRE[1]), location_at=timezone.now())
    UnitFactory(station=StationFactory(lat=CENTRE[0] + 3.5 * KM, lon=CENTRE[1]), location_at=timezone.now())

    plan = moveup.moveup_plan()

    assert plan.uncovered == ()
    assert plan.moves == ()


def test_moveup_refuses_a_busy_unit(make_client, enqueued):
    unit = unit_at(1.0)
    services.assignment_create(incident_id=incident().pk, unit_id=unit.pk, by=None)
    station = Station.objects.create(name="Pos Lain", lat=CENTRE[0], lon=CENTRE[1])

    answer = make_client(Role.DISPATCHER).post("/api/v1/moveup/", {"unit": unit.pk, "station": station.pk},
                                               format="json")  # fmt: skip

    assert answer.status_code == 409
    assert Unit.objects.get(pk=unit.pk).station != station


def test_moveup_sends_a_unit_on_its_way_back_to_the_post_that_covers_the_city_not_home(
    dispatch_settings, two_districts, make_client
):
    dispatch_settings(COVERAGE_TARGET_SECONDS=480, MOVEUP_MAX_MOVES=3)
    south_post = StationFactory(name="Pos Selatan", lat=CENTRE[0] - 3.5 * KM, lon=CENTRE[1])
    north_post = StationFactory(name="Pos Utara", lat=CENTRE[0] + 3.5 * KM, lon=CENTRE[1])
    UnitFactory(station=south_post, call_sign="WAIT-1")
    # Cleared at the centre and heading home to the south, where WAIT-1 already stands by.
    back = UnitFactory(
        station=south_post, call_sign="BACK-1", status="returning", lat=CENTRE[0], lon=CENTRE[1]
    )

    plan = make_client(Role.DISPATCHER).get("/api/v1/moveup/").json()

    assert plan["uncovered"] == ["Utara"]  # counted where it is heading, BACK-1 covers the south twice over
    [move] = plan["moves"]
    assert move["unit"]["call_sign"] == back.call_sign  # it drives anyway, and is nearer than WAIT-1
    assert move["to_station"]["id"] == north_post.pk
    assert move["reason"] == "on its way back: covers Utara within the target"
    assert plan["uncovered_after"] == []


def test_moveup_leaves_a_waiting_unit_home_for_a_long_drive_that_only_adds_coverage(dispatch_settings, db):
    dispatch_settings(COVERAGE_TARGET_SECONDS=480, COVERAGE_TURNOUT_SECONDS=0, MOVEUP_MAX_TRAVEL_SECONDS=600)
    coverage._legs_cache.clear()
    kelurahan("Tengah-1", 0.0, kecamatan="Tengah", population=30_000)
    kelurahan("Tengah-2", 5.0, kecamatan="Tengah", population=10_000)  # the kecamatan is covered without it
    home = StationFactory(name="Pos Tengah", lat=CENTRE[0], lon=CENTRE[1])
    far = StationFactory(name="Pos Jauh", lat=CENTRE[0] + 5.0 * KM, lon=CENTRE[1])  # about 840 s away
    UnitFactory(station=home, call_sign="A-1")
    UnitFactory(station=home, call_sign="A-2")

    assert moveup.moveup_plan().moves == ()

    dispatch_settings(MOVEUP_MAX_TRAVEL_SECONDS=1200)
    [move] = moveup.moveup_plan().moves
    assert move.to == far
    assert move.newly_covered == ()
    assert move.coverage_after > move.coverage_before


def test_coverage_counts_the_turnout_so_a_place_the_drive_alone_reaches_in_time_is_not_covered(
    dispatch_settings, db
):
    coverage._legs_cache.clear()
    kelurahan("Jauh-1", 2.6, kecamatan="Jauh")  # about 440 s by road: inside 480 s, not inside 480 - 90 s
    post = StationFactory(name="Pos Pusat", lat=CENTRE[0], lon=CENTRE[1])
    UnitFactory(station=post)
    points = coverage.demand_points()
    seconds = coverage.travel_seconds([LatLon(post.lat, post.lon)], points)

    dispatch_settings(COVERAGE_TARGET_SECONDS=480, COVERAGE_TURNOUT_SECONDS=0)
    assert coverage.expected_coverage(coverage.covering_counts(seconds, len(points)), points) > 0.5
    dispatch_settings(COVERAGE_TURNOUT_SECONDS=90)
    assert coverage.reach_seconds() == 390
    assert coverage.expected_coverage(coverage.covering_counts(seconds, len(points)), points) == 0
    assert moveup.moveup_plan().uncovered == ("Jauh",)
