"""Reading the record of reads (for supervisors)."""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from audit.models import PersonalDataRead


def personal_data_reads(
    *,
    incident_id: int | None = None,
    user_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
) -> QuerySet[PersonalDataRead]:
    """The reads matching every filter given, newest first (`before_id` pages back from a row's id)."""
    reads = PersonalDataRead.objects.all()
    if incident_id is not None:
        if connection.vendor == "postgresql":
            reads = reads.filter(incident_ids__contains=[incident_id])
        else:  # SQLite (the embedded default) has no JSON containment: look inside the array
            table = PersonalDataRead._meta.db_table
            # The table name is the model's own and the id a bound parameter.
            reads = reads.filter(pk__in=RawSQL(  # noqa: S611
                f"SELECT r.id FROM {table} r, json_each(r.incident_ids) j WHERE j.value = %s",  # noqa: S608
                [incident_id],
            ))  # fmt: skip
    if user_id is not None:
        reads = reads.filter(user_id=user_id)
    if since is not None:
        reads = reads.filter(at__gte=since)
    if until is not None:
        reads = reads.filter(at__lt=until)
    if before_id is not None:
        reads = reads.filter(id__lt=before_id)
    return reads.order_by("-id")
