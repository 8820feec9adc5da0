"""Choice labels of accounts and geo are English in the source with their Indonesian in django.po, as in
test_choice_labels_i18n: Bahasa Indonesia by default (the same words as before), English on request (the admin).
The stored values, which the API speaks and the import commands take, stay."""

from __future__ import annotations

import types

import pytest
from django.apps import apps
from django.conf import settings
from django.db import models
from django.test import Client
from django.utils import translation

import accounts.models
import geo.models
from accounts.models import Role
from geo.models import Facility, Region
from tests.factories import HospitalFactory, UserFactory, kelurahan

# (choice, its value as the API speaks it, English, Bahasa Indonesia)
LABELS = [
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


def test_every_choice_of_these_models_is_listed():
    classes = _choice_classes(accounts.models) | _choice_classes(geo.models)
    assert classes == {Role, Region.Kind, Facility.Kind, Facility.EdStatus}
    listed = {(type(choice), choice.value) for choice, *_ in LABELS}
    assert {(cls, choice.value) for cls in classes for choice in cls} == listed


def test_every_field_with_choices_takes_them_from_a_listed_class():
    values = {frozenset(cls.values) for cls in {type(choice) for choice, *_ in LABELS}}
    for label in ("accounts", "geo"):
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
    UserFactory(username="kru-i18n", role=Role.CREW)
    HospitalFactory(name="RS Contoh Saiful", ed_status=Facility.EdStatus.DIVERSION)
    kelurahan("Oro-oro Dowo", 1.0, kecamatan="Klojen")


# The list page shows each row's label and, in its filter, every label of the field.
ADMIN_PAGES = [
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
