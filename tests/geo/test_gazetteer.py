"""The gazetteer on its own terms: spelling, ranking, freshness, geocoding with and without a remote geocoder,
and reverse lookups. Small places are made here; the real city is used where it says `malang_places`."""

import math

import pytest
from geopy.exc import GeocoderServiceError, GeocoderTimedOut
from geopy.geocoders import Nominatim, Photon
from geopy.location import Location

from geo import gazetteer
from geo.gazetteer import address_street, normalise
from geo.models import Facility, PlaceAlias, Region, Street
from geo.points import LatLon
from geo.regions import locate


def square(lat: float, lon: float, half_m: float) -> dict:
    """A GeoJSON square of 2 x half_m metres around a point."""
    dlat = half_m / 110_574
    dlon = half_m / (111_320 * math.cos(math.radians(lat)))
    ring = [
        [lon - dlon, lat - dlat],
        [lon + dlon, lat - dlat],
        [lon + dlon, lat + dlat],
        [lon - dlon, lat + dlat],
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def line(*points: tuple[float, float]) -> dict:
    return {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in points]}


@pytest.fixture
def town(db):
    """Two kelurahan side by side in one kecamatan, a mall with an alias, a hospital and a street."""
    kec = Region.objects.create(kind="kecamatan", name="Kota Contoh", geometry=square(-7.98, 112.63, 2000))
    west = Region.objects.create(
        kind="kelurahan", name="Barat Jaya", parent=kec, geometry=square(-7.98, 112.62, 900)
    )
    Region.objects.create(
        kind="kelurahan", name="Timur Raya", parent=kec, geometry=square(-7.98, 112.64, 900)
    )
    mall = Facility.objects.create(
        kind="landmark", category="mall", name="Contoh Town Square", lat=-7.981, lon=112.621
    )
    PlaceAlias.objects.create(name="Cotos", facility=mall)
    Facility.objects.create(
        kind="hospital", category="RSU", name="RSUD Dr. Wahidin (RSWH)", lat=-7.979, lon=112.641,
        address="Jl. Merpati Putih No. 7, Timur Raya",
    )  # fmt: skip
    Street.objects.create(name="Jalan Cendrawasih", geometry=line((-7.975, 112.615), (-7.975, 112.645)))
    return {"west": west}


# --- Spelling ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "same_as"),
    [
        ("Jl. Ijen", "jalan ijen"),
        ("JLN IJEN", "Jalan Ijen"),
        ("Rumah Sakit Lavalette", "RS Lavalette"),
        ("rumah sakit umum daerah kota", "RSUD Kota"),
        ("Rumah Sakit Ibu dan Anak Puri", "RSIA Puri"),
        ("Kel. Sukun", "kelurahan sukun"),
        ("Kec. Klojen", "kecamatan klojen"),
        ("Pkm Dinoyo", "Puskesmas Dinoyo"),
        ("alun2", "Alun-alun"),
        ("aloon-aloon", "alun alun"),
        ("Soepraoen", "Supraun"),
        ("Masjid Jami'", "masjid jami"),
        ("mesjid jami", "masjid jami"),
        ("depan Matos", "matos"),
        ("dekat pasar besar", "Pasar Besar"),
        ("Jl. Kawi No. 24 RT 03 RW 05 65119", "jl kawi"),
        ("Lavalette", "lavalete"),
        ("Mayor Jenderal Panjaitan", "Mayjen Panjaitan"),
        ("Kyai Haji Hasyim", "KH Hasyim"),
    ],
)
def test_normalise_gives_one_spelling_for_the_ways_people_write_a_name(said, same_as):
    assert normalise(said) == normalise(same_as)
    assert normalise(said)


def test_normalise_keeps_what_tells_places_apart():
    assert normalise("Jl. Merdeka Barat") != normalise("Jl. Merdeka Timur")
    assert normalise("UMM") != normalise("UM")
    assert normalise("Gang 3") != normalise("Gang 4")
    assert normalise("depan, dekat, samping") == ""


def test_address_street_is_the_street_part_of_an_address():
    assert address_street("Jl. Soekarno - Hatta No.75, Mojolangu, Kec. Lowokwaru") == "Jl. Soekarno - Hatta"
    assert address_street("Malang No. 2, Jl. Pahlawan Trip, Oro-oro Dowo") == "Jl. Pahlawan Trip"
    assert address_street("Jl. Ki Ageng Gribig No.142 Kedungkandang") == "Jl. Ki Ageng Gribig"
    assert address_street("Kompleks Araya Business Centre") == ""


# --- Search -----------------------------------------------------------------------------------------------------


def test_search_finds_a_landmark_by_its_alias_behind_noise_words(town):
    best = gazetteer.search("depan Cotos")[0]
    assert (best.name, best.kind, best.kelurahan, best.kecamatan) == (
        "Contoh Town Square", "landmark", "Barat Jaya", "Kota Contoh",
    )  # fmt: skip
    assert best.score == 100.0
    assert best.location == LatLon(-7.981, 112.621)


