"""Model choice labels are English in the source with their Indonesian in django.po: Bahasa Indonesia by default,
English on request (the admin, the report page's priorities). The stored values, which the API speaks, stay."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from accounts.models import Role
from calls.models import Incident, IncidentStatus, Priority
from dispatch.models import AssignmentStatus, StatusChange
from fleet.models import Unit, UnitStatus
from tests.factories import UnitFactory, UserFactory

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
]


@pytest.mark.parametrize(("choice", "value", "english", "indonesian"), LABELS, ids=lambda x: str(x))
def test_a_choice_keeps_its_value_and_has_its_label_in_both_languages(choice, value, english, indonesian):
    assert choice.value == value
    with translation.override("en"):
        assert str(choice.label) == english
    with translation.override("id"):
        assert str(choice.label) == indonesian


def test_every_choice_of_these_models_is_listed():
    listed = {(type(choice), choice.value) for choice, *_ in LABELS}
    classes = (Priority, IncidentStatus, Incident.Geocoding, UnitStatus, Unit.Kind, Unit.Owner, AssignmentStatus,
               StatusChange.Subject)  # fmt: skip
    assert {(cls, choice.value) for cls in classes for choice in cls} == listed


def _admin(language: str | None) -> Client:
    client = Client()
    client.force_login(
        UserFactory(username="admin-i18n", role=Role.SUPERVISOR, is_staff=True, is_superuser=True)
    )
    if language:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def test_the_admin_shows_unit_statuses_in_english_in_english_mode(db):
    UnitFactory(call_sign="AMB-07", status=UnitStatus.AVAILABLE, kind=Unit.Kind.ALS)

    html = _admin("en").get("/admin/fleet/unit/").content.decode()

    assert "AMB-07" in html
    for english in ("Available", "Out of service", "ALS (advanced life support)"):
        assert english in html, english
    for indonesian in ("Siaga", "Tidak beroperasi", "ALS (gawat darurat)"):
        assert indonesian not in html, indonesian


def test_the_admin_shows_unit_statuses_in_indonesian_by_default(db):
    UnitFactory(call_sign="AMB-07", status=UnitStatus.AVAILABLE, kind=Unit.Kind.ALS)

    html = _admin(None).get("/admin/fleet/unit/").content.decode()

    for indonesian in ("Siaga", "Tidak beroperasi", "ALS (gawat darurat)"):
        assert indonesian in html, indonesian


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
