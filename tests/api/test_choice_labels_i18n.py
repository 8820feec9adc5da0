"""Model choice labels are English in the source with their Indonesian in django.po: Bahasa Indonesia by default
(the same words as before), English on request (the admin, the report page's priorities). The stored values,
which the API speaks and the import commands take, stay."""

from __future__ import annotations

import types

import pytest
from django.apps import apps
from django.conf import settings
from django.db import models
from django.test import Client
from django.utils import translation

import accounts.models
import audit.models
import calls.models
import dispatch.models
import fleet.models
import geo.models
from accounts.models import Role
from audit.models import Channel, What
from calls.models import Incident, IncidentStatus, Priority
from dispatch.models import AssignmentStatus, StatusChange
from fleet.models import Unit, UnitStatus
from geo.models import Facility, Region
from tests.factories import HospitalFactory, UnitFactory, UserFactory, kelurahan

APPS = ("accounts", "audit", "calls", "dispatch", "fleet", "geo")

# (choice, its value as the API speaks it, English, Bahasa Indonesia)
LABELS = [
    (Priority.RED, 1, "Red (life-threatening)", "Merah (mengancam nyawa)"),
    (Priority.YELLOW, 2, "Yellow (urgent)", "Kuning (mendesak)"),
    (Priority.GREEN, 3, "Green (not urgent)", "Hijau (tidak mendesak)"),
    (IncidentStatus.PENDING, "pending", "Waiting for a unit", "Menunggu unit"),
    (IncidentStatus.DISPATCHED, "dispatched", "Unit assigned", "Unit ditugaskan"),
    (IncidentStatus.ON_SCENE, "on_scene", "Unit on scene", "Unit di lokasi"),
    (IncidentStatus.TRANSPORTING, "transporting", "Transporting patient", "Membawa pasien"),
    (IncidentStatus.CLOSED, "closed", "Closed", "Selesai"),
    (IncidentStatus.CANCELLED, "cancelled", "Cancelled", "Dibatalkan"),
    (Incident.Geocoding.NOT_NEEDED, "not_needed", "Not needed", "Tidak perlu"),
    (Incident.Geocoding.PENDING, "pending", "Searching", "Sedang dicari"),
    (Incident.Geocoding.FOUND, "found", "Found", "Ditemukan"),
    (Incident.Geocoding.NOT_FOUND, "not_found", "Not found", "Tidak ditemukan"),
    (UnitStatus.AVAILABLE, "available", "Available", "Siaga"),
    (UnitStatus.ASSIGNED, "assigned", "Assigned", "Ditugaskan"),
    (UnitStatus.EN_ROUTE, "en_route", "En route", "Berangkat"),
    (UnitStatus.ON_SCENE, "on_scene", "On scene", "Di lokasi"),
    (UnitStatus.TRANSPORTING, "transporting", "Transporting patient", "Membawa pasien"),
    (UnitStatus.AT_HOSPITAL, "at_hospital", "At hospital", "Di rumah sakit"),
    (UnitStatus.RETURNING, "returning", "Returning", "Kembali"),
    (UnitStatus.OUT_OF_SERVICE, "out_of_service", "Out of service", "Tidak beroperasi"),
    (Unit.Kind.ALS, "als", "ALS (advanced life support)", "ALS (gawat darurat)"),
    (Unit.Kind.BLS, "bls", "BLS (basic life support)", "BLS (dasar)"),
    (Unit.Kind.TRANSPORT, "transport", "Patient transport", "Transportasi pasien"),
    (Unit.Owner.PSC, "psc", "PSC 119", "PSC 119"),
    (Unit.Owner.PUSKESMAS, "puskesmas", "Puskesmas", "Puskesmas"),
    (Unit.Owner.HOSPITAL, "hospital", "Hospital", "Rumah sakit"),
    (Unit.Owner.VOLUNTEER, "volunteer", "Volunteer", "Relawan"),
    (AssignmentStatus.ASSIGNED, "assigned", "Assigned", "Ditugaskan"),
    (AssignmentStatus.ACKNOWLEDGED, "acknowledged", "Acknowledged", "Diterima"),
    (AssignmentStatus.EN_ROUTE, "en_route", "En route", "Berangkat"),
    (AssignmentStatus.ON_SCENE, "on_scene", "Arrived on scene", "Tiba di lokasi"),
    (AssignmentStatus.TRANSPORTING, "transporting", "Transporting patient", "Membawa pasien"),
    (AssignmentStatus.AT_HOSPITAL, "at_hospital", "Arrived at hospital", "Tiba di RS"),
    (AssignmentStatus.CLEARED, "cleared", "Cleared", "Selesai"),
    (AssignmentStatus.DECLINED, "declined", "Declined", "Ditolak"),
    (AssignmentStatus.EXPIRED, "expired", "No answer", "Tidak dijawab"),
    (AssignmentStatus.CANCELLED, "cancelled", "Cancelled", "Dibatalkan"),
    (StatusChange.Subject.ASSIGNMENT, "assignment", "Assignment", "Penugasan"),
    (StatusChange.Subject.UNIT, "unit", "Unit", "Unit"),
    (StatusChange.Subject.INCIDENT, "incident", "Incident", "Kejadian"),
    (Role.CALL_TAKER, "call_taker", "Call-taker", "Penerima panggilan"),
    (Role.DISPATCHER, "dispatcher", "Dispatcher", "Dispatcher"),
    (Role.CREW, "crew", "Ambulance crew", "Kru ambulans"),
    (Role.SUPERVISOR, "supervisor", "Supervisor", "Supervisor"),
    (Role.VIEWER, "viewer", "Viewer", "Pemantau"),
    (Region.Kind.KECAMATAN, "kecamatan", "Kecamatan", "Kecamatan"),
    (Region.Kind.KELURAHAN, "kelurahan", "Kelurahan", "Kelurahan"),
    (Region.Kind.SERVICE_AREA, "service_area", "Service area", "Wilayah layanan"),
    (Facility.Kind.HOSPITAL, "hospital", "Hospital", "Rumah sakit"),
    (Facility.Kind.PUSKESMAS, "puskesmas", "Puskesmas", "Puskesmas"),
    (Facility.Kind.LANDMARK, "landmark", "Landmark", "Tempat terkenal"),
    # "Closed" has a context of its own: an incident's is Selesai, an emergency department's Tutup.
    (Facility.EdStatus.OPEN, "open", "Open", "Buka"),
    (Facility.EdStatus.DIVERSION, "diversion", "On diversion", "Pengalihan"),
    (Facility.EdStatus.CLOSED, "closed", "Closed", "Tutup"),
    (Channel.REST, "rest", "REST API", "REST API"),
    (Channel.WEBSOCKET, "websocket", "WebSocket", "WebSocket"),
    (What.INCIDENT, "incident", "Incident", "Kejadian"),
    (What.INCIDENT_LIST, "incident_list", "Incident list", "Daftar kejadian"),
    (What.ASSIGNMENT, "assignment", "Assignment", "Penugasan"),
    (
        What.CALL_ANSWER,
        "call_answer",
        "Answer to a recorded call (possible duplicates)",
        "Jawaban atas panggilan yang dicatat (kemungkinan duplikat)",
    ),
    (What.CALL_SEARCH, "call_search", "Caller's history search", "Pencarian riwayat penelepon"),
    (What.CREW_CURRENT, "crew_current", "Crew's current job", "Tugas kru saat ini"),
    (What.CREW_HOSPITALS, "crew_hospitals", "Crew's hospital choice", "Pilihan rumah sakit kru"),
    (What.CONSOLE_SNAPSHOT, "console_snapshot", "Console snapshot", "Cuplikan konsol"),
    (What.CONSOLE_REPLAY, "console_replay", "Console replay", "Pemutaran ulang konsol"),
    (What.CONSOLE_STREAM, "console_stream", "Console live stream", "Siaran langsung konsol"),
    (What.UNIT_SNAPSHOT, "unit_snapshot", "Unit snapshot", "Cuplikan unit"),
    (What.UNIT_REPLAY, "unit_replay", "Unit replay", "Pemutaran ulang unit"),
    (What.UNIT_STREAM, "unit_stream", "Unit live stream", "Siaran langsung unit"),
]