@pytest.mark.parametrize("typo", ["Contoh Town Sqare", "cotoss", "CONTOH TOWN SQUARE", "contoh twon square"])
def test_search_forgives_typing_errors_and_case(town, typo):
    assert gazetteer.search(typo)[0].name == "Contoh Town Square"


def test_search_finds_a_hospital_by_the_short_name_in_brackets(town):
    assert gazetteer.search("rswh")[0].name == "RSUD Dr. Wahidin (RSWH)"
    assert gazetteer.search("rumah sakit wahidin")[0].name == "RSUD Dr. Wahidin (RSWH)"


def test_search_ranks_best_first_and_respects_the_limit(town):
    found = gazetteer.search("barat jaya", limit=3)
    assert 1 <= len(found) <= 3
    assert [p.score for p in found] == sorted((p.score for p in found), reverse=True)
    assert (found[0].name, found[0].kind) == ("Barat Jaya", "kelurahan")
    assert gazetteer.search("contoh", limit=1).__len__() == 1


def test_search_of_a_kecamatan_says_no_kelurahan(town):
    best = gazetteer.search("Kec. Kota Contoh")[0]
    assert (best.kind, best.kecamatan, best.kelurahan) == ("kecamatan", "Kota Contoh", "")


def test_search_places_a_street_in_the_kelurahan_named_with_it(town):
    west = gazetteer.search("jl cendrawasih barat jaya")[0]
    east = gazetteer.search("jl cendrawasih, kel. timur raya")[0]
    assert (west.name, west.kelurahan) == ("Jalan Cendrawasih", "Barat Jaya")
    assert (east.name, east.kelurahan) == ("Jalan Cendrawasih", "Timur Raya")
    assert locate(west.location).kelurahan == "Barat Jaya"
    assert locate(east.location).kelurahan == "Timur Raya"


def test_search_of_a_full_address_puts_the_narrowest_place_first(town):
    found = gazetteer.search("Jl. Cendrawasih No. 5 RT 02 RW 03, Barat Jaya, Kec. Kota Contoh, Jawa Timur")
    assert [(p.name, p.kind) for p in found[:3]] == [
        ("Jalan Cendrawasih", "street"), ("Barat Jaya", "kelurahan"), ("Kota Contoh", "kecamatan"),
    ]  # fmt: skip
    assert found[0].kelurahan == "Barat Jaya"


def test_search_knows_streets_from_facility_addresses(town):
    best = gazetteer.search("jl merpati putih")[0]
    assert (best.kind, best.category, best.kelurahan) == ("street", gazetteer.ADDRESS, "Timur Raya")
    assert "RSUD Dr. Wahidin (RSWH)" in best.name


def test_search_corrects_a_misspelt_keyword_but_never_a_place_name(town):
    assert gazetteer.search("kceamatan kota contoh")[0].kind == "kecamatan"
    assert gazetteer.search("urmah sakit wahidin")[0].name == "RSUD Dr. Wahidin (RSWH)"
    Region.objects.create(kind="kelurahan", name="Tunjungsekar", geometry=square(-7.93, 112.62, 500))
    # "sekar" is one slip from "sekitar" and "tunjung" from "ujung" (noise words): kept, being half a name.
    assert gazetteer.search("tunjung sekar")[0].name == "Tunjungsekar"


def test_search_forgives_two_letters_swapped(town):
    Region.objects.create(kind="kelurahan", name="Gading Indah", geometry=square(-7.93, 112.62, 500))
    assert gazetteer.search("gadnig indah")[0].name == "Gading Indah"


@pytest.mark.parametrize("query", ["", "   ", "depan dekat", "xqzvjk wplm"])
def test_search_answers_nothing_when_nothing_is_named(town, query):
    assert gazetteer.search(query) == []


def test_search_sees_new_and_removed_places_at_once(town):
    assert all(p.name != "Pasar Contoh" for p in gazetteer.search("pasar contoh"))
    market = Facility.objects.create(
        kind="landmark", category="pasar", name="Pasar Contoh", lat=-7.98, lon=112.64
    )
    assert gazetteer.search("pasar contoh")[0].name == "Pasar Contoh"
    PlaceAlias.objects.create(name="Pasar Induk Timur", facility=market)
    assert gazetteer.search("pasar induk timur")[0].name == "Pasar Contoh"
    market.delete()
    assert all(p.name != "Pasar Contoh" for p in gazetteer.search("pasar contoh"))


def test_search_sees_a_moved_place(town):
    mall = Facility.objects.get(name="Contoh Town Square")
    mall.lat, mall.lon = -7.98, 112.64
    mall.save()
    assert gazetteer.search("cotos")[0].kelurahan == "Timur Raya"


# --- Geocoding --------------------------------------------------------------------------------------------------


@pytest.fixture
def nominatim(settings):
    settings.GEO = {**settings.GEO, "GEOCODER": "nominatim", "GEOCODER_URL": "http://127.0.0.1:8088/"}


def _never(*args, **kwargs):
    raise AssertionError("the remote geocoder was asked")


