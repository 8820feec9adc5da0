"""How often the gazetteer puts what a caller means first, on the real city: tests/geo/malang_queries.py."""

import pytest

from geo import gazetteer
from geo.points import LatLon
from tests.geo.malang_queries import ALL, Case

pytestmark = [pytest.mark.django_db, pytest.mark.malang]


def _ranks(case: Case) -> int | None:
    """1-based rank of the first right answer among the top 3, or None."""
    for rank, place in enumerate(gazetteer.search(case.query, limit=3), start=1):
        if case.is_right(kind=place.kind, kelurahan=place.kelurahan, kecamatan=place.kecamatan):
            return rank
    return None


def test_search_puts_the_kelurahan_the_caller_means_first_at_least_90_percent_of_the_time(malang_places):
    assert len(ALL) >= 150
    assert len({c.query.lower() for c in ALL}) == len(ALL), "a query is in the set twice"
    ranks = [(case, _ranks(case)) for case in ALL]
    top1 = sum(r == 1 for _, r in ranks) / len(ALL)
    top3 = sum(r is not None for _, r in ranks) / len(ALL)
    missed = [f"{c.query!r} -> rank {r}" for c, r in ranks if r != 1]
    print(f"\ngazetteer accuracy over {len(ALL)} Malang queries: top-1 {top1:.1%}, top-3 {top3:.1%}")
    for line in missed:
        print("  not first:", line)
    assert top1 >= 0.90, f"top-1 {top1:.1%} (top-3 {top3:.1%}); not first: {missed}"
    assert top3 >= top1


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("depan Matos", "Malang Town Square"),
        ("RSSA", "RSUD Dr. Saiful Anwar (RSSA)"),
        ("rs supraun", "RST Tk.II Dr. Soepraoen"),
        ("Kelurahan Oro-oro Dowo", "Oro-oro Dowo"),
        ("Jl. Ijen dekat gereja", "Gereja Katedral Ijen"),
        ("mesjid jami alun2", "Masjid Agung Jami' Malang"),
        ("Jl. Veteran depan Matos", "Malang Town Square"),
        ("pasar besr", "Pasar Besar Malang"),
    ],
)
def test_search_names_the_place_itself_not_only_its_kelurahan(malang_places, query, name):
    assert gazetteer.search(query, limit=1)[0].name == name


def test_reverse_at_matos_names_matos(malang_places):
    found = gazetteer.reverse(LatLon(-7.95690, 112.61855))
    assert found.placement.kelurahan == "Penanggungan"
    assert found.nearest_landmark is not None
    assert found.nearest_landmark.name == "Malang Town Square"
    assert found.nearest_landmark.distance_m < 15
    assert found.placement.inside_service_area is True


def test_a_call_with_only_an_address_is_placed_by_the_geocoding_task(malang_places, call_taker, unit):
    from calls.models import Incident
    from dispatch.tasks import geocode_incident

    answer = call_taker.post(
        "/api/v1/calls/",
        {"caller_phone": "081234567892", "complaint": "kejang", "priority": 1, "address": "depan Matos"},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    incident_id = answer.json()["incident"]["id"]
    assert Incident.objects.get(pk=incident_id).lat is None
    assert geocode_incident(incident_id) is True
    incident = Incident.objects.get(pk=incident_id)
    assert (incident.lat, incident.lon) == (-7.9568, 112.6186)
    assert (incident.kelurahan, incident.kecamatan, incident.outside_service_area) == (
        "Penanggungan",
        "Klojen",
        False,
    )
