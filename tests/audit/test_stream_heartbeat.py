"""A live stream's read stays open in the record only while a server process holds it: each process marks its
open streams' reads every AUDIT_STREAM_HEARTBEAT_SECONDS (`seen_at`), and the sweep closes a read no process has
marked for three periods at its last mark, so a killed server does not leave its users "reading" forever."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.models import Role
from audit.models import STREAMS, Channel, PersonalDataRead, What
from audit.services import (
    personal_data_read_record,
    personal_data_stream_close,
    personal_data_stream_open,
    personal_data_streams_close_abandoned,
)
from dispatch import stream_reads, tasks
from tests.audit.conftest import incident_with_caller
from tests.dispatch.test_consumers import db, run, stream
from tests.factories import UserFactory

HEARTBEAT = 0.2  # seconds, in the tests that watch it beat
HEARTBEAT_TASK = "stream-reads-heartbeat"


def _key(user: Any) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def _stream_row() -> PersonalDataRead:
    return PersonalDataRead.objects.get(what__in=STREAMS, closed_at__isnull=True)


def _heartbeat_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == HEARTBEAT_TASK and not t.done()]


@pytest.mark.django_db(transaction=True)
def test_an_open_streams_read_is_marked_seen_by_its_process_heartbeat(settings):
    settings.AUDIT_STREAM_HEARTBEAT_SECONDS = HEARTBEAT
    incident_with_caller()
    key = _key(UserFactory(role=Role.DISPATCHER))

    async def scenario() -> dict[str, Any]:
        async with stream("/ws/console/", token=key) as console:
            await console.next()
            opened = await db(_stream_row)()
            registered = stream_reads.stream_reads_open()
            await asyncio.sleep(HEARTBEAT * 3)
            first = await db(_stream_row)()
            await asyncio.sleep(HEARTBEAT * 3)
            later = await db(_stream_row)()
        return {"opened": opened, "registered": registered, "first": first, "later": later}

    seen = run(scenario)

    opened, first, later = seen["opened"], seen["first"], seen["later"]
    assert seen["registered"] == {opened.pk}
    assert opened.seen_at == opened.at  # known open from its first moment
    assert first.seen_at > opened.seen_at
    assert later.seen_at > first.seen_at  # it keeps beating while the stream is open
    assert later.closed_at is None
    closed = PersonalDataRead.objects.get(pk=opened.pk)
    assert closed.closed_at is not None and closed.closed_at >= later.seen_at


@pytest.mark.django_db(transaction=True)
def test_a_stream_closed_by_its_client_leaves_the_heartbeat_which_stops_with_the_last(settings):
    settings.AUDIT_STREAM_HEARTBEAT_SECONDS = HEARTBEAT
    key = _key(UserFactory(role=Role.CALL_TAKER))

    async def scenario() -> dict[str, Any]:
        async with stream("/ws/console/", token=key) as first:
            await first.next()
            async with stream("/ws/console/", token=key) as second:
                await second.next()
                both = stream_reads.stream_reads_open()
                beating_for_both = len(_heartbeat_tasks())
            one = stream_reads.stream_reads_open()
            await asyncio.sleep(HEARTBEAT * 3)
            rows = await db(lambda: list(PersonalDataRead.objects.order_by("id")))()
        after_both = stream_reads.stream_reads_open()
        await asyncio.sleep(HEARTBEAT * 2)
        return {"both": both, "tasks": beating_for_both, "one": one, "rows": rows, "after": after_both,
                "tasks_after": len(_heartbeat_tasks())}  # fmt: skip

    seen = run(scenario)

    first_read, second_read = seen["rows"]
    assert seen["both"] == {first_read.pk, second_read.pk}
    assert seen["tasks"] == 1  # one heartbeat per process, whatever the number of streams
    assert seen["one"] == {first_read.pk}
    # The closed stream is no longer marked: its last mark is from before its close.
    assert second_read.closed_at is not None and second_read.seen_at <= second_read.closed_at
    assert first_read.closed_at is None and first_read.seen_at > second_read.closed_at
    assert seen["after"] == frozenset()
    assert seen["tasks_after"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_read_whose_connection_ended_without_a_close_is_no_longer_marked(settings):
    """A consumer that fails gets no disconnect from Channels: its read must not be kept alive by the heartbeat,
    but left to the sweep."""
    settings.AUDIT_STREAM_HEARTBEAT_SECONDS = HEARTBEAT
    read = personal_data_stream_open(user=UserFactory(role=Role.DISPATCHER), what=What.CONSOLE_STREAM)
    assert read is not None

    async def connection_that_fails() -> None:
        stream_reads.stream_read_register(read_id=read.pk)
        raise RuntimeError("the consumer failed")

    async def scenario() -> dict[str, Any]:
        failed = asyncio.create_task(connection_that_fails())
        with pytest.raises(RuntimeError):
            await failed
        registered = stream_reads.stream_reads_open()
        await asyncio.sleep(HEARTBEAT * 3)
        return {"registered": registered, "after": stream_reads.stream_reads_open(),
                "tasks": len(_heartbeat_tasks())}  # fmt: skip

    seen = run(scenario)

    assert seen["registered"] == {read.pk}
    assert seen["after"] == frozenset()
    assert seen["tasks"] == 0
    row = PersonalDataRead.objects.get(pk=read.pk)
    assert row.seen_at == read.at and row.closed_at is None


@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_the_database_refuses_is_logged_and_the_stream_goes_on(settings, monkeypatch, caplog):
    settings.AUDIT_STREAM_HEARTBEAT_SECONDS = HEARTBEAT
    refused: list[list[int]] = []
    real_seen = stream_reads.personal_data_streams_seen

    def away_once(*, read_ids: list[int]) -> int:
        if not refused:
            refused.append(list(read_ids))
            raise OperationalError("server closed the connection unexpectedly")
        return real_seen(read_ids=read_ids)

    monkeypatch.setattr(stream_reads, "personal_data_streams_seen", away_once)
    key = _key(UserFactory(role=Role.DISPATCHER))

    async def scenario() -> dict[str, Any]:
        async with stream("/ws/console/", token=key) as console:
            await console.next()
            await asyncio.sleep(HEARTBEAT * 4)
            await console.communicator.send_json_to({"type": "ping"})
            pong = await console.next()
            row = await db(_stream_row)()
        return {"pong": pong, "row": row}

    with caplog.at_level(logging.WARNING, logger="dispatch.stream_reads"):
        seen = run(scenario)

    assert seen["pong"]["type"] == "pong"
    assert refused == [[seen["row"].pk]]
    assert "heartbeat" in caplog.text
    assert seen["row"].seen_at > seen["row"].at  # a later beat got through


def _stream_read(*, at: datetime, seen_at: datetime | None, what: str = What.UNIT_STREAM) -> PersonalDataRead:
    """A stream's read as its process left it: opened at `at`, last marked at `seen_at` (None: before the
    heartbeat existed)."""
    read = personal_data_stream_open(user=UserFactory(role=Role.CREW), what=what, path="/ws/unit/")
    assert read is not None
    PersonalDataRead.objects.filter(pk=read.pk).update(at=at, seen_at=seen_at)
    return read


def _state() -> dict[int, tuple[datetime | None, datetime | None]]:
    return {pk: (seen_at, closed_at) for pk, seen_at, closed_at
            in PersonalDataRead.objects.values_list("id", "seen_at", "closed_at")}  # fmt: skip


@pytest.mark.django_db
def test_the_sweep_closes_streams_no_process_marked_for_three_heartbeats_at_their_last_mark(settings):
    settings.AUDIT_STREAM_HEARTBEAT_SECONDS = 60
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    abandoned_at = now - timedelta(seconds=200)
    abandoned = _stream_read(at=hour_ago, seen_at=abandoned_at)
    from_before_the_heartbeat = _stream_read(at=hour_ago, seen_at=None, what=What.CONSOLE_STREAM)
    # Two and a half beats without a mark: late, but not given up on.
    alive = _stream_read(at=hour_ago, seen_at=now - timedelta(seconds=150))
    opened_just_now = _stream_read(at=now - timedelta(seconds=10), seen_at=None)
    closed_by_its_client = _stream_read(at=hour_ago, seen_at=hour_ago)
    personal_data_stream_close(read_id=closed_by_its_client.pk)
    rest_read = personal_data_read_record(
        user=UserFactory(role=Role.DISPATCHER), channel=Channel.REST, what=What.INCIDENT,
        incident_ids=[incident_with_caller().pk], path="/api/v1/incidents/1/",
    )  # fmt: skip
    assert rest_read is not None
    PersonalDataRead.objects.filter(pk=rest_read.pk).update(at=hour_ago)
    before = _state()

    swept = tasks.sweep()

    after = _state()
    assert swept["streams_closed"] == 2
    assert after[abandoned.pk] == (abandoned_at, abandoned_at)
    assert after[from_before_the_heartbeat.pk] == (None, hour_ago)
    for untouched in (alive, opened_just_now, closed_by_its_client, rest_read):
        assert after[untouched.pk] == before[untouched.pk]
    assert after[alive.pk][1] is None and after[opened_just_now.pk][1] is None
    assert after[rest_read.pk] == (None, None)

    assert tasks.sweep()["streams_closed"] == 0
    assert _state() == after


@pytest.mark.django_db
def test_the_sweep_finds_abandoned_streams_through_the_open_streams_index_not_by_reading_every_read(settings):
    _stream_read(at=timezone.now() - timedelta(hours=1), seen_at=None)
    with CaptureQueriesContext(connection) as queries:
        personal_data_streams_close_abandoned()
    (update,) = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]

    with transaction.atomic(), connection.cursor() as cursor:
        # A handful of rows would be read whole; forbid that, so that the plan shows what a large table gets.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {update}")
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "personaldataread_open_streams" in plan, plan
