"""Personal data is kept only as long as the work needs it (UU 27/2022): callers' numbers, names and notes."""

from datetime import datetime

from django.db import transaction

from calls.models import OPEN_STATUSES, Call, Incident

ERASED = "[dihapus]"


def incidents_past_retention(*, received_before: datetime) -> list[int]:
    return list(
        Incident.objects.filter(received_at__lt=received_before)
        .exclude(status__in=OPEN_STATUSES)
        .values_list("id", flat=True)
    )


@transaction.atomic
def calls_personal_data_erase(*, received_before: datetime) -> int:
    """Blank the caller's number, name and notes of calls on closed incidents received before the cut-off.

    Incidents still open keep theirs. Returns how many calls were erased; running it again erases nothing new.
    """
    calls = (
        Call.objects.filter(received_at__lt=received_before)
        .exclude(incident__status__in=OPEN_STATUSES)
        .exclude(caller_phone="")
    )
    erased = calls.update(caller_phone="", caller_name="", notes=ERASED)
    Incident.objects.filter(received_at__lt=received_before).exclude(status__in=OPEN_STATUSES).exclude(
        notes=""
    ).update(notes=ERASED)
    return erased
