"""The posting plan (issue 7): where N units should wait, against today's posting; and the issue's scale check on
Kota Malang's real roads (skipped, with the reason, where ../shared/data/malang is absent)."""

import itertools
import json
import statistics
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Role
from dispatch import coverage, posting
from geo.models import Facility, Region
from geo.points import LatLon
from geo.roadnet import network_build
from geo.routing import road_engine
from tests.conftest import SHARED_MALANG
from tests.factories import CENTRE, KM, StationFactory, UnitFactory, kelurahan


def expected(
    placed: list[int], rows: list[list[float]], weights: list[float], q: float, reach: float
) -> float:
    k = [sum(n for n, row in zip(placed, rows, strict=True) if row[p] <= reach) for p in range(len(weights))]
    return sum(w * (1 - q**c) for w, c in zip(weights, k, strict=True))


# --- The optimisation ------------------------------------------------------------------------------


def test_the_greedy_plan_with_interchange_is_optimal_on_a_small_town():
    # Five neighbourhoods on a line, four sites; site 1 alone reaches the most demand, but two units do better
    # at sites 0 and 2 than anywhere together with site 1 (greedy starts at 1; the interchange must leave it).
    weights = [0.25, 0.15, 0.2, 0.15, 0.25]
    rows: list[list[float]] = [
        [100, 200, 900, 900, 900],  # site 0: the west end
        [900, 200, 200, 200, 900],  # site 1: the middle, reaching the middle three
        [900, 900, 900, 200, 100],  # site 2: the east end
        [900, 900, 200, 900, 900],  # site 3: the centre point only
    ]
    q, reach = 0.3, 300.0
    for units in (1, 2, 3, 4):
        placed = posting.placement_mexclp(rows, weights, units=units, q=q, reach=reach)
        assert sum(placed) == units
        best = max(
            expected([c.count(s) for s in range(4)], rows, weights, q, reach)
            for c in itertools.combinations_with_replacement(range(4), units)
        )
        assert expected(placed, rows, weights, q, reach) == pytest.approx(best)
    assert posting.placement_mexclp(rows, weights, units=2, q=q, reach=reach) == [1, 0, 1, 0]


def test_several_units_share_a_site_when_that_adds_the_most():
    # One heavy neighbourhood that only site 0 reaches: a second unit there beats a lonely light one elsewhere.
    weights = [0.9, 0.1]
    rows: list[list[float]] = [[100, 900], [900, 100]]
    placed = posting.placement_mexclp(rows, weights, units=2, q=0.5, reach=300)
    assert placed == [2, 0]


# --- The plan against today's posting, through the API ----------------------------------------------


@pytest.fixture
def two_districts(db, settings):
    """Demand 3.5 km north (Utara, twice the people) and 3.5 km south (Selatan); today both units wait south."""
    settings.DISPATCH = {**settings.DISPATCH, "COVERAGE_TARGET_SECONDS": 480, "COVERAGE_TURNOUT_SECONDS": 0,
                         "COVERAGE_BUSY_FRACTION": 0.3}  # fmt: skip
    coverage._legs_cache.clear()
    kelurahan("Utara-1", 3.5, kecamatan="Utara", population=20_000)
    kelurahan("Selatan-1", -3.5, kecamatan="Selatan", population=10_000)
    south = StationFactory(name="Pos Selatan", lat=CENTRE[0] - 3.5 * KM, lon=CENTRE[1])
    UnitFactory(station=south)
    UnitFactory(station=south)
    north = Facility.objects.create(kind=Facility.Kind.PUSKESMAS, name="Puskesmas Utara",
                                    lat=CENTRE[0] + 3.5 * KM, lon=CENTRE[1])  # fmt: skip
    return south, north


def test_the_plan_puts_a_unit_where_todays_posting_leaves_demand_uncovered(two_districts, make_client):
    south, north = two_districts

    answer = make_client(Role.SUPERVISOR).get("/api/v1/posting-plan/?units=2")

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert set(body) == {"units", "target_seconds", "plan", "current", "kecamatan"}
    assert body["units"] == 2
    assert body["target_seconds"] == 480
    for side in ("plan", "current"):
        assert set(body[side]) == {"posts", "expected_coverage", "covered_share", "median_s", "p90_s"}
    plan = {(p["site"]["kind"], p["site"]["id"]): p["units"] for p in body["plan"]["posts"]}
    assert plan == {("puskesmas", north.pk): 1, ("station", south.pk): 1}
    post = next(p for p in body["plan"]["posts"] if p["site"]["kind"] == "puskesmas")
    assert post["site"]["name"] == "Puskesmas Utara"
    assert post["site"]["location"] == {"lat": north.lat, "lon": north.lon}
    assert body["current"]["posts"] == [
        {"site": {"kind": "station", "id": south.pk, "name": "Pos Selatan",
                  "location": {"lat": south.lat, "lon": south.lon}}, "units": 2}
    ]  # fmt: skip
    assert body["current"]["covered_share"] == pytest.approx(1 / 3, abs=0.01)
    assert body["plan"]["covered_share"] == pytest.approx(1.0)
    assert body["plan"]["expected_coverage"] > body["current"]["expected_coverage"]
    assert body["plan"]["median_s"] < body["current"]["median_s"]
    assert body["kecamatan"] == [
        {"name": "Selatan", "plan_covered_share": 1.0, "current_covered_share": 1.0},
        {"name": "Utara", "plan_covered_share": 1.0, "current_covered_share": 0.0},
    ]