# Named in their own language on purpose (as settings.LANGUAGES): not translated.
UNTRANSLATED_FIELDS = {("accounts", "user", "language")}


@pytest.mark.parametrize(("choice", "value", "english", "indonesian"), LABELS, ids=lambda x: str(x))
def test_a_choice_keeps_its_value_and_has_its_label_in_both_languages(choice, value, english, indonesian):
    assert choice.value == value
    with translation.override("en"):
        assert str(choice.label) == english
    with translation.override("id"):
        assert str(choice.label) == indonesian


def test_every_choice_of_these_models_is_listed():
    modules = (accounts.models, audit.models, calls.models, dispatch.models, fleet.models, geo.models)
    classes = set().union(*(_choice_classes(m) for m in modules))
    assert classes == {Role, Channel, What, Priority, IncidentStatus, Incident.Geocoding, AssignmentStatus, StatusChange.Subject,
                       UnitStatus, Unit.Kind, Unit.Owner, Region.Kind, Facility.Kind, Facility.EdStatus}  # fmt: skip
    listed = {(type(choice), choice.value) for choice, *_ in LABELS}
    assert {(cls, choice.value) for cls in classes for choice in cls} == listed


def _choice_classes(module: types.ModuleType) -> set[type[models.Choices]]:
    """The Choices classes a models module defines, at its top level or inside its models."""
    found: set[type[models.Choices]] = set()
    for obj in vars(module).values():
        if not isinstance(obj, type) or obj.__module__ != module.__name__:
            continue
        if issubclass(obj, models.Choices):
            found.add(obj)
        elif issubclass(obj, models.Model):
            found |= {c for c in vars(obj).values() if isinstance(c, type) and issubclass(c, models.Choices)}
    return found


