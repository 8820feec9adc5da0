"""The heartbeat of the live streams' read records: which of them this process holds open, marked as still open
every AUDIT_STREAM_HEARTBEAT_SECONDS, so that a process that dies without closing them leaves them to the sweep
(`audit.services.personal_data_streams_close_abandoned`) instead of reading on forever in the record.

One registry and one task per event loop, which is one per server process: the task starts with the first stream
and ends with the last, and a database that is away costs a missed beat, never a stream.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from django.conf import settings

from audit.services import personal_data_streams_seen

log = logging.getLogger(__name__)


@dataclass
class _Heartbeat:
    # Each read id with the task serving its connection: a consumer that failed gets no disconnect, and its read
    # must stop being marked open once that task has ended, or it would be "read" until the process stops.
    reads: dict[int, asyncio.Task[object] | None] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None


_heartbeats: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Heartbeat] = weakref.WeakKeyDictionary()


def stream_read_register(*, read_id: int) -> None:
    """Keep `read_id` marked as open, on behalf of the calling task, until it is unregistered or that task ends."""
    loop = asyncio.get_running_loop()
    heartbeat = _heartbeats.setdefault(loop, _Heartbeat())
    heartbeat.reads[read_id] = asyncio.current_task()
    if heartbeat.task is None or heartbeat.task.done():
        heartbeat.task = loop.create_task(_beat(heartbeat), name="stream-reads-heartbeat")


def stream_read_unregister(*, read_id: int) -> None:
    """Stop marking `read_id` as open (its stream closed); the heartbeat stops with the last one."""
    heartbeat = _heartbeats.get(asyncio.get_running_loop())
    if heartbeat is None:
        return
    heartbeat.reads.pop(read_id, None)
    if not heartbeat.reads and heartbeat.task is not None:
        heartbeat.task.cancel()
        heartbeat.task = None


def stream_reads_open() -> frozenset[int]:
    """The read ids this event loop marks as open."""
    heartbeat = _heartbeats.get(asyncio.get_running_loop())
    return frozenset(heartbeat.reads) if heartbeat else frozenset()


async def _beat(heartbeat: _Heartbeat) -> None:
    while True:
        # Read each round, so that a changed setting (a test's) applies from the next beat.
        await asyncio.sleep(settings.AUDIT_STREAM_HEARTBEAT_SECONDS)
        for read_id, owner in list(heartbeat.reads.items()):
            if owner is not None and owner.done():
                del heartbeat.reads[read_id]
        if not heartbeat.reads:
            if heartbeat.task is asyncio.current_task():
                heartbeat.task = None
            return
        try:
            await database_sync_to_async(personal_data_streams_seen)(read_ids=list(heartbeat.reads))
        except Exception:  # the database away for a while: the next beat tries again, the streams go on
            log.warning("stream reads: heartbeat of %d not recorded", len(heartbeat.reads), exc_info=True)