def test_geocode_uses_only_the_gazetteer_when_no_remote_is_configured(town, settings, monkeypatch):
    settings.GEO = {**settings.GEO, "GEOCODER": ""}
    monkeypatch.setattr(Nominatim, "geocode", _never)
    monkeypatch.setattr(Photon, "geocode", _never)
    assert gazetteer.geocode("depan Cotos") == LatLon(-7.981, 112.621)
    assert gazetteer.geocode("Jl. Antah Berantah No. 9") is None


def test_geocode_trusts_a_confident_gazetteer_match_without_asking_the_remote(town, nominatim, monkeypatch):
    monkeypatch.setattr(Nominatim, "geocode", _never)
    assert gazetteer.geocode("Contoh Town Square") == LatLon(-7.981, 112.621)


def test_geocode_asks_the_configured_nominatim_for_what_the_gazetteer_does_not_know(
    town, nominatim, monkeypatch
):
    asked = {}

    def answer(self, query, **kwargs):
        asked.update(kwargs, query=query, domain=self.domain, scheme=self.scheme)
        return Location("Jalan Antah Berantah", (-7.9802, 112.6301), {})

    monkeypatch.setattr(Nominatim, "geocode", answer)
    assert gazetteer.geocode("Jl. Antah Berantah No. 9") == LatLon(-7.9802, 112.6301)
    assert asked["query"] == "Jl. Antah Berantah No. 9"
    assert (asked["domain"], asked["scheme"]) == ("127.0.0.1:8088", "http")
    assert asked["country_codes"] == "id"
    assert asked["bounded"] is False  # no service area imported here, so no box to keep it in


def test_geocode_asks_photon_when_photon_is_configured(town, settings, monkeypatch):
    settings.GEO = {**settings.GEO, "GEOCODER": "photon", "GEOCODER_URL": "https://photon.example.org"}
    monkeypatch.setattr(Nominatim, "geocode", _never)
    monkeypatch.setattr(Photon, "geocode", lambda self, q, **kw: Location(q, (-7.9803, 112.6302), {}))
    assert gazetteer.geocode("Jl. Antah Berantah No. 9") == LatLon(-7.9803, 112.6302)


@pytest.mark.parametrize("failure", [GeocoderTimedOut("slow"), GeocoderServiceError("down")])
def test_geocode_falls_back_to_the_gazetteer_when_the_remote_fails(town, nominatim, monkeypatch, failure):
    def fail(self, query, **kwargs):
        raise failure

    monkeypatch.setattr(Nominatim, "geocode", fail)
    # A fair but not confident match: the remote is asked first, then the gazetteer answers.
    assert 80 <= gazetteer.search("rumah pak budi jl cendrawasih")[0].score < 90
    assert gazetteer.geocode("rumah pak budi jl cendrawasih") is not None
    assert gazetteer.geocode("Jl. Antah Berantah No. 9") is None


def test_geocode_ignores_a_remote_answer_outside_the_service_area(town, nominatim, monkeypatch):
    Region.objects.create(kind="service_area", name="Kota Contoh", geometry=square(-7.98, 112.63, 2000))
    asked = {}

    def far_away(self, query, **kwargs):
        asked.update(kwargs)
        return Location("Surabaya", (-7.2575, 112.7521), {})

    monkeypatch.setattr(Nominatim, "geocode", far_away)
    assert gazetteer.geocode("Jl. Antah Berantah No. 9") is None
    assert asked["bounded"] is True
    (south, west), (north, east) = asked["viewbox"]
    assert south < -7.98 < north
    assert west < 112.63 < east


# --- Reverse ----------------------------------------------------------------------------------------------------


def test_reverse_names_the_kelurahan_and_the_nearest_landmark_and_street(town):
    found = gazetteer.reverse(LatLon(-7.9812, 112.6210))
    assert (found.placement.kelurahan, found.placement.kecamatan) == ("Barat Jaya", "Kota Contoh")
    assert found.nearest_landmark is not None
    assert found.nearest_landmark.name == "Contoh Town Square"
    assert found.nearest_landmark.distance_m == pytest.approx(24.0, abs=2)
    assert found.nearest_street is not None
    assert found.nearest_street.name == "Jalan Cendrawasih"
    assert found.nearest_street.distance_m == pytest.approx(686, abs=5)
    assert found.nearest == found.nearest_landmark


def test_reverse_far_from_everything_names_nothing(town):
    found = gazetteer.reverse(LatLon(-7.2575, 112.7521))
    assert (found.placement.kelurahan, found.placement.kecamatan) == ("", "")
    assert found.nearest is None
    assert found.nearest_landmark is None
    assert found.nearest_street is None


def test_reverse_near_a_street_gives_the_foot_of_the_point_on_it(town):
    found = gazetteer.reverse(LatLon(-7.9760, 112.6300))
    assert found.nearest_street is not None
    assert found.nearest_street.distance_m == pytest.approx(110.6, abs=1)
    assert found.nearest_street.location.lat == pytest.approx(-7.975, abs=1e-6)
    assert found.nearest == found.nearest_street
