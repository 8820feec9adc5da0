"""Importing any city's places with the management commands, and the Malang demo's import."""

import csv
import json

import pytest
from django.core.management import CommandError, call_command

from geo import gazetteer
from geo.imports import BUNDLED
from geo.models import Facility, PlaceAlias, Region, Street

pytestmark = pytest.mark.django_db


def _square(lon: float, lat: float, d: float = 0.01) -> dict:
    ring = [
        [lon - d, lat - d],
        [lon + d, lat - d],
        [lon + d, lat + d],
        [lon - d, lat + d],
        [lon - d, lat - d],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def _collection(*features: dict) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


def _feature(geometry: dict, **properties) -> dict:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


@pytest.fixture
def city(tmp_path):
    """Another city's files: two kecamatan, their kelurahan, a boundary, places and streets (OSM-like)."""
    (tmp_path / "kecamatan.geojson").write_text(
        _collection(
            _feature(_square(110.40, -7.00), name="Candisari"),
            _feature(_square(110.42, -7.00), name="Gajahmungkur"),
        )
    )
    (tmp_path / "kelurahan.geojson").write_text(
        _collection(
            _feature(_square(110.40, -7.00, 0.005), NAMOBJ="Jatingaleh", kecamatan="Candisari", KDEPUM="33.74.1"),
            _feature(_square(110.42, -7.00, 0.005), NAMOBJ="Bendan Duwur", kecamatan="Gajahmungkur", alt_name="Bendanduwur"),
        )
    )  # fmt: skip
    (tmp_path / "boundary.geojson").write_text(
        _collection(_feature(_square(110.41, -7.00, 0.03), name="Kota"))
    )
    with (tmp_path / "landmarks.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "category", "lat", "lon", "address", "aliases"])
        writer.writerow(
            ["Tugu Muda", "alun-alun", "-7.001", "110.401", "Jl. Pemuda", "Bundaran Tugu Muda|Tugmud"]
        )
        writer.writerow(["Pasar Jatingaleh", "pasar", "-7.002", "110.399", "", ""])
    (tmp_path / "hospitals.geojson").write_text(
        _collection(
            _feature(
                {"type": "Point", "coordinates": [110.421, -7.001]},
                name="RS Contoh Bendan",
                short_name="RSCB",
            ),
            _feature(
                {"type": "LineString", "coordinates": [[110.4, -7.0], [110.41, -7.0]]}, name="not a point"
            ),
        )
    )
    (tmp_path / "streets.geojson").write_text(
        _collection(
            _feature({"type": "LineString", "coordinates": [[110.395, -7.0], [110.405, -7.0]]}, name="Jalan Teuku Umar"),
            _feature({"type": "MultiLineString", "coordinates": [[[110.405, -7.0], [110.41, -7.0]]]}, name="Jalan Teuku Umar"),
            _feature({"type": "LineString", "coordinates": [[110.42, -6.99], [110.42, -7.01]]}, name="Gg. II"),
            _feature({"type": "LineString", "coordinates": [[110.42, -6.99], [110.43, -6.99]]}, highway="residential"),
        )
    )  # fmt: skip
    with (tmp_path / "aliases.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["kind", "name", "alias"])
        writer.writerow(["kelurahan", "Jatingaleh", "Jating"])
        writer.writerow(["street", "Jalan Teuku Umar", "Jalan Jatingaleh Raya"])
        writer.writerow(["hospital", "RS Tidak Ada", "RSTA"])
    return tmp_path


def _import_city(path) -> None:
    call_command("import_regions", path / "kecamatan.geojson", kind="kecamatan")
    call_command("import_regions", path / "kelurahan.geojson", kind="kelurahan")
    call_command("import_regions", path / "boundary.geojson", kind="service_area", name="Kota Contoh")
    call_command("import_facilities", path / "landmarks.csv", kind="landmark")
    call_command("import_facilities", path / "hospitals.geojson", kind="hospital")
    call_command("import_streets", path / "streets.geojson")
    call_command("import_aliases", path / "aliases.csv")


def test_import_commands_bring_in_a_whole_city(city):
    _import_city(city)
    assert Region.objects.filter(kind="kecamatan").count() == 2
    bendan = Region.objects.get(kind="kelurahan", name="Bendan Duwur")
    assert bendan.parent is not None
    assert bendan.parent.name == "Gajahmungkur"
    assert Region.objects.get(kind="service_area").name == "Kota Contoh"
    assert sorted(Facility.objects.values_list("kind", "name")) == [
        ("hospital", "RS Contoh Bendan"), ("landmark", "Pasar Jatingaleh"), ("landmark", "Tugu Muda"),
    ]  # fmt: skip
    assert list(Street.objects.values_list("name", flat=True)) == ["Jalan Teuku Umar"]
    assert len(Street.objects.get().geometry["coordinates"]) == 2
    assert set(PlaceAlias.objects.values_list("name", flat=True)) == {
        "Bundaran Tugu Muda", "Tugmud", "RSCB", "Bendanduwur", "Jating", "Jalan Jatingaleh Raya",
    }  # fmt: skip


def test_an_imported_city_is_searchable_at_once(city):
    _import_city(city)
    assert gazetteer.search("tugmud")[0].name == "Tugu Muda"
    assert gazetteer.search("rscb")[0].kelurahan == "Bendan Duwur"
    assert gazetteer.search("bendanduwur")[0].name == "Bendan Duwur"
    best = gazetteer.search("jl teuku umar")[0]
    assert (best.kind, best.kelurahan, best.kecamatan) == ("street", "Jatingaleh", "Candisari")


def test_importing_a_city_twice_changes_nothing(city):
    _import_city(city)
    counts = [m.objects.count() for m in (Region, Facility, Street, PlaceAlias)]
    _import_city(city)
    assert [m.objects.count() for m in (Region, Facility, Street, PlaceAlias)] == counts


def test_import_streets_reports_what_it_skipped(city, capsys):
    call_command("import_streets", city / "streets.geojson")
    assert "1 streets imported, 2 lines skipped" in capsys.readouterr().out


def test_import_aliases_reports_places_that_are_not_there(city, capsys):
    _import_city(city)
    assert "1 rows name places that are not imported" in capsys.readouterr().out


@pytest.mark.parametrize(
    "command", ["import_regions", "import_facilities", "import_streets", "import_aliases"]
)
def test_import_commands_refuse_a_missing_file(tmp_path, command):
    options = {"kind": "kelurahan" if command == "import_regions" else "landmark"}
    if command in ("import_streets", "import_aliases"):
        options = {}
    with pytest.raises(CommandError, match="does not exist"):
        call_command(command, tmp_path / "nothing.geojson", **options)


def test_import_aliases_refuses_an_unknown_kind(tmp_path):
    (tmp_path / "aliases.csv").write_text("kind,name,alias\nplanet,Mars,Red one\n")
    with pytest.raises(CommandError, match="unknown kind 'planet'"):
        call_command("import_aliases", tmp_path / "aliases.csv")


def test_import_facilities_refuses_rows_without_coordinates(tmp_path):
    (tmp_path / "places.csv").write_text("name,lat,lon\nTanpa Koordinat,,\n")
    with pytest.raises(CommandError, match="missing lat"):
        call_command("import_facilities", tmp_path / "places.csv", kind="landmark")
    assert Facility.objects.count() == 0


def test_bundled_landmarks_are_well_formed_and_in_malang():
    with (BUNDLED / "malang_landmarks.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len({r["name"] for r in rows}) == len(rows)
    for row in rows:
        assert row["name"]
        assert row["category"]
        assert -8.06 <= float(row["lat"]) <= -7.90, row["name"]
        assert 112.56 <= float(row["lon"]) <= 112.70, row["name"]
