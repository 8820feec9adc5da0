"""The simulator: it reproduces geo's travel times, repeats itself for a seed, and drives the real services."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from calls.models import Incident
from dispatch import policies, services, simulation
from dispatch.models import Assignment, Event, StatusChange
from fleet.models import Unit
from geo.models import Region
from geo.points import LatLon
from geo.routing import travel_times_to
from tests.factories import IncidentFactory, StationFactory, UnitFactory

ROOT = Path(__file__).resolve().parents[2]

# Three made-up kelurahan around the centre of Kota Malang (lon/lat squares), so no reference data is needed.
SQUARES = {
    "Kel. Utara": (112.615, -7.955, 112.645, -7.935),
    "Kel. Tengah": (112.615, -7.990, 112.645, -7.960),
    "Kel. Selatan": (112.615, -8.025, 112.645, -7.995),
}


def _square(west, south, east, north):
    return {
        "type": "Polygon",
        "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
    }


@pytest.fixture
def kelurahan(db):
    for name, box in SQUARES.items():
        Region.objects.create(kind=Region.Kind.KELURAHAN, name=name, geometry=_square(*box))


@pytest.fixture
def world(kelurahan):
    return simulation.world_build(units=8)


@pytest.fixture
def areas(kelurahan):
    return simulation.demand_areas()


def _draw(areas, *, seed=7, calls_per_day=24.0, hours=6.0, **assumptions):
    return simulation.calls_draw(
        areas=areas,
        assumptions=simulation.Assumptions(**assumptions),
        calls_per_day=calls_per_day,
        hours=hours,
        seed=seed,
    )


def test_validation_gate_simulated_travel_equals_a_direct_geo_query_from_the_nearest_post(world, areas):
    gate = simulation.validation_gate(world=world, areas=areas, samples=6, seed=3)

    assert gate.passed, gate.rows
    assert gate.nearest_post_taken == 6
    for row in gate.rows:
        # Checked here again, independently of the gate's own bookkeeping.
        point = LatLon(row["lat"], row["lon"])
        direct = travel_times_to(destination=point, origins=list(world.posts.values()))
        assert row["simulated_travel_s"] == pytest.approx(min(leg.duration_s for leg in direct), abs=1e-3)
        assert row["turnout_s"] == 0


def test_validation_gate_fails_when_the_simulated_origin_is_not_the_post(world, areas, monkeypatch):
    # A crew that starts 2 km away from its post must not pass the gate.
    real_move = simulation._Crew.position

    def displaced(self, now_s):
        here = real_move(self, now_s)
        return LatLon(here.lat + 0.018, here.lon)

    monkeypatch.setattr(simulation._Crew, "position", displaced)
    gate = simulation.validation_gate(world=world, areas=areas, samples=3, seed=3)

    assert not gate.passed
    assert gate.max_difference_s > 1


def test_the_same_seed_draws_the_same_calls_and_gives_the_same_response_times(world, areas):
    calls = _draw(areas, seed=11)
    assert calls == _draw(areas, seed=11)
    assert calls != _draw(areas, seed=12)

    first = simulation.simulation_run(
        world=world, calls=calls, policy="road", seed=11, assumptions=simulation.Assumptions()
    )
    second = simulation.simulation_run(
        world=world, calls=calls, policy="road", seed=11, assumptions=simulation.Assumptions()
    )

    assert len(first.rows) == len(calls) > 0
    assert [r.intervals for r in first.rows] == [r.intervals for r in second.rows]
    assert simulation.run_metrics(first) == simulation.run_metrics(second)


def test_calls_follow_the_stated_priority_shares_and_stay_inside_their_kelurahan(areas):
    calls = _draw(areas, seed=1, calls_per_day=400, hours=24, priority_shares=(0.2, 0.5, 0.3))

    assert 300 < len(calls) < 500
    shares = [sum(c.priority == p for c in calls) / len(calls) for p in (1, 2, 3)]
    assert shares == pytest.approx([0.2, 0.5, 0.3], abs=0.07)
    for call in calls:
        west, south, east, north = SQUARES[call.kelurahan]
        assert west <= call.location.lon <= east
        assert south <= call.location.lat <= north
    night = sum(1 for c in calls if 2 <= (c.at_s % 86_400) / 3600 < 5)
    midday = sum(1 for c in calls if 10 <= (c.at_s % 86_400) / 3600 < 13)
    assert midday > 2 * night  # the diurnal profile


def test_a_run_drives_the_real_services_and_leaves_nothing_behind(world, areas):
    calls = _draw(areas, seed=5, calls_per_day=48, hours=3)
    seen = {}

    def inspect():
        seen["incidents"] = Incident.objects.count()
        seen["closed"] = Incident.objects.filter(status="closed").count()
        seen["assignments"] = list(Assignment.objects.values_list("status", "automatic"))
        seen["assignment_changes"] = StatusChange.objects.filter(subject="assignment").count()
        seen["created_events"] = Event.objects.filter(type="assignment.created").count()
        seen["received"] = sorted(Incident.objects.values_list("received_at", flat=True))

    result = simulation.simulation_run(
        world=world, calls=calls, policy="road", seed=5, assumptions=simulation.Assumptions(), inspect=inspect
    )

    assert seen["incidents"] == seen["closed"] == len(calls) > 2
    assert seen["created_events"] == len(seen["assignments"]) >= len(calls)
    assert all(status == "cleared" and automatic for status, automatic in seen["assignments"])
    # assigned → (acknowledged) → en_route → on_scene → [transporting → at_hospital] → cleared, per assignment
    assert seen["assignment_changes"] >= 4 * len(calls)
    # The services read the simulated clock: the calls were received when the simulation said.
    start = seen["received"][0] - __import__("datetime").timedelta(seconds=calls[0].at_s)
    assert [(r - start).total_seconds() for r in seen["received"]] == pytest.approx(
        [c.at_s for c in calls], abs=1e-3
    )
    assert result.invariants["open_incidents_at_end"] == 0
    assert result.invariants["units_not_available_at_end"] == 0
    # Rolled back: the database holds only the world again.
    assert Incident.objects.count() == 0
    assert not Assignment.objects.exists()
    assert set(Unit.objects.values_list("status", flat=True)) == {"available"}


def test_calls_beyond_the_fleet_wait_in_the_queue_and_are_served_when_a_unit_clears(kelurahan, areas):
    world = simulation.world_build(units=1)
    calls = [
        simulation.SimCall(at_s=60.0 * i, location=LatLon(-7.975, 112.63), kelurahan="Kel. Tengah", priority=2,
                           phone=f"+6281300000{i}", ack_s=10, turnout_s=60, on_scene_s=300, transport=False,
                           handover_s=0)
        for i in range(3)
    ]  # fmt: skip

    result = simulation.simulation_run(
        world=world, calls=calls, policy="road", seed=0, assumptions=simulation.Assumptions()
    )

    waits = [row.intervals["call_to_dispatch"] for row in result.rows]
    assert waits[0] == pytest.approx(0.1)
    assert waits[1] > 300 and waits[2] > waits[1]  # served one after the other by serve_queue
    assert result.invariants["open_incidents_at_end"] == 0


def test_the_policy_in_force_decides_which_unit_auto_dispatch_sends(db, monkeypatch):
    near = UnitFactory(call_sign="NEAR", station=StationFactory(lat=-7.9830, lon=112.6310))
    far = UnitFactory(call_sign="FAR", station=StationFactory(lat=-8.0300, lon=112.6400))
    incident = IncidentFactory(lat=-7.9826, lon=112.6308, priority=2)

    def farthest(incident, units):
        return list(reversed(list(policies.policy_get("road").rank(incident, units))))

    monkeypatch.setitem(policies._REGISTRY, "farthest", policies.Policy("farthest", farthest, "test only"))

    with policies.policy_using("farthest"):
        assignment = services.incident_dispatch_auto(incident_id=incident.id)

    assert assignment is not None and assignment.unit_id == far.id
    assert policies.policy_active().name == settings.DISPATCH["POLICY"] == "road"
    assert near.id != far.id


def test_straight_ranks_like_road_when_geo_answers_geodesic(db):
    units = [
        UnitFactory(call_sign=f"S-{i}", kind="bls" if i % 2 else "als",
                    station=StationFactory(lat=-7.95 - i * 0.01, lon=112.60 + i * 0.008))
        for i in range(6)
    ]  # fmt: skip
    incident = IncidentFactory(lat=-7.99, lon=112.64, priority=1)
    road = [c.unit.call_sign for c in policies.policy_get("road").rank(incident, units)]
    assert len(road) == 6
    straight = [c.unit.call_sign for c in policies.policy_get("straight").rank(incident, units)]
    assert road == straight


def test_an_unknown_policy_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match="road, straight"):
        policies.policy_get("nope")


def test_mean_ci_uses_the_t_distribution():
    figures = simulation.mean_ci([1.0, 2.0, 3.0])
    assert figures["mean"] == 2.0
    assert figures["ci95"] == pytest.approx(4.303 / 3**0.5, rel=1e-3)
    assert simulation.mean_ci([5.0])["ci95"] is None


def test_the_simulate_command_prints_a_table_and_writes_json(tmp_path):
    features = [
        {"type": "Feature", "properties": {"NAMOBJ": name, "LUASWH": 100.0, "kecamatan": "Klojen"},
         "geometry": _square(*box)}
        for name, box in SQUARES.items()
    ]  # fmt: skip
    data = tmp_path / "city"
    data.mkdir()
    (data / "malang_kelurahan_big2021.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )
    out = tmp_path / "sim.json"
    command = [sys.executable, "manage.py", "simulate", "--hours", "4", "--calls-per-day", "36", "--units", "6",
               "--compare", "road,straight", "--seeds", "2", "--data", str(data), "--json", str(out),
               "--no-progress"]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert "Validation gate" in done.stdout and "PASSED" in done.stdout
    assert "in-memory SQLite" in done.stdout
    assert "P1 reached within 8 min" in done.stdout
    record = json.loads(out.read_text())
    assert record["validation_gate"]["passed"] is True
    assert {r["policy"] for r in record["runs"]} == {"road", "straight"}
    assert [r["seed"] for r in record["runs"]] == [1, 1, 2, 2]
    assert set(record["comparison"]["p1_response_median_min"]) == {"road", "straight"}
    assert record["demand"] == "area (no population imported)"
    for run in record["runs"]:
        assert run["invariants"]["open_incidents_at_end"] == 0
        assert run["report"]["by_priority"]


def test_a_moveup_run_moves_units_through_the_real_services_and_leaves_nothing_behind(kelurahan, areas):
    # Two of the three units wait at RSUD Kota Malang, in the far south: move-up must send one north.
    world = simulation.world_build(units=3)
    calls = _draw(areas, seed=3, calls_per_day=48, hours=4)
    seen = {}

    def inspect():
        seen["moves"] = list(
            StatusChange.objects.filter(subject="unit", reason__startswith="move-up").values_list(
                "reason", flat=True
            )
        )

    results = {
        policy: simulation.simulation_run(world=world, calls=calls, policy=policy, seed=3,
                                          assumptions=simulation.Assumptions(), inspect=inspect)
        for policy in ("road", "coverage+moveup")
    }  # fmt: skip

    assert seen["moves"], "no unit was moved up"
    assert any("RSUD Kota Malang →" in reason for reason in seen["moves"])
    for result in results.values():
        assert result.invariants["open_incidents_at_end"] == 0
        assert result.invariants["active_assignments_at_end"] == 0
        assert result.invariants["units_not_available_at_end"] == 0
        assert result.utilisation is not None and 0 < result.utilisation < 1
    assert set(Unit.objects.values_list("station__name", flat=True)) == {
        "RSUD Kota Malang",
        "Puskesmas Kendalkerep",
    }


def test_the_comparison_reports_paired_relative_changes():
    metrics = {
        ("road", 1): {"all_late_8_pct": 40.0}, ("road", 2): {"all_late_8_pct": 20.0},
        ("moveup", 1): {"all_late_8_pct": 30.0}, ("moveup", 2): {"all_late_8_pct": 16.0},
    }  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(simulation, "METRICS", (("all_late_8_pct", "late"),))
        comp = simulation.comparison_of_metrics(metrics, ["road", "moveup"])

    row = comp["all_late_8_pct"]["moveup"]
    assert row["difference_from_road"]["mean"] == pytest.approx(-7.0)
    assert row["relative_to_road"]["mean"] == pytest.approx(-22.5)  # -25 % and -20 %
    assert row["relative_to_road"]["n"] == 2
