"""The one place that knows what clients are told.

Every event is written to the append-only `Event` table inside the transaction that caused it (its id is
the `seq`), then broadcast to the Channels groups only after commit. On PostgreSQL a transaction-level
advisory lock makes event ids commit in id order, so a reader that has seen `seq` N has seen every
committed event below N: replay with `?since=` cannot skip one. (SQLite's IMMEDIATE transactions already
serialize writers.)

Services open their transactions with `events.atomic()`: the events they record are kept aside and written
together just before the commit, so the event lock is held for one insert instead of from the first event to
the commit (and the lock order is always rows first, then this lock). Events from a savepoint that rolled back
are never written: a kept event rides on its own `on_commit` callback, which Django drops with the savepoint.
Outside `events.atomic()` an event is written at once. Each stream (the console's, each unit's) keeps its
newest seq in `EventStream`, and a broadcast carries the stream's previous seq, so a relay reads the record
only when it really missed something.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.utils import timezone

from calls.models import Call, Incident
from dispatch.models import Assignment, Event, EventStream, StatusChange
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
# What the read-only viewer (the command centre's wall) never receives: who called and everything about the
# patient and the home (product.md: numbers, addresses, conditions). The place stays, as a point on the map.
VIEWER_HIDDEN_KEYS = PERSONAL_KEYS | {"notes", "complaint", "address"}


def unit_group(unit_id: int) -> str:
    return f"unit.{unit_id}"


def envelope(event: Event) -> dict[str, Any]:
    return {"type": event.type, "seq": event.id, "at": event.at.isoformat(), "data": event.data}


def redact(value: Any) -> Any:
    """A copy of an event or snapshot without personal data, for the viewer."""
    if isinstance(value, dict):
        return {k: ("" if k in VIEWER_HIDDEN_KEYS else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _groups(event: Event) -> list[str]:
    groups = [CONSOLE_GROUP] if event.for_console else []
    if event.unit_id is not None:
        groups.append(unit_group(event.unit_id))
    return groups


def _broadcast(batch: list[Event]) -> None:
    """One message per group for a transaction's events, with the group's seq before them (`prev`)."""
    layer = get_channel_layer()
    if layer is None:
        return
    messages: dict[str, dict[str, Any]] = {}
    for event in batch:
        for group in _groups(event):
            message = messages.setdefault(
                group, {"type": "event.batch", "prev": event.stream_prev.get(group), "events": []}
            )
            message["events"].append(envelope(event))

    async def send() -> None:
        for group, message in messages.items():
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


class _Kept:
    """An event kept for the flush before commit; also its after-commit callback (Django drops it, and so
    the event, when the savepoint it was recorded in rolls back)."""

    __slots__ = ("batch", "event")

    def __init__(self, event: Event) -> None:
        self.event = event
        self.batch: _Batch | None = None

    def after_commit(self) -> None:
        # Registered as this bound method: Django names a failing robust callback by its __qualname__.
        if self.batch is not None:
            self.batch.send()


class _Batch:
    """The events one flush wrote; broadcast once, by whichever of their callbacks runs first."""

    __slots__ = ("events", "sent")

    def __init__(self, events: list[Event]) -> None:
        self.events, self.sent = events, False

    def send(self) -> None:
        if not self.sent:
            self.sent = True
            _broadcast(self.events)


@contextlib.contextmanager
def atomic() -> Iterator[None]:
    """`transaction.atomic()` whose events are written together just before it ends (the outermost one)."""
    conn = transaction.get_connection()
    with transaction.atomic():
        if getattr(conn, "psc_events_kept", False):
            yield
            return
        conn.psc_events_kept = True
        try:
            yield
            _flush(conn)
        finally:
            conn.psc_events_kept = False


class _KeptChange:
    """A status-history row kept for the flush before commit; its (empty) after-commit callback is what ties
    it to its savepoint, as for events."""

    __slots__ = ("change", "written")

    def __init__(self, change: StatusChange) -> None:
        self.change, self.written = change, False

    def after_commit(self) -> None:
        pass


def status_changed(**fields: Any) -> StatusChange:
    """Record a row of the status history: inside `atomic()` it is inserted with the transaction's other
    rows in one statement just before commit (nothing reads the history within the transaction that writes
    it); elsewhere at once."""
    change = StatusChange(**fields)
    conn = transaction.get_connection()
    if getattr(conn, "psc_events_kept", False):
        transaction.on_commit(_KeptChange(change).after_commit)
    else:
        change.save()
    return change


def _flush(conn: Any) -> None:
    kept, changes = [], []
    for _, func, _ in conn.run_on_commit:
        owner = getattr(func, "__self__", None)
        if isinstance(owner, _Kept) and owner.batch is None:
            kept.append(owner)
        elif isinstance(owner, _KeptChange) and not owner.written:
            owner.written = True
            changes.append(owner.change)
    if changes:
        StatusChange.objects.bulk_create(changes)
    if kept:
        batch = _write([k.event for k in kept])
        for k in kept:
            k.batch = batch


def _write(rows: list[Event]) -> _Batch:
    """Insert events in order under the event lock, and note each stream's previous seq on them."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVENT_ADVISORY_LOCK])
    at = timezone.now()  # stamped under the lock: a higher seq is never stamped earlier
    for event in rows:
        event.at = at
    Event.objects.bulk_create(rows)
    newest: dict[str, int] = {}
    for event in rows:
        for group in _groups(event):
            newest[group] = event.id
    before = _streams_advance(newest)
    for event in rows:
        event.stream_prev = {}
        for group in _groups(event):
            event.stream_prev[group] = before.get(group)
            before[group] = event.id
    return _Batch(rows)


