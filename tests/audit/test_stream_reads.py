"""The WebSocket streams record who was sent personal data: the snapshot, a `?since=` replay, and one row per
live stream from its opening to its close (the event record says what the stream carried in between)."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from accounts.models import Role
from audit.models import Channel, PersonalDataRead, What
from config.asgi import application
from dispatch import services
from dispatch.consumers import AUDIT_UNAVAILABLE
from dispatch.models import Event
from geo.points import LatLon
from tests.audit.conftest import PHONE, assert_holds_no_personal_data, incident_with_caller, reads
from tests.dispatch.test_consumers import WebsocketCommunicator, run, stream
from tests.factories import AssignmentFactory, IncidentFactory, UnitFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _key(user: Any) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def _by_what() -> dict[str, PersonalDataRead]:
    rows = reads()
    assert len({r.what for r in rows}) == len(rows), [(r.what, r.incident_ids) for r in rows]
    return {r.what: r for r in rows}


def test_a_console_snapshot_and_its_stream_are_recorded_and_the_stream_closed_on_leaving():
    dispatcher = UserFactory(role=Role.DISPATCHER)
    incidents = [incident_with_caller(), incident_with_caller()]
    IncidentFactory(status="closed")  # not in the snapshot, not read
    key = _key(dispatcher)

    async def scenario() -> dict[str, Any]:
        async with stream("/ws/console/", token=key) as console:
            snapshot = await console.next()
            open_rows = await _reads_now()
            return {"snapshot": snapshot, "while_open": open_rows}

    seen = run(scenario)

    assert seen["snapshot"]["data"]["incidents"][0]["calls"][0]["caller_phone"] == PHONE
    rows = _by_what()
    assert set(rows) == {What.CONSOLE_STREAM, What.CONSOLE_SNAPSHOT}
    snapshot = rows[What.CONSOLE_SNAPSHOT]
    assert (snapshot.user, snapshot.role, snapshot.channel) == (
        dispatcher,
        Role.DISPATCHER,
        Channel.WEBSOCKET,
    )
    assert sorted(snapshot.incident_ids) == sorted(i.pk for i in incidents)
    assert snapshot.path == "/ws/console/"
    opened = rows[What.CONSOLE_STREAM]
    assert opened.user == dispatcher and opened.incident_ids == []
    assert opened.at <= snapshot.at
    assert seen["while_open"] == [(What.CONSOLE_STREAM, None), (What.CONSOLE_SNAPSHOT, None)]
    assert opened.closed_at is not None and opened.closed_at >= opened.at
    for row in rows.values():
        assert_holds_no_personal_data(row)


async def _reads_now() -> list[tuple[str, Any]]:
    from channels.db import database_sync_to_async

    return await database_sync_to_async(
        lambda: [(r.what, r.closed_at) for r in PersonalDataRead.objects.order_by("id")]
    )()


def test_a_replay_since_a_seq_records_the_incidents_it_replays():
    call_taker = UserFactory(role=Role.CALL_TAKER)
    dispatcher = UserFactory(role=Role.DISPATCHER)
    incident_with_caller()  # before the seq: not replayed
    since = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    later = services.call_record(
        user=dispatcher, caller_phone=PHONE, complaint="jatuh", priority=2,
        location=LatLon(-7.9797, 112.6304), address="Jl. Kawi",
    ).incident  # fmt: skip
    key = _key(call_taker)

    async def scenario() -> list[dict[str, Any]]:
        async with stream("/ws/console/", token=key, since=since) as console:
            return await console.rest()

    replayed = run(scenario)

    assert replayed and all(e["type"] != "snapshot" for e in replayed)
    rows = _by_what()
    assert set(rows) == {What.CONSOLE_STREAM, What.CONSOLE_REPLAY}
    replay = rows[What.CONSOLE_REPLAY]
    assert (replay.user, replay.role, replay.incident_ids) == (call_taker, Role.CALL_TAKER, [later.pk])
    assert_holds_no_personal_data(replay)


def test_a_viewers_redacted_stream_is_not_recorded():
    viewer = UserFactory(role=Role.VIEWER)
    incident_with_caller()
    key = _key(viewer)

    async def scenario() -> dict[str, Any]:
        async with stream("/ws/console/", token=key) as console:
            return await console.next()

    snapshot = run(scenario)

    assert snapshot["data"]["incidents"][0]["calls"][0]["caller_phone"] == ""
    assert reads() == []


def test_a_crews_unit_stream_and_snapshot_of_its_job_are_recorded():
    unit = UnitFactory()
    crew = UserFactory(role=Role.CREW, unit=unit)
    incident = incident_with_caller(status="dispatched")
    AssignmentFactory(incident=incident, unit=unit)
    key = _key(crew)

    async def scenario() -> dict[str, Any]:
        async with stream("/ws/unit/", token=key) as phone:
            return await phone.next()

    snapshot = run(scenario)

    assert snapshot["data"]["assignment"]["incident"]["id"] == incident.pk
    rows = _by_what()
    assert set(rows) == {What.UNIT_STREAM, What.UNIT_SNAPSHOT}
    assert (rows[What.UNIT_SNAPSHOT].role, rows[What.UNIT_SNAPSHOT].incident_ids) == (
        Role.CREW,
        [incident.pk],
    )
    assert rows[What.UNIT_STREAM].path == "/ws/unit/"


def test_an_idle_crews_snapshot_sends_no_personal_data_and_only_its_stream_is_recorded():
    unit = UnitFactory()
    key = _key(UserFactory(role=Role.CREW, unit=unit))

    async def scenario() -> dict[str, Any]:
        async with stream("/ws/unit/", token=key) as phone:
            return await phone.next()

    assert run(scenario)["data"]["assignment"] is None
    assert [r.what for r in reads()] == [What.UNIT_STREAM]


async def _console_until_closed(key: str) -> list[dict[str, Any]]:
    """Everything the console stream sends a client, up to and with the server's close."""
    communicator = WebsocketCommunicator(
        application, "/ws/console/", headers=[(b"authorization", f"Token {key}".encode())]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    outputs = []
    while True:
        output = await communicator.receive_output(timeout=5)
        outputs.append(output)
        if output["type"] == "websocket.close":
            break
    await communicator.disconnect(code=output["code"])
    return outputs


def test_a_stream_whose_reads_cannot_be_recorded_is_closed_before_sending_anything(audit_down):
    key = _key(UserFactory(role=Role.DISPATCHER))
    incident_with_caller()

    outputs = run(partial(_console_until_closed, key))

    assert [o["type"] for o in outputs] == ["websocket.close"], outputs
    assert outputs[0]["code"] == AUDIT_UNAVAILABLE
    assert reads() == []


def test_a_snapshot_whose_read_cannot_be_recorded_is_not_sent_and_the_stream_is_closed(monkeypatch):
    from django.db import DatabaseError

    from audit import services

    real_insert = services._insert

    def only_streams(read: PersonalDataRead) -> None:
        if read.what != What.CONSOLE_STREAM:
            raise DatabaseError("could not extend file")
        real_insert(read)

    monkeypatch.setattr(services, "_insert", only_streams)
    key = _key(UserFactory(role=Role.CALL_TAKER))
    incident_with_caller()

    outputs = run(partial(_console_until_closed, key))

    assert [(o["type"], o.get("code")) for o in outputs] == [("websocket.close", AUDIT_UNAVAILABLE)]
    opened = PersonalDataRead.objects.get()
    assert opened.what == What.CONSOLE_STREAM and opened.closed_at is not None
