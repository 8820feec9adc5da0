"""The one place that knows what clients are told.

Every event is written to the append-only `Event` table inside the transaction that caused it (its id is
the `seq`), then broadcast to the Channels groups only after commit. On PostgreSQL a transaction-level
advisory lock makes event ids commit in id order, so a reader that has seen `seq` N has seen every
committed event below N: replay with `?since=` cannot skip one. (SQLite's IMMEDIATE transactions already
serialize writers.) Services record events last, after taking their row locks, so the lock order is always
rows first, then this lock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.utils import timezone

from calls.models import Call, Incident
from dispatch.models import Assignment, Event
from dispatch.serializers import (
    AssignmentSerializer,
    AssignmentWithRouteSerializer,
    IncidentSerializer,
    UnitSerializer,
)
from fleet.models import Unit

log = logging.getLogger(__name__)

CONSOLE_GROUP = "console"
EVENT_ADVISORY_LOCK = 119_119
# Personal data the read-only roles (viewer) never receive.
PERSONAL_KEYS = frozenset({"caller_phone", "caller_name"})


def unit_group(unit_id: int) -> str:
    return f"unit.{unit_id}"


def envelope(event: Event) -> dict[str, Any]:
    return {"type": event.type, "seq": event.id, "at": event.at.isoformat(), "data": event.data}


def redact(value: Any) -> Any:
    """A copy of an event or snapshot without callers' personal data."""
    if isinstance(value, dict):
        return {k: ("" if k in PERSONAL_KEYS else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _broadcast(event: Event) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "event.message", "event": envelope(event)}
    groups = [CONSOLE_GROUP] if event.for_console else []
    if event.unit_id is not None:
        groups.append(unit_group(event.unit_id))

    async def send() -> None:
        for group in groups:
            await layer.group_send(group, message)

    if getattr(SyncToAsync.threadlocal, "main_event_loop", None) is not None:
        async_to_sync(send)()  # a view under the ASGI server: its own loop sends, with its connections
    else:
        asyncio.run_coroutine_threadsafe(send(), _sender_loop()).result(timeout=BROADCAST_TIMEOUT_S)


_sender: tuple[int, asyncio.AbstractEventLoop] | None = None
_sender_guard = threading.Lock()
BROADCAST_TIMEOUT_S = 10.0


def _sender_loop() -> asyncio.AbstractEventLoop:
    """This process's broadcasting loop, for sync code outside the ASGI server (Celery tasks, commands).

    async_to_sync would start a new loop, and so a new Redis connection, for every send (~4 ms each, 8 per
    dispatch); this loop lives in a thread of its own and keeps its connections. Made anew after a fork."""
    global _sender
    with _sender_guard:
        if _sender is None or _sender[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="events-broadcast", daemon=True).start()
            _sender = (os.getpid(), loop)
        return _sender[1]


def _record(
    type_: str,
    data: dict[str, Any],
    *,
    incident_id: int | None = None,
    unit_id: int | None = None,
    for_console: bool = True,
    actor: Any = None,
) -> Event:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("events are recorded inside the transaction that causes them")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVENT_ADVISORY_LOCK])
    event = Event.objects.create(
        type=type_,
        at=timezone.now(),
        data=data,
        incident_id=incident_id,
        unit_id=unit_id,
        for_console=for_console,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
    )
    # A broadcast that fails (Redis down) loses nothing: clients catch up from the table.
    transaction.on_commit(lambda: _broadcast(event), robust=True)
    return event


def incident_created(incident: Incident, *, actor: Any = None) -> None:
    _record("incident.created", dict(IncidentSerializer(incident).data), incident_id=incident.id, actor=actor)


def incident_updated(
    incident: Incident, *, actor: Any = None, unit_ids: list[int] | tuple[int, ...] = ()
) -> None:
    """To consoles, and to the crews of `unit_ids` (those sent to it) in a row of their own."""
    data = dict(IncidentSerializer(incident).data)
    _record("incident.updated", data, incident_id=incident.id, actor=actor)
    for unit_id in unit_ids:
        _record(
            "incident.updated", data, incident_id=incident.id, unit_id=unit_id, for_console=False, actor=actor
        )


def call_created(call: Call, *, actor: Any = None) -> None:
    from calls.serializers import CallSerializer

    _record("call.created", dict(CallSerializer(call).data), incident_id=call.incident_id, actor=actor)


def assignment_created(assignment: Assignment, *, actor: Any = None) -> None:
    # One row serves both: consoles and the crew get the route too (a few KB at most).
    _record(
        "assignment.created",
        dict(AssignmentWithRouteSerializer(assignment).data),
        incident_id=assignment.incident_id,
        unit_id=assignment.unit_id,
        actor=actor,
    )


def assignment_updated(assignment: Assignment, *, actor: Any = None) -> None:
    _record(
        "assignment.updated",
        dict(AssignmentSerializer(assignment).data),
        incident_id=assignment.incident_id,
        unit_id=assignment.unit_id,
        actor=actor,
    )


def unit_updated(unit: Unit, *, actor: Any = None) -> None:
    _record("unit.updated", dict(UnitSerializer(unit).data), unit_id=unit.id, actor=actor)


def unit_moved(unit: Unit, *, actor: Any = None) -> None:
    data = {
        "id": unit.id,
        "call_sign": unit.call_sign,
        "status": unit.status,
        "location": {"lat": unit.lat, "lon": unit.lon},
        "location_at": unit.location_at.isoformat() if unit.location_at else None,
        "heading": unit.heading,
        "speed": unit.speed,
        "accuracy": unit.accuracy,
    }
    _record("unit.moved", data, unit_id=unit.id, actor=actor)


def alert(
    code: str,
    message: str,
    *,
    incident: Incident | None = None,
    unit: Unit | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    data: dict[str, Any] = {
        "code": code,
        "message": message,
        "incident": incident.id if incident else None,
        "incident_number": incident.number if incident else None,
        "priority": incident.priority if incident else None,
        "unit": unit.id if unit else None,
        "call_sign": unit.call_sign if unit else None,
        **(extra or {}),
    }
    _record("alert", data, incident_id=incident.id if incident else None)


def hospital_updated(hospital: Any, *, actor: Any = None) -> None:
    """A hospital's emergency department status changed (open, diversion, closed): to the consoles."""
    from geo.serializers import HospitalSerializer

    _record("hospital.updated", dict(HospitalSerializer(hospital).data), actor=actor)


_RETAINED_TYPES = ("incident.created", "incident.updated", "call.created")


def events_personal_data_erase(*, before: Any, incident_ids: list[int]) -> int:
    """Blank callers' numbers, names and notes in the record of these (closed) incidents' events before `before`.

    The event record is append-only for everything else; personal data is not kept past its retention.
    """
    erased = 0
    rows = Event.objects.filter(at__lt=before, incident_id__in=incident_ids, type__in=_RETAINED_TYPES)
    for event in rows.only("id", "data").iterator(chunk_size=500):
        cleaned = _erase(event.data)
        if cleaned != event.data:
            Event.objects.filter(pk=event.pk).update(data=cleaned)
            erased += 1
    return erased


def _erase(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("" if k in PERSONAL_KEYS or k == "notes" else _erase(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_erase(v) for v in value]
    return value