def test_every_field_with_choices_takes_them_from_a_listed_class():
    values = {frozenset(cls.values) for cls in {type(choice) for choice, *_ in LABELS}}
    for label in APPS:
        for model in apps.get_app_config(label).get_models():
            for field in model._meta.fields:
                if not field.choices or (label, model._meta.model_name, field.name) in UNTRANSLATED_FIELDS:
                    continue
                assert frozenset(v for v, _ in field.flatchoices) in values, f"{model.__name__}.{field.name}"


@pytest.mark.parametrize(
    ("language", "expected"), [("id", "Wilayah layanan Kota Malang"), ("en", "Service area Kota Malang")]
)
def test_a_region_is_named_with_its_kind_in_the_users_language(language, expected):
    with translation.override(language):
        assert str(Region(kind=Region.Kind.SERVICE_AREA, name="Kota Malang")) == expected


def _admin(language: str | None) -> Client:
    client = Client()
    client.force_login(
        UserFactory.create(username="admin-i18n", role=Role.CALL_TAKER, is_staff=True, is_superuser=True)
    )
    if language:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def _seed() -> None:
    UnitFactory(call_sign="AMB-07", status=UnitStatus.AVAILABLE, kind=Unit.Kind.ALS)
    UserFactory(username="kru-i18n", role=Role.CREW)
    HospitalFactory(name="RS Contoh Saiful", ed_status=Facility.EdStatus.DIVERSION)
    kelurahan("Oro-oro Dowo", 1.0, kecamatan="Klojen")


# The list page shows each row's label and, in its filter, every label of the field.
ADMIN_PAGES = [
    (
        "/admin/fleet/unit/",
        "AMB-07",
        ("Available", "Out of service", "ALS (advanced life support)"),
        ("Siaga", "Tidak beroperasi", "ALS (gawat darurat)"),
    ),
    (
        "/admin/accounts/user/",
        "kru-i18n",
        ("Call-taker", "Ambulance crew", "Viewer"),
        ("Penerima panggilan", "Kru ambulans", "Pemantau"),
    ),
    (
        "/admin/geo/facility/",
        "RS Contoh Saiful",
        ("Hospital", "Landmark", "Open", "On diversion", "Closed"),
        ("Rumah sakit", "Tempat terkenal", "Buka", "Pengalihan", "Tutup"),
    ),
    ("/admin/geo/region/", "Oro-oro Dowo", ("Service area",), ("Wilayah layanan",)),
]


@pytest.mark.parametrize(
    ("path", "row", "english", "indonesian"), ADMIN_PAGES, ids=[p[0] for p in ADMIN_PAGES]
)
def test_the_admin_shows_the_labels_in_english_in_english_mode(db, path, row, english, indonesian):
    _seed()

    html = _admin("en").get(path).content.decode()

    assert row in html
    for word in english:
        assert f">{word}<" in html, word
    for word in indonesian:
        assert word not in html, word


@pytest.mark.parametrize(
    ("path", "row", "english", "indonesian"), ADMIN_PAGES, ids=[p[0] for p in ADMIN_PAGES]
)
def test_the_admin_shows_the_labels_in_indonesian_by_default(db, path, row, english, indonesian):
    _seed()

    html = _admin(None).get(path).content.decode()

    assert row in html
    for word in indonesian:
        assert f">{word}<" in html, word


@pytest.mark.parametrize(
    ("language", "label"), [(None, "Merah (mengancam nyawa)"), ("en", "Red (life-threatening)")]
)
def test_the_report_page_names_the_priorities_in_the_users_language(db, language, label):
    client = Client()
    client.force_login(UserFactory(username="sup-i18n", role=Role.SUPERVISOR))
    if language:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    html = client.get("/reports/").content.decode()

    assert f"1 · {label}" in html