def test_the_plan_never_covers_less_than_todays_posting(two_districts):
    for units in (1, 2, 3):
        comparison = posting.posting_plan(units=units)
        assert sum(n for _, n in comparison.plan.posts) == units
        if units >= 2:  # today's two units: the plan may always keep them where they are
            assert comparison.plan.expected_coverage >= comparison.current.expected_coverage


def test_posting_plan_refuses_bad_unit_counts_and_other_roles(two_districts, make_client):
    client = make_client(Role.DISPATCHER)
    for bad in ("0", "-3", "abc", "100000"):
        answer = client.get(f"/api/v1/posting-plan/?units={bad}")
        assert answer.status_code == 400, bad
        assert answer.json()["error"]["code"] == "invalid"
        assert "units" in answer.json()["error"]["fields"]
    assert client.get("/api/v1/posting-plan/").json()["units"] == 2  # today's units in service
    assert make_client(Role.CALL_TAKER).get("/api/v1/posting-plan/?units=2").status_code == 403


def test_posting_plan_command_prints_the_comparison_and_writes_json(two_districts, tmp_path):
    out = StringIO()
    call_command("posting_plan", "--units", "2", "--json", str(tmp_path / "plan.json"), stdout=out)

    text = out.getvalue()
    assert "Puskesmas Utara" in text and "Pos Selatan" in text
    assert "expected coverage" in text
    data = json.loads((tmp_path / "plan.json").read_text())
    assert data["plan"]["covered_share"] == pytest.approx(1.0)


# --- Kota Malang: the issue's scale check --------------------------------------------------------


@pytest.fixture(scope="module")
def malang_roads(tmp_path_factory):
    source = SHARED_MALANG / "malang_roads_big_rbi25k.geojson"
    if not source.exists():
        pytest.skip(f"Malang reference data not found at {SHARED_MALANG}")
    return network_build(source=source, data=tmp_path_factory.mktemp("malang") / "osrm").base.parents[2]


@pytest.fixture(scope="module")
def malang_city(django_db_blocker):
    """Kota Malang's kelurahan, puskesmas and hospitals, imported once for this module and removed after."""
    from dispatch.demo import demo_import_data

    if not (SHARED_MALANG / "malang_kelurahan_big2021.geojson").exists():
        pytest.skip(f"Malang reference data not found at {SHARED_MALANG}")
    with django_db_blocker.unblock():
        demo_import_data(SHARED_MALANG)
    yield
    with django_db_blocker.unblock():
        from geo.models import PlaceAlias, Street

        for model in (PlaceAlias, Street, Facility, Region):
            model.objects.all().delete()


@pytest.fixture
def malang_routing(malang_roads, malang_city, settings, db):
    settings.GEO = {**settings.GEO, "ROAD_ENGINE": "osrm", "OSRM_DATA": str(malang_roads),
                    "OSRM_RELOAD_CHECK_SECONDS": 0.0}  # fmt: skip
    road_engine.cache_clear()
    coverage._legs_cache.clear()
    yield
    road_engine.cache_clear()
    coverage._legs_cache.clear()


def site(facility: Facility) -> posting.Site:
    return posting.Site(str(facility.kind), facility.pk, facility.name, LatLon(facility.lat, facility.lon))


@pytest.mark.malang
def test_nearest_post_road_times_match_the_issues_scale_on_malang(malang_routing):
    puskesmas = list(Facility.objects.filter(kind=Facility.Kind.PUSKESMAS))
    assert len(puskesmas) == 16
    rsud = Facility.objects.get(kind=Facility.Kind.HOSPITAL, name__icontains="RSUD Kota Malang")

    everywhere = posting.posting_figures([(site(f), 1) for f in puskesmas])
    one_post = posting.posting_figures([(site(rsud), 1)])

    # The issue: about 4 min median and 10.5 min p90 from the 16 puskesmas; about 18 and 25 min from RSUD Kota.
    assert everywhere.median_s == pytest.approx(4 * 60, rel=0.3)
    assert everywhere.p90_s == pytest.approx(10.5 * 60, rel=0.3)
    assert one_post.median_s == pytest.approx(18 * 60, rel=0.3)
    assert one_post.p90_s == pytest.approx(25 * 60, rel=0.3)


@pytest.mark.malang
def test_the_malang_plan_beats_the_demo_posting(malang_routing):
    from dispatch.demo import UNITS, demo_posts_load

    stations = demo_posts_load()
    for call_sign, kind, owner, post in UNITS[:10]:
        UnitFactory(call_sign=call_sign, kind=kind, owner=owner, station=stations[post])

    comparison = posting.posting_plan(units=10)

    assert sum(n for _, n in comparison.plan.posts) == 10
    assert comparison.plan.expected_coverage >= comparison.current.expected_coverage
    assert comparison.plan.covered_share >= comparison.current.covered_share
    kecamatan = comparison.plan.kecamatan_covered
    assert set(kecamatan) == {"Blimbing", "Kedungkandang", "Klojen", "Lowokwaru", "Sukun"}
    assert statistics.fmean(kecamatan.values()) >= statistics.fmean(
        comparison.current.kecamatan_covered.values()
    )