# One statement: each part of it sees the table as it was before the upsert, so `before` is the old seqs.
_STREAMS_ADVANCE_SQL = """
WITH before AS (SELECT key, last_seq FROM dispatch_eventstream WHERE key = ANY(%s)),
     advanced AS (INSERT INTO dispatch_eventstream (key, last_seq)
                  SELECT * FROM UNNEST(%s::varchar[], %s::bigint[])
                  ON CONFLICT (key) DO UPDATE SET last_seq = EXCLUDED.last_seq)
SELECT key, last_seq FROM before
"""


def _streams_advance(newest: dict[str, int]) -> dict[str, int]:
    """Move each stream's last seq to `newest` and return what it was (absent: a new stream), under the lock."""
    keys = sorted(newest)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_STREAMS_ADVANCE_SQL, [keys, keys, [newest[k] for k in keys]])
            return dict(cursor.fetchall())
    before = dict(EventStream.objects.filter(key__in=keys).values_list("key", "last_seq"))
    EventStream.objects.bulk_create(
        [EventStream(key=k, last_seq=newest[k]) for k in keys],
        update_conflicts=True,
        unique_fields=["key"],
        update_fields=["last_seq"],
    )
    return before


def _record(
    type_: str,
    data: dict[str, Any],
    *,
    incident_id: int | None = None,
    unit_id: int | None = None,
    for_console: bool = True,
    actor: Any = None,
) -> None:
    conn = transaction.get_connection()
    if not conn.in_atomic_block:
        raise RuntimeError("events are recorded inside the transaction that causes them")
    kept = _Kept(
        Event(
            type=type_,
            data=data,
            incident_id=incident_id,
            unit_id=unit_id,
            for_console=for_console,
            actor=actor if getattr(actor, "is_authenticated", False) else None,
        )
    )
    # A broadcast that fails (Redis down) loses nothing: clients catch up from the table.
    transaction.on_commit(kept.after_commit, robust=True)
    if not getattr(conn, "psc_events_kept", False):
        kept.batch = _write([kept.event])


def incident_created(incident: Incident, *, actor: Any = None) -> None:
    _record("incident.created", IncidentSerializer.represent(incident), incident_id=incident.id, actor=actor)


def incident_updated(
    incident: Incident, *, actor: Any = None, unit_ids: list[int] | tuple[int, ...] = ()
) -> None:
    """To consoles, and to the crews of `unit_ids` (those sent to it) in a row of their own."""
    data = IncidentSerializer.represent(incident)
    _record("incident.updated", data, incident_id=incident.id, actor=actor)
    for unit_id in unit_ids:
        _record(
            "incident.updated", data, incident_id=incident.id, unit_id=unit_id, for_console=False, actor=actor
        )


def call_created(call: Call, *, actor: Any = None) -> None:
    from calls.serializers import CallSerializer

    _record("call.created", CallSerializer.represent(call), incident_id=call.incident_id, actor=actor)


def assignment_created(assignment: Assignment, *, actor: Any = None) -> None:
    # One row serves both: consoles and the crew get the route too (a few KB at most).
    _record(
        "assignment.created",
        AssignmentWithRouteSerializer.represent(assignment),
        incident_id=assignment.incident_id,
        unit_id=assignment.unit_id,
        actor=actor,
    )


def assignment_updated(assignment: Assignment, *, actor: Any = None) -> None:
    _record(
        "assignment.updated",
        AssignmentSerializer.represent(assignment),
        incident_id=assignment.incident_id,
        unit_id=assignment.unit_id,
        actor=actor,
    )


def unit_updated(unit: Unit, *, actor: Any = None) -> None:
    _record("unit.updated", UnitSerializer.represent(unit), unit_id=unit.id, actor=actor)


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

    _record("hospital.updated", HospitalSerializer.represent(hospital), actor=actor)


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
