"""`load_demo --data` imports Kota Malang's places: regions, facilities, streets, our landmarks and aliases."""

import csv

import pytest

from dispatch.demo import demo_import_data
from geo.imports import BUNDLED
from geo.models import Facility, PlaceAlias, Region, Street
from tests.conftest import SHARED_MALANG

pytestmark = [pytest.mark.django_db, pytest.mark.malang]


def test_demo_import_brings_in_regions_facilities_streets_landmarks_and_aliases(malang_places):
    assert malang_places["kecamatan"] == 5
    assert malang_places["kelurahan"] == 57
    assert malang_places["service_area"] == 1
    assert malang_places["hospitals"] == 27
    assert malang_places["puskesmas"] == 16
    assert malang_places["streets"] >= 180
    assert malang_places["landmarks"] >= 40
    assert malang_places["aliases"] >= 40
    assert Street.objects.count() == malang_places["streets"]
    assert Facility.objects.filter(kind="landmark").count() == malang_places["landmarks"]
    with (BUNDLED / "malang_aliases.csv").open(newline="", encoding="utf-8") as handle:
        wanted = {(r["name"], r["alias"]) for r in csv.DictReader(handle)}
    linked = {
        ((a.facility or a.street or a.region).name, a.name)
        for a in PlaceAlias.objects.select_related("facility", "street", "region")
    }
    assert wanted <= linked, "an alias in geo/data/malang_aliases.csv names a place the data does not have"


def test_demo_import_twice_changes_nothing(malang_places):
    counts = [m.objects.count() for m in (Region, Facility, Street, PlaceAlias)]
    demo_import_data(SHARED_MALANG)
    assert [m.objects.count() for m in (Region, Facility, Street, PlaceAlias)] == counts
