"""The record of reads is kept AUDIT_RETENTION_DAYS, erased by the hourly retention task; nobody edits it."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.utils import timezone

from accounts.models import Role
from audit.models import PersonalDataRead, What
from audit.services import personal_data_reads_erase
from dispatch.tasks import erase_expired_personal_data
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _read_aged(days: float) -> PersonalDataRead:
    user = UserFactory(role=Role.DISPATCHER)
    return PersonalDataRead.objects.create(
        at=timezone.now() - timedelta(days=days), user=user, username=user.username, role=user.role,
        channel="rest", what=What.INCIDENT, incident_ids=[1],
    )  # fmt: skip


def test_erasing_removes_the_reads_before_the_cut_off_only():
    old, recent = _read_aged(800), _read_aged(10)

    assert personal_data_reads_erase(before=timezone.now() - timedelta(days=730)) == 1

    assert list(PersonalDataRead.objects.values_list("id", flat=True)) == [recent.pk]
    assert not PersonalDataRead.objects.filter(pk=old.pk).exists()
    assert personal_data_reads_erase(before=timezone.now() - timedelta(days=730)) == 0


def test_the_hourly_task_applies_audit_retention_even_when_callers_data_is_kept(settings):
    settings.PERSONAL_DATA_RETENTION_DAYS = 0
    settings.AUDIT_RETENTION_DAYS = 30
    old, kept = _read_aged(31), _read_aged(29)

    erase_expired_personal_data()

    assert list(PersonalDataRead.objects.values_list("id", flat=True)) == [kept.pk]
    assert old.pk != kept.pk


def test_audit_retention_zero_keeps_every_read(settings):
    settings.AUDIT_RETENTION_DAYS = 0
    ancient = _read_aged(5000)

    erase_expired_personal_data()

    assert PersonalDataRead.objects.filter(pk=ancient.pk).exists()


def test_the_admin_shows_the_reads_but_cannot_add_change_or_delete_them():
    request = RequestFactory().get("/admin/")
    request.user = UserFactory(role=Role.SUPERVISOR, is_staff=True, is_superuser=True)
    model_admin = admin.site._registry[PersonalDataRead]

    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert "delete_selected" not in model_admin.get_actions(request)
