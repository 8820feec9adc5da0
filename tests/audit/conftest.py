import json

import pytest
from django.db import DatabaseError

from audit.models import PersonalDataRead
from tests.factories import CallFactory, IncidentFactory

PHONE = "+6281234567890"
PHONE_FORMS = ("+6281234567890", "081234567890", "81234567890", "0812-3456-7890")
NAME = "Siti Rahayu Kusumawardani"
ADDRESS = "Jl. Kawi Atas 17"
NOTES = "pintu pagar biru"


@pytest.fixture
def audit_down(monkeypatch):
    """The record of reads cannot be written (our own insert fails as the database would)."""
    from audit import services

    def refuse(read):
        raise DatabaseError("could not extend file")

    monkeypatch.setattr(services, "_insert", refuse)


def incident_with_caller(**incident):
    """An open incident whose one call carries a caller's number, name, address and notes."""
    fields = {"address": ADDRESS, "notes": NOTES, **incident}
    return CallFactory(
        incident=IncidentFactory(**fields), caller_phone=PHONE, caller_name=NAME, address=ADDRESS, notes=NOTES
    ).incident


def reads() -> list[PersonalDataRead]:
    return list(PersonalDataRead.objects.order_by("id"))


def only_read() -> PersonalDataRead:
    rows = reads()
    assert len(rows) == 1, [(r.what, r.incident_ids) for r in rows]
    return rows[0]


def assert_holds_no_personal_data(read: PersonalDataRead) -> None:
    """Every column of the row, as text: no number (in any form), name, address or notes."""
    text = json.dumps(PersonalDataRead.objects.filter(pk=read.pk).values().get(), default=str)
    for secret in (*PHONE_FORMS, NAME, ADDRESS, NOTES):
        assert secret not in text, f"{secret!r} is in the read record: {text}"
