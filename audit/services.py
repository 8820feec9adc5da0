"""Recording reads of personal data (UU 27/2022: record who read it) and keeping the record only so long.

A read is recorded before its answer leaves, in one INSERT. When the row cannot be written, `ReadNotRecorded`
is raised and the caller must send nothing: a read nobody can account for does not happen.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Role
from audit.models import STREAM_VALUES, STREAMS, Channel, PersonalDataRead

log = logging.getLogger(__name__)

# The viewer receives callers' data redacted (dispatch.events.redact): what it reads is not recorded.
RECEIVES_REDACTED = frozenset({Role.VIEWER})


class ReadNotRecorded(Exception):
    """The record of a read could not be written, so the read must not happen."""


def _address(raw: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((raw or "").strip()))
    except ValueError:
        return None


def _insert(read: PersonalDataRead) -> None:
    read.save(force_insert=True)


def _record(*, user: Any, channel: str, what: str, incident_ids: list[int], path: str, remote_addr: str | None,
            ) -> PersonalDataRead:  # fmt: skip
    at = timezone.now()
    read = PersonalDataRead(
        at=at,
        seen_at=at if what in STREAMS else None,  # a stream is known open from its first moment
        user=user,
        username=user.get_username(),
        role=user.role,
        channel=channel,
        what=what,
        incident_ids=incident_ids,
        path=path[:200],
        remote_addr=_address(remote_addr),
    )
    try:
        _insert(read)
    except DatabaseError as exc:
        # Ids and kinds only: the log never carries what the row would have pointed to.
        log.error("personal-data read not recorded: user %s, %s %s (%s)", user.pk, channel, what,
                  type(exc).__name__)  # fmt: skip
        raise ReadNotRecorded(what) from exc
    return read


def personal_data_read_record(
    *,
    user: Any,
    channel: str,
    what: str,
    incident_ids: Iterable[int],
    path: str = "",
    remote_addr: str | None = None,
) -> PersonalDataRead | None:
    """Record that `user` is sent the personal data of `incident_ids`: one INSERT, no lock.

    Nothing for an empty read or a role that gets redacted data. Raises ReadNotRecorded if the row cannot be
    written; the caller then sends nothing."""
    ids = list(dict.fromkeys(int(i) for i in incident_ids))
    if not ids or getattr(user, "role", None) in RECEIVES_REDACTED:
        return None
    return _record(
        user=user, channel=channel, what=what, incident_ids=ids, path=path, remote_addr=remote_addr
    )


def personal_data_stream_open(
    *, user: Any, what: str, path: str = "", remote_addr: str | None = None
) -> PersonalDataRead | None:
    """Record that `user` starts listening to a live stream of personal data (one row, not one per event).

    None for a role that gets redacted data. Raises ReadNotRecorded if the row cannot be written."""
    assert what in STREAMS, what
    if getattr(user, "role", None) in RECEIVES_REDACTED:
        return None
    return _record(user=user, channel=Channel.WEBSOCKET, what=what, incident_ids=[], path=path,
                   remote_addr=remote_addr)  # fmt: skip


def personal_data_stream_close(*, read_id: int) -> None:
    """Note when a stream's listener left (once; a failure is logged, not raised: the client is gone)."""
    try:
        PersonalDataRead.objects.filter(pk=read_id, closed_at__isnull=True).update(closed_at=timezone.now())
    except DatabaseError as exc:
        log.warning("stream read %s: close not recorded (%s)", read_id, type(exc).__name__)


def personal_data_streams_seen(*, read_ids: Iterable[int]) -> int:
    """Note that these streams are still open (their server's heartbeat): one UPDATE of `seen_at`, no lock;
    closed ones are left as they are. Returns how many."""
    ids = list(read_ids)
    if not ids:
        return 0
    return PersonalDataRead.objects.filter(pk__in=ids, closed_at__isnull=True).update(seen_at=timezone.now())


def personal_data_streams_close_abandoned() -> int:
    """Close the streams whose server stopped heartbeating (killed, out of memory, redeployed) at the last moment
    they were seen open: one UPDATE, no lock, idempotent. Returns how many.

    Three missed heartbeats, so that a slow statement or a busy database does not close a living stream. A row
    from before the heartbeat existed has no `seen_at`: its opening is the last moment it was known open."""
    last_seen = Coalesce(F("seen_at"), F("at"))
    before = timezone.now() - timedelta(seconds=3 * settings.AUDIT_STREAM_HEARTBEAT_SECONDS)
    # The filter repeats the open-streams index's condition word for word, so that PostgreSQL can use it.
    return PersonalDataRead.objects.filter(
        Q(seen_at__lt=before) | Q(seen_at__isnull=True, at__lt=before),
        closed_at__isnull=True,
        what__in=STREAM_VALUES,
    ).update(closed_at=last_seen)


def personal_data_reads_erase(*, before: datetime) -> int:
    """Delete the records of reads made before `before`: the only way a row leaves. Returns how many."""
    deleted, _ = PersonalDataRead.objects.filter(at__lt=before).delete()
    return deleted


def personal_data_reads_erase_expired() -> int:
    """Apply AUDIT_RETENTION_DAYS (0 keeps every record); run hourly with the personal-data retention."""
    days: int = settings.AUDIT_RETENTION_DAYS
    if days <= 0:
        return 0
    return personal_data_reads_erase(before=timezone.now() - timedelta(days=days))
