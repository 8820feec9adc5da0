"""Celery tasks: interfaces only. Each takes ids, re-reads state and is safe to run twice."""

import logging

from celery import shared_task
from django.db import OperationalError

from dispatch import services
from geo.gazetteer import geocode

log = logging.getLogger(__name__)

RETRY = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 0.5,
    "retry_backoff_max": 10,
    "max_retries": 8,
}


@shared_task(acks_late=True, **RETRY)
def dispatch_incident(incident_id: int) -> int | None:
    assignment = services.incident_dispatch_auto(incident_id=incident_id)
    return assignment.id if assignment else None


@shared_task(acks_late=True, **RETRY)
def expire_assignment(assignment_id: int) -> bool:
    return services.assignment_expire_if_unacknowledged(assignment_id=assignment_id)


@shared_task(acks_late=True, **RETRY)
def serve_queue() -> int:
    return services.queue_serve()


@shared_task(acks_late=True, **RETRY)
def push_assignment(assignment_id: int) -> int:
    """Ring the unit's crew phones through Web Push (best effort: the stream and the ack timeout stand)."""
    from dispatch.push import assignment_push

    return assignment_push(assignment_id=assignment_id)


@shared_task(acks_late=True, **RETRY)
def geocode_incident(incident_id: int) -> bool:
    from calls.models import Incident

    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is None or incident.has_place:
        return False
    found = geocode(incident.address)
    services.incident_place_set(incident_id=incident_id, location=found, found=found is not None)
    return found is not None


@shared_task(acks_late=True, **RETRY)
def sweep() -> dict[str, int]:
    """The safety net (Celery beat): expire lost ack timers, re-drive waiting incidents and stuck geocoding,
    close the read records of streams whose server process died."""
    from audit.services import personal_data_streams_close_abandoned

    swept = services.sweep()
    # Here rather than with the hourly retention: a dead process's readers should stop showing as reading within
    # minutes of its death, not an hour. One UPDATE over the open-streams index, cheap at this pace.
    swept["streams_closed"] = personal_data_streams_close_abandoned()
    return swept


@shared_task(acks_late=True, **RETRY)
def erase_expired_personal_data() -> int:
    """Hourly: apply PERSONAL_DATA_RETENTION_DAYS to closed incidents' callers, AUDIT_RETENTION_DAYS to reads."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from audit.services import personal_data_reads_erase_expired
    from calls.retention import calls_personal_data_erase, incidents_past_retention
    from dispatch.events import events_personal_data_erase

    personal_data_reads_erase_expired()  # its own setting: it runs even when callers' data is kept
    days: int = settings.PERSONAL_DATA_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    erased = calls_personal_data_erase(received_before=cutoff)
    events_personal_data_erase(before=cutoff, incident_ids=incidents_past_retention(received_before=cutoff))
    return erased
