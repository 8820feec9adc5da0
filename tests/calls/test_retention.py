from datetime import timedelta

import pytest
from django.utils import timezone

from calls.models import Call, IncidentStatus
from calls.retention import ERASED, calls_personal_data_erase
from tests.factories import CallFactory, IncidentFactory

pytestmark = pytest.mark.django_db


def test_retention_erases_callers_of_old_closed_incidents_only():
    old = timezone.now() - timedelta(days=400)
    closed = CallFactory(
        incident=IncidentFactory(status=IncidentStatus.CLOSED, received_at=old, notes="riwayat jantung"),
        received_at=old, caller_name="Bu Sri", notes="lantai 2",
    )  # fmt: skip
    still_open = CallFactory(
        incident=IncidentFactory(status=IncidentStatus.PENDING, received_at=old), received_at=old
    )
    recent = CallFactory(incident=IncidentFactory(status=IncidentStatus.CLOSED))

    erased = calls_personal_data_erase(received_before=timezone.now() - timedelta(days=365))

    assert erased == 1
    closed.refresh_from_db()
    assert (closed.caller_phone, closed.caller_name, closed.notes) == ("", "", ERASED)
    assert closed.incident.__class__.objects.get(pk=closed.incident_id).notes == ERASED
    assert Call.objects.get(pk=still_open.pk).caller_phone == "+6281234567890"
    assert Call.objects.get(pk=recent.pk).caller_phone == "+6281234567890"
    assert calls_personal_data_erase(received_before=timezone.now() - timedelta(days=365)) == 0


def test_retention_task_also_erases_callers_from_the_event_record(call_taker):
    from calls.models import Incident
    from dispatch import services
    from dispatch.models import Event
    from dispatch.tasks import erase_expired_personal_data

    recorded = services.call_record(
        user=call_taker.user, caller_phone="+6281299990000", caller_name="Pak Joko", complaint="jatuh",
        priority=3, address="Jl. Ijen", notes="pintu biru",
    )  # fmt: skip
    old = timezone.now() - timedelta(days=400)
    Incident.objects.filter(pk=recorded.incident.pk).update(status=IncidentStatus.CANCELLED, received_at=old)
    Call.objects.filter(pk=recorded.call.pk).update(received_at=old)
    Event.objects.filter(incident_id=recorded.incident.pk).update(at=old)
    kept = CallFactory()  # a recent call on an open incident keeps everything

    assert erase_expired_personal_data() == 1

    for event in Event.objects.filter(incident_id=recorded.incident.pk):
        text = str(event.data)
        assert "+6281299990000" not in text
        assert "Pak Joko" not in text
        assert "pintu biru" not in text
    assert Call.objects.get(pk=kept.pk).caller_phone == "+6281234567890"
