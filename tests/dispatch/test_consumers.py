"""The WebSocket streams as a client sees them: WebsocketCommunicator against `config.asgi.application`
(token and session auth, origin check, routing), the Redis channel layer and PostgreSQL.

The tests are sync functions that run their async part with `async_to_sync`, so that the ORM work of the
set-up (factories, services) happens in the test's own thread and commits for real (`transaction=True`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction
from django.test import Client
from django.utils import timezone

from accounts.models import Role
from calls.models import IncidentStatus
from config.asgi import application
from dispatch import events, services
from dispatch.consumers import CONSOLE_ROLES
from dispatch.models import Event
from geo.points import LatLon
from tests.factories import CallFactory, IncidentFactory, StationFactory, UnitFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PLACE = LatLon(-7.9797, 112.6304)
QUIET = 0.4  # seconds without a message after which a stream is taken to have said everything


class WebsocketCommunicator(ApplicationCommunicator):
    """The subset of `channels.testing.WebsocketCommunicator` these tests use.

    `channels.testing` cannot be imported without daphne (its package imports the live-server test case),
    and the project runs uvicorn; this is the same thin layer over asgiref's communicator.
    """

    def __init__(self, app: Any, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        parsed = urlparse(path)
        super().__init__(
            app,
            {"type": "websocket", "path": unquote(parsed.path), "query_string": parsed.query.encode(),
             "headers": headers or [], "subprotocols": []},
        )  # fmt: skip

    async def connect(self, timeout: float = 1) -> tuple[bool, Any]:
        """(True, subprotocol) when accepted; (False, close code) when refused before accepting."""
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        assert response["type"] == "websocket.accept", response
        return True, response.get("subprotocol")

    async def send_to(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is not None:
            await self.send_input({"type": "websocket.receive", "text": text_data})
        else:
            await self.send_input({"type": "websocket.receive", "bytes": bytes_data})

    async def send_json_to(self, data: Any) -> None:
        await self.send_to(text_data=json.dumps(data))

    async def receive_json_from(self, timeout: float = 1) -> Any:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", f"expected a message, got {response}"
        return json.loads(response["text"])

    async def disconnect(self, code: int = 1000, timeout: float = 1) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


def run(scenario: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return async_to_sync(scenario)()


def db(fn: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
    """`fn` run in the test's thread (its connection), from inside a scenario."""
    return database_sync_to_async(fn)


class Stream:
    """One client connection: reads envelopes, remembers them, tells when the server has gone quiet."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.seen: list[dict[str, Any]] = []

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        message = await self.communicator.receive_json_from(timeout=timeout)
        self.seen.append(message)
        return message

    async def rest(self, quiet: float = QUIET) -> list[dict[str, Any]]:
        """Everything the server sends until it stays quiet for `quiet` seconds."""
        received = []
        while not await self.communicator.receive_nothing(timeout=quiet):
            received.append(await self.next())
        return received

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> dict[str, Any]:
        while True:
            message = await self.next(timeout=timeout)
            if predicate(message):
                return message


def _headers(*, token: str | None, cookie: str | None, origin: str | None) -> list[tuple[bytes, bytes]]:
    headers = []
    if token is not None:
        headers.append((b"authorization", f"Token {token}".encode("latin-1")))
    if cookie is not None:
        headers.append((b"cookie", cookie.encode("latin-1")))
    if origin is not None:
        headers.append((b"origin", origin.encode("latin-1")))
    return headers


def _url(path: str, since: int | str | None) -> str:
    return path if since is None else f"{path}?since={since}"


@asynccontextmanager
async def stream(
    path: str,
    *,
    token: str | None = None,
    cookie: str | None = None,
    origin: str | None = None,
    since: int | str | None = None,
) -> AsyncIterator[Stream]:
    communicator = WebsocketCommunicator(
        application, _url(path, since), headers=_headers(token=token, cookie=cookie, origin=origin)
    )
    connected, detail = await communicator.connect(timeout=5)
    assert connected, f"refused with {detail}"
    try:
        yield Stream(communicator)
    finally:
        await communicator.disconnect()


async def refusal(
    path: str,
    *,
    token: str | None = None,
    cookie: str | None = None,
    origin: str | None = None,
) -> int:
    """The close code a refused connection ends with; fails if the server sent anything before closing."""
    communicator = WebsocketCommunicator(
        application, path, headers=_headers(token=token, cookie=cookie, origin=origin)
    )
    connected, detail = await communicator.connect(timeout=5)
    if not connected:
        return int(detail)
    closing = await communicator.receive_output(timeout=5)
    assert closing["type"] == "websocket.close", f"sent {closing} to a client it should refuse"
    await communicator.disconnect(code=closing["code"])
    return int(closing["code"])


def _dispatcher() -> Any:
    return UserFactory(role=Role.DISPATCHER)


def _call(
    user: Any, *, phone: str = "+6281234567890", name: str = "", place: LatLon = PLACE, **extra: Any
) -> Any:
    return services.call_record(
        user=user, caller_phone=phone, caller_name=name, complaint="sesak napas", priority=2,
        location=place, address="Jl. Kawi", **extra,
    ).incident  # fmt: skip


def _visible(*, after: int, unit_id: int | None = None) -> list[dict[str, Any]]:
    """What the record says a console (or one unit's crew) may see after `after`, as envelopes."""
    rows = Event.objects.filter(id__gt=after).order_by("id")
    rows = rows.filter(for_console=True) if unit_id is None else rows.filter(unit_id=unit_id)
    return [_as_sent(events.envelope(e)) for e in rows]


def _as_sent(envelope: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(envelope))


def _last_seq() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


# --- Snapshots --------------------------------------------------------------------------------


def test_console_snapshot_holds_the_open_incidents_and_every_unit_at_the_current_seq(token):
    units = UnitFactory.create_batch(3)
    dispatcher = _dispatcher()
    open_incident = _call(dispatcher)
    closed = IncidentFactory(status=IncidentStatus.CLOSED)
    cancelled = IncidentFactory(status=IncidentStatus.CANCELLED)
    seq = _last_seq()
    assert seq > 0
    key = token(Role.DISPATCHER)

    async def scenario() -> dict[str, Any]:
        async with stream("/ws/console/", token=key) as console:
            snapshot = await console.next()
            assert await console.rest() == []
            return snapshot

    snapshot = run(scenario)
    assert snapshot["type"] == "snapshot"
    assert snapshot["seq"] == seq
    assert snapshot["at"]
    incident_ids = [i["id"] for i in snapshot["data"]["incidents"]]
    assert incident_ids == [open_incident.id]
    assert closed.id not in incident_ids
    assert cancelled.id not in incident_ids
    assert snapshot["data"]["incidents"][0]["calls"][0]["caller_phone"] == "+6281234567890"
    assert sorted(u["id"] for u in snapshot["data"]["units"]) == sorted(u.id for u in units)
    assert all(u["active_assignment"] is None for u in snapshot["data"]["units"])


def test_unit_snapshot_holds_its_own_unit_and_its_active_assignment_only(token):
    mine, other = UnitFactory(), UnitFactory()
    dispatcher = _dispatcher()
    incident, elsewhere = _call(dispatcher), _call(dispatcher, phone="+6281200000001")
    assignment = services.assignment_create(incident_id=incident.id, unit_id=mine.id, by=dispatcher)
    services.assignment_create(incident_id=elsewhere.id, unit_id=other.id, by=dispatcher)
    key = token(Role.CREW, unit=mine)

    async def scenario() -> dict[str, Any]:
        async with stream("/ws/unit/", token=key) as phone:
            return await phone.next()

    snapshot = run(scenario)
    assert snapshot["type"] == "snapshot"
    assert snapshot["seq"] == _last_seq()
    assert snapshot["data"]["unit"]["id"] == mine.id
    assert snapshot["data"]["unit"]["status"] == "assigned"
    assert snapshot["data"]["assignment"]["id"] == assignment.id
    assert snapshot["data"]["assignment"]["incident"]["id"] == incident.id
    assert snapshot["data"]["assignment"]["incident"]["complaint"] == "sesak napas"
    assert "route" in snapshot["data"]["assignment"]
    assert other.call_sign not in json.dumps(snapshot)


def test_unit_snapshot_assignment_is_null_while_the_unit_is_free(token):
    unit = UnitFactory()
    key = token(Role.CREW, unit=unit)

    async def scenario() -> dict[str, Any]:
        async with stream("/ws/unit/", token=key) as phone:
            return await phone.next()

    snapshot = run(scenario)
    assert snapshot["data"]["unit"]["call_sign"] == unit.call_sign
    assert snapshot["data"]["assignment"] is None
    assert snapshot["seq"] == _last_seq()


# --- Live events ------------------------------------------------------------------------------


def test_a_call_then_its_dispatch_reach_the_console_and_the_crew_in_seq_order(token):
    from dispatch import tasks

    unit = UnitFactory(station=StationFactory(lat=-7.98, lon=112.63))
    dispatcher = _dispatcher()
    console_key, crew_key = token(Role.DISPATCHER), token(Role.CREW, unit=unit)

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], int, int]:
        async with (
            stream("/ws/console/", token=console_key) as console,
            stream("/ws/unit/", token=crew_key) as phone,
        ):
            start = (await console.next())["seq"]
            assert (await phone.next())["type"] == "snapshot"
            incident = await db(_call)(dispatcher)
            assignment_id = await db(tasks.dispatch_incident)(incident.id)
            return await console.rest(), await phone.rest(), start, assignment_id

    console_seen, phone_seen, start, assignment_id = run(scenario)
    assert assignment_id is not None
    assert [m["type"] for m in console_seen] == [
        "incident.created", "call.created", "assignment.created", "unit.updated", "incident.updated",
    ]  # fmt: skip
    assert console_seen == _visible(after=start)
    seqs = [m["seq"] for m in console_seen]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert [m["type"] for m in phone_seen] == ["assignment.created", "unit.updated"]
    assert phone_seen == _visible(after=start, unit_id=unit.id)
    created = phone_seen[0]["data"]
    assert created["id"] == assignment_id
    assert created["unit"]["id"] == unit.id
    assert created["incident"]["complaint"] == "sesak napas"
    assert created["incident"]["location"] == {"lat": PLACE.lat, "lon": PLACE.lon}


def test_crew_taps_reach_the_console_and_the_crew_as_assignment_updates(token):
    unit = UnitFactory()
    dispatcher = _dispatcher()
    incident = _call(dispatcher)
    assignment = services.assignment_create(incident_id=incident.id, unit_id=unit.id, by=dispatcher)
    console_key, crew_key = token(Role.SUPERVISOR), token(Role.CREW, unit=unit)

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with (
            stream("/ws/console/", token=console_key) as console,
            stream("/ws/unit/", token=crew_key) as phone,
        ):
            await console.next(), await phone.next()
            for status in ("acknowledged", "en_route", "on_scene"):
                await db(services.assignment_transition)(
                    assignment_id=assignment.id, status=status, by=dispatcher
                )
            return await console.rest(), await phone.rest()

    console_seen, phone_seen = run(scenario)
    updates = [m["data"]["status"] for m in phone_seen if m["type"] == "assignment.updated"]
    assert updates == ["acknowledged", "en_route", "on_scene"]
    assert [m["data"]["status"] for m in phone_seen if m["type"] == "unit.updated"] == [
        "assigned", "en_route", "on_scene",
    ]  # fmt: skip
    assert [m["data"]["status"] for m in console_seen if m["type"] == "assignment.updated"] == updates
    assert [m["data"]["status"] for m in console_seen if m["type"] == "incident.updated"][-1] == "on_scene"
    for seen in (console_seen, phone_seen):
        seqs = [m["seq"] for m in seen]
        assert seqs == sorted(set(seqs))


# --- Replay -----------------------------------------------------------------------------------


def _busy_morning(dispatcher: Any, units: list[Any]) -> None:
    """A mix of every kind of event over several units, including rows only one unit's crew sees."""
    a, b, c = units
    first = _call(dispatcher, name="Ibu Sari")
    second = _call(dispatcher, phone="+6281200000002", place=LatLon(-7.95, 112.61))
    third = _call(dispatcher, phone="+6281200000003", place=LatLon(-7.99, 112.64))
    on_a = services.assignment_create(incident_id=first.id, unit_id=a.id, by=dispatcher)
    services.assignment_create(incident_id=second.id, unit_id=b.id, by=dispatcher)
    # A second caller for the first incident: the crew of `a` gets an incident row of its own.
    _call(dispatcher, phone="+6281200000004", incident_id=first.id)
    services.assignment_transition(assignment_id=on_a.id, status="acknowledged", by=dispatcher)
    services.assignment_transition(assignment_id=on_a.id, status="en_route", by=dispatcher)
    now = timezone.now()
    for unit in units:
        services.unit_positions_record(
            unit_id=unit.id, positions=[services.Position(-7.97, 112.62, now)], by=dispatcher
        )
    services.incident_cancel(incident_id=second.id, reason="double call", by=dispatcher)
    on_c = services.assignment_create(incident_id=third.id, unit_id=c.id, by=dispatcher)
    # `b` is free again: it replaces `c` on the third incident.
    services.assignment_create(incident_id=third.id, unit_id=b.id, replace_id=on_c.id, by=dispatcher)
    services.unit_set_status(unit_id=c.id, status="out_of_service", by=dispatcher)
    services.assignment_transition(assignment_id=on_a.id, status="on_scene", by=dispatcher)


def test_a_console_reconnecting_with_since_gets_exactly_the_events_after_it_and_no_snapshot(token):
    units = UnitFactory.create_batch(3)
    dispatcher = _dispatcher()
    _call(dispatcher)
    since = _last_seq()
    _busy_morning(dispatcher, units)
    key = token(Role.DISPATCHER)
    expected = _visible(after=since)
    assert len(expected) > 20
    assert Event.objects.filter(id__gt=since, for_console=False).exists(), "the mix lacks unit-only rows"

    async def scenario() -> list[dict[str, Any]]:
        async with stream("/ws/console/", token=key, since=since) as console:
            return await console.rest()

    assert run(scenario) == expected


def test_a_crew_reconnecting_with_since_gets_exactly_its_own_unit_events_after_it(token):
    units = UnitFactory.create_batch(3)
    dispatcher = _dispatcher()
    since = _last_seq()
    _busy_morning(dispatcher, units)
    for unit in units:
        key = token(Role.CREW, unit=unit)
        expected = _visible(after=since, unit_id=unit.id)
        assert expected

        async def scenario(key: str = key) -> list[dict[str, Any]]:
            async with stream("/ws/unit/", token=key, since=since) as phone:
                return await phone.rest()

        assert run(scenario) == expected, unit.call_sign


def test_replay_from_the_middle_of_the_record_starts_right_after_since(token):
    dispatcher = _dispatcher()
    _busy_morning(dispatcher, UnitFactory.create_batch(3))
    ids = list(Event.objects.filter(for_console=True).order_by("id").values_list("id", flat=True))
    since = ids[len(ids) // 2]
    key = token(Role.CALL_TAKER)

    async def scenario() -> list[dict[str, Any]]:
        async with stream("/ws/console/", token=key, since=since) as console:
            return await console.rest()

    replayed = run(scenario)
    assert [m["seq"] for m in replayed] == ids[len(ids) // 2 + 1 :]


def test_a_client_that_is_up_to_date_gets_nothing_on_reconnect_then_live_events(token):
    dispatcher = _dispatcher()
    _call(dispatcher)
    since = _last_seq()
    key = token(Role.DISPATCHER)

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with stream("/ws/console/", token=key, since=since) as console:
            quiet = await console.rest()
            await db(_call)(dispatcher, phone="+6281200000009")
            return quiet, await console.rest()

    quiet, live = run(scenario)
    assert quiet == []
    assert [m["type"] for m in live] == ["incident.created", "call.created"]
    assert live[0]["seq"] > since


def test_a_since_that_cannot_be_replayed_gets_a_fresh_snapshot(token, settings):
    settings.DISPATCH = {**settings.DISPATCH, "REPLAY_MAX_EVENTS": 5}
    dispatcher = _dispatcher()
    _call(dispatcher)
    first = _last_seq()
    for n in range(4):
        _call(dispatcher, phone=f"+62812000000{n:02d}")
    last = _last_seq()
    assert last - first > 5
    asked = {"too old": first, "in the future": last + 10, "not a number": "abc", "negative": -1}
    key = token(Role.DISPATCHER)

    async def scenario() -> dict[str, list[dict[str, Any]]]:
        sent = {}
        for why, since in asked.items():
            async with stream("/ws/console/", token=key, since=since) as console:
                sent[why] = await console.rest()
        return sent

    for why, sent in run(scenario).items():
        assert [m["type"] for m in sent] == ["snapshot"], why
        assert sent[0]["seq"] == last, why
        assert len(sent[0]["data"]["incidents"]) == 5, why


def test_a_crew_whose_unit_was_quiet_while_the_city_was_busy_gets_a_replay_not_a_snapshot(token, settings):
    settings.DISPATCH = {**settings.DISPATCH, "REPLAY_MAX_EVENTS": 5}
    unit = UnitFactory()
    dispatcher = _dispatcher()
    since = _last_seq()
    for n in range(5):
        _call(dispatcher, phone=f"+62812000000{n:02d}")
    services.unit_set_status(unit_id=unit.id, status="out_of_service", by=dispatcher)
    key = token(Role.CREW, unit=unit)
    assert _last_seq() - since > 10

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with stream("/ws/unit/", token=key, since=since) as phone:
            replayed = await phone.rest()
            await phone.communicator.send_json_to({"type": "ping"})
            return replayed, await phone.rest()

    replayed, after_ping = run(scenario)
    assert replayed == _visible(after=since, unit_id=unit.id)
    assert [(m["type"], m["data"]["status"]) for m in replayed] == [("unit.updated", "out_of_service")]
    assert [m["type"] for m in after_ping] == ["pong"]


# --- Who may connect --------------------------------------------------------------------------


def test_an_anonymous_client_is_refused_with_4401_on_both_streams():
    async def scenario() -> list[int]:
        return [await refusal("/ws/console/"), await refusal("/ws/unit/")]

    assert run(scenario) == [4401, 4401]


def test_an_invalid_token_is_refused_with_4401():
    keys = {
        "unknown": "0" * 40,
        "empty": "",
        "spaces": "not a token",
        "nul byte": "abc\x00def",
        "huge": "a" * 5000,
    }

    async def scenario() -> dict[str, list[int]]:
        return {
            why: [await refusal("/ws/console/", token=key), await refusal("/ws/unit/", token=key)]
            for why, key in keys.items()
        }

    assert run(scenario) == {why: [4401, 4401] for why in keys}


def test_an_inactive_users_token_is_refused_with_4401(token):
    key = token(Role.DISPATCHER, is_active=False)

    async def scenario() -> int:
        return await refusal("/ws/console/", token=key)

    assert run(scenario) == 4401


def test_a_crew_is_refused_on_the_console_stream_with_4403(token):
    key = token(Role.CREW, unit=UnitFactory())

    async def scenario() -> int:
        return await refusal("/ws/console/", token=key)

    assert run(scenario) == 4403


def test_console_roles_are_refused_on_the_unit_stream_with_4403(token):
    keys = {role: token(role) for role in CONSOLE_ROLES}

    async def scenario() -> dict[str, int]:
        return {role: await refusal("/ws/unit/", token=key) for role, key in keys.items()}

    assert run(scenario) == dict.fromkeys(CONSOLE_ROLES, 4403)


def test_a_path_that_is_no_stream_is_closed_with_4404(token):
    key = token(Role.DISPATCHER)

    async def scenario() -> list[int]:
        return [await refusal(path, token=key) for path in ("/ws/nowhere/", "/ws/console/extra/", "/ws/")]

    assert run(scenario) == [4404, 4404, 4404]


def test_a_crew_without_a_unit_is_refused_with_4403(token):
    key = token(Role.CREW, unit=None)

    async def scenario() -> int:
        return await refusal("/ws/unit/", token=key)

    assert run(scenario) == 4403


def test_every_console_role_gets_the_console_snapshot(token):
    keys = {role: token(role) for role in CONSOLE_ROLES}

    async def scenario() -> dict[str, str]:
        kinds = {}
        for role, key in keys.items():
            async with stream("/ws/console/", token=key) as console:
                kinds[role] = (await console.next())["type"]
        return kinds

    assert run(scenario) == dict.fromkeys(CONSOLE_ROLES, "snapshot")


def _session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def test_a_browser_session_cookie_from_an_allowed_origin_opens_the_console():
    cookie = _session_cookie(UserFactory(role=Role.DISPATCHER))

    async def scenario() -> dict[str, Any]:
        async with stream("/ws/console/", cookie=cookie, origin="http://127.0.0.1:8000") as console:
            return await console.next()

    assert run(scenario)["type"] == "snapshot"


def test_a_browser_session_cookie_is_checked_for_role_too():
    cookie = _session_cookie(UserFactory(role=Role.DISPATCHER))

    async def scenario() -> int:
        return await refusal("/ws/unit/", cookie=cookie, origin="http://localhost:8000")

    assert run(scenario) == 4403


def test_a_browser_origin_outside_allowed_hosts_is_refused_even_with_a_valid_session():
    cookie = _session_cookie(UserFactory(role=Role.DISPATCHER))

    async def scenario() -> list[bool]:
        refused = []
        for origin in ("http://evil.example", "http://127.0.0.1.evil.example", "null"):
            communicator = WebsocketCommunicator(
                application, "/ws/console/", headers=_headers(token=None, cookie=cookie, origin=origin)
            )
            connected, _ = await communicator.connect(timeout=5)
            refused.append(not connected)
        return refused

    assert run(scenario) == [True, True, True]


def test_a_wildcard_allowed_hosts_does_not_open_the_streams_to_every_site(settings):
    settings.ALLOWED_HOSTS = ["*"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://ncc.example.id"]
    cookie = _session_cookie(UserFactory(role=Role.DISPATCHER))
    cases = {
        ("https://psc119.example.id", "psc119.example.id"): True,  # the page came from this very site
        ("http://psc119.example.id:8443", "psc119.example.id:8443"): True,
        ("https://ncc.example.id", "psc119.example.id"): True,  # a CSRF_TRUSTED_ORIGINS entry
        ("https://evil.example", "psc119.example.id"): False,
        ("http://psc119.example.id", "psc119.example.id:8443"): False,  # another port is another site
        ("chrome-extension://abcdef", "psc119.example.id"): False,
    }

    async def scenario() -> dict[tuple[str, str], bool]:
        accepted = {}
        for origin, host in cases:
            headers = [*_headers(token=None, cookie=cookie, origin=origin), (b"host", host.encode())]
            communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
            connected, _ = await communicator.connect(timeout=5)
            if connected:
                assert (await communicator.receive_json_from(timeout=5))["type"] == "snapshot"
                await communicator.disconnect()
            accepted[origin, host] = connected
        return accepted

    assert run(scenario) == cases


def test_a_token_client_without_origin_is_accepted_and_a_foreign_origin_is_not(token):
    key = token(Role.DISPATCHER)

    async def scenario() -> tuple[str, bool]:
        async with stream("/ws/console/", token=key) as console:
            kind = (await console.next())["type"]
        communicator = WebsocketCommunicator(
            application,
            "/ws/console/",
            headers=_headers(token=key, cookie=None, origin="https://evil.example"),
        )
        connected, _ = await communicator.connect(timeout=5)
        return kind, connected

    assert run(scenario) == ("snapshot", False)


# --- What each stream may see -----------------------------------------------------------------


def test_a_crew_never_receives_another_units_events_in_a_busy_mix(token):
    units = UnitFactory.create_batch(3)
    dispatcher = _dispatcher()
    keys = {unit.id: token(Role.CREW, unit=unit) for unit in units}

    async def scenario() -> dict[int, tuple[int, list[dict[str, Any]]]]:
        seen = {}
        async with (
            stream("/ws/unit/", token=keys[units[0].id]) as a,
            stream("/ws/unit/", token=keys[units[1].id]) as b,
            stream("/ws/unit/", token=keys[units[2].id]) as c,
        ):
            starts = [(await s.next())["seq"] for s in (a, b, c)]
            await db(_busy_morning)(dispatcher, units)
            for unit, start, s in zip(units, starts, (a, b, c), strict=True):
                seen[unit.id] = (start, await s.rest())
        return seen

    seen = run(scenario)
    for unit in units:
        start, received = seen[unit.id]
        assert received == _visible(after=start, unit_id=unit.id), unit.call_sign
        foreign = {u.call_sign for u in units} - {unit.call_sign}
        for message in received:
            assert message["type"] in {"assignment.created", "assignment.updated", "unit.updated", "unit.moved",
                                       "incident.updated"}, message["type"]  # fmt: skip
            if message["type"].startswith("assignment."):
                assert message["data"]["unit"]["id"] == unit.id
            elif message["type"].startswith("unit."):
                assert message["data"]["id"] == unit.id
                assert message["data"]["call_sign"] not in foreign
            else:
                assert any(a["unit"]["id"] == unit.id for a in message["data"]["assignments"])
    # Every unit had something to see: the assertions above were not vacuous.
    assert all(len(received) >= 4 for _, received in seen.values())


def test_a_viewer_receives_events_and_snapshots_without_callers_personal_data(token):
    dispatcher = _dispatcher()
    CallFactory(caller_phone="+6281111111111", caller_name="Pak Budi")
    viewer_key, dispatcher_key = token(Role.VIEWER), token(Role.DISPATCHER)

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        async with (
            stream("/ws/console/", token=viewer_key) as viewer,
            stream("/ws/console/", token=dispatcher_key) as desk,
        ):
            since = (await desk.next())["seq"]
            await viewer.next()
            await db(_call)(dispatcher, phone="+6282222222222", name="Ibu Ani")
            live, plain = await viewer.rest(), await desk.rest()
        async with stream("/ws/console/", token=viewer_key, since=since) as viewer:
            replayed = await viewer.rest()
        return live, plain, replayed

    live, plain, replayed = run(scenario)
    text_plain = json.dumps(plain)
    assert "+6282222222222" in text_plain
    assert "Ibu Ani" in text_plain
    for received in (live, replayed):
        assert [m["type"] for m in received] == ["incident.created", "call.created"]
        text = json.dumps(received)
        assert "+6282222222222" not in text
        assert "Ibu Ani" not in text
        assert received[1]["data"]["caller_phone"] == ""
        assert received[1]["data"]["caller_name"] == ""
        assert received[0]["data"]["calls"][0]["caller_phone"] == ""
        # Nor the patient's condition (product.md: health data); what and how urgent stays readable.
        assert received[1]["data"]["complaint"] == received[0]["data"]["complaint"] == ""
        assert received[0]["data"]["priority"] in (1, 2, 3) and received[0]["data"]["location"]


def test_a_viewer_snapshot_has_no_callers_personal_data(token):
    CallFactory(caller_phone="+6281111111111", caller_name="Pak Budi")
    key = token(Role.VIEWER)

    async def scenario() -> dict[str, Any]:
        async with stream("/ws/console/", token=key) as viewer:
            return await viewer.next()

    snapshot = run(scenario)
    text = json.dumps(snapshot)
    assert "+6281111111111" not in text
    assert "Pak Budi" not in text
    assert snapshot["data"]["incidents"][0]["calls"][0]["caller_phone"] == ""


def test_a_replaced_crew_hears_its_assignment_cancelled_and_the_new_crew_hears_it_created(token):
    first, second = UnitFactory(), UnitFactory()
    dispatcher = _dispatcher()
    incident = _call(dispatcher)
    replaced = services.assignment_create(incident_id=incident.id, unit_id=first.id, by=dispatcher)
    first_key, second_key = token(Role.CREW, unit=first), token(Role.CREW, unit=second)

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], Any]:
        async with stream("/ws/unit/", token=first_key) as one, stream("/ws/unit/", token=second_key) as two:
            await one.next(), await two.next()
            new = await db(services.assignment_create)(
                incident_id=incident.id, unit_id=second.id, replace_id=replaced.id, by=dispatcher
            )
            return await one.rest(), await two.rest(), new

    one, two, new = run(scenario)
    assert [(m["type"], m["data"]["status"]) for m in one] == [
        ("assignment.updated", "cancelled"), ("unit.updated", "available"),
    ]  # fmt: skip
    assert one[0]["data"]["id"] == replaced.id
    assert one[0]["data"]["ended_reason"] == "reassigned"
    assert [(m["type"], m["data"]["status"]) for m in two] == [
        ("assignment.created", "assigned"), ("unit.updated", "assigned"),
    ]  # fmt: skip
    assert two[0]["data"]["id"] == new.id


def test_a_viewer_reads_incidents_over_rest_as_redacted_as_on_the_stream(token):
    from rest_framework.test import APIClient

    call = CallFactory(caller_phone="+6281111111111", caller_name="Pak Budi", notes="riwayat jantung",
                       complaint="nyeri dada hebat", address="Jl. Kawi Atas 12")  # fmt: skip
    call.incident.complaint, call.incident.address, call.incident.notes = (
        call.complaint,
        call.address,
        call.notes,
    )
    call.incident.save()
    viewer, dispatcher = APIClient(), APIClient()
    viewer.credentials(HTTP_AUTHORIZATION=f"Token {token(Role.VIEWER)}")
    dispatcher.credentials(HTTP_AUTHORIZATION=f"Token {token(Role.DISPATCHER)}")
    for path in (
        "/api/v1/incidents/",
        f"/api/v1/incidents/{call.incident_id}/",
        "/api/v1/incidents/?status=open",
    ):
        seen = viewer.get(path)
        assert seen.status_code == 200
        for personal in (
            "+6281111111111",
            "Pak Budi",
            "riwayat jantung",
            "nyeri dada hebat",
            "Jl. Kawi Atas 12",
        ):
            assert personal not in seen.content.decode(), (path, personal)
            assert personal in dispatcher.get(path).content.decode(), (path, personal)


# --- Gap filling ------------------------------------------------------------------------------


def _unbroadcast(*rows: dict[str, Any]) -> list[Event]:
    """Events committed to the record whose broadcasts are still on their way (the test sends them)."""
    with transaction.atomic():
        return [
            Event.objects.create(type=row.get("type", "unit.moved"), at=timezone.now(), data=row.get("data", {}),
                                 unit_id=row.get("unit_id"), for_console=row.get("for_console", True))
            for row in rows
        ]  # fmt: skip


async def _deliver(group: str, *rows: Event) -> None:
    layer = get_channel_layer()
    assert layer is not None
    for row in rows:
        # One transaction's broadcast that does not say the stream's previous seq: any jump may be a gap.
        await layer.group_send(
            group, {"type": "event.batch", "prev": None, "events": [_as_sent(events.envelope(row))]}
        )


def test_a_broadcast_that_overtakes_earlier_ones_makes_the_console_fill_the_gap_in_order_once(token):
    unit = UnitFactory()
    key = token(Role.DISPATCHER)

    async def scenario() -> tuple[list[Event], list[dict[str, Any]]]:
        async with stream("/ws/console/", token=key) as console:
            await console.next()
            rows = await db(_unbroadcast)(
                {"data": {"n": 1}},
                {"type": "incident.updated", "data": {"n": 2}, "unit_id": unit.id, "for_console": False},
                {"data": {"n": 3}, "unit_id": unit.id},
                {"type": "alert", "data": {"n": 4}},
            )
            # The last one arrives first; then the others, late, and the last one again.
            await _deliver(events.CONSOLE_GROUP, rows[3])
            await _deliver(events.CONSOLE_GROUP, rows[0], rows[2], rows[3])
            more = await db(_unbroadcast)({"data": {"n": 5}})
            await _deliver(events.CONSOLE_GROUP, *more)
            return rows + more, await console.rest()

    rows, received = run(scenario)
    assert [m["seq"] for m in received] == [rows[0].id, rows[2].id, rows[3].id, rows[4].id]
    assert [m["data"]["n"] for m in received] == [1, 3, 4, 5]
    assert received[0] == _as_sent(events.envelope(rows[0]))


def test_a_crew_gap_fill_takes_only_its_own_units_events(token):
    mine, other = UnitFactory(), UnitFactory()
    key = token(Role.CREW, unit=mine)

    async def scenario() -> tuple[list[Event], list[dict[str, Any]]]:
        async with stream("/ws/unit/", token=key) as phone:
            await phone.next()
            rows = await db(_unbroadcast)(
                {"data": {"n": 1}, "unit_id": other.id},
                {"data": {"n": 2}, "unit_id": mine.id},
                {"type": "alert", "data": {"n": 3}},
                {"data": {"n": 4}, "unit_id": mine.id, "for_console": False},
                {"data": {"n": 5}, "unit_id": mine.id},
            )
            await _deliver(events.unit_group(mine.id), rows[4], rows[1], rows[3])
            return rows, await phone.rest()

    rows, received = run(scenario)
    assert [m["data"]["n"] for m in received] == [2, 4, 5]
    assert [m["seq"] for m in received] == [rows[1].id, rows[3].id, rows[4].id]


def test_a_viewers_gap_fill_is_redacted_too(token):
    key = token(Role.VIEWER)

    async def scenario() -> list[dict[str, Any]]:
        async with stream("/ws/console/", token=key) as viewer:
            await viewer.next()
            rows = await db(_unbroadcast)(
                {
                    "type": "call.created",
                    "data": {"caller_phone": "+6281999999999", "caller_name": "Rahasia"},
                },
                {"type": "alert", "data": {"code": "late"}},
            )
            await _deliver(events.CONSOLE_GROUP, rows[1])
            return await viewer.rest()

    received = run(scenario)
    assert [m["type"] for m in received] == ["call.created", "alert"]
    assert received[0]["data"] == {"caller_phone": "", "caller_name": ""}


def test_a_ping_brings_what_a_lost_broadcast_never_did_before_the_pong(token):
    unit = UnitFactory()
    console_key, crew_key = token(Role.DISPATCHER), token(Role.CREW, unit=unit)

    async def scenario() -> tuple[list[Event], list[dict[str, Any]], list[dict[str, Any]]]:
        async with (
            stream("/ws/console/", token=console_key) as console,
            stream("/ws/unit/", token=crew_key) as phone,
        ):
            await console.next(), await phone.next()
            rows = await db(_unbroadcast)(
                {"data": {"n": 1}, "unit_id": unit.id},
                {"data": {"n": 2}},
                {"data": {"n": 3}, "unit_id": unit.id, "for_console": False},
            )
            assert await console.rest() == []
            for s in (console, phone):
                await s.communicator.send_json_to({"type": "ping"})
            return rows, await console.rest(), await phone.rest()

    rows, console_seen, phone_seen = run(scenario)
    assert [(m["type"], m["seq"]) for m in console_seen] == [
        ("unit.moved", rows[0].id), ("unit.moved", rows[1].id), ("pong", rows[1].id),
    ]  # fmt: skip
    assert [(m["type"], m["seq"]) for m in phone_seen] == [
        ("unit.moved", rows[0].id), ("unit.moved", rows[2].id), ("pong", rows[2].id),
    ]  # fmt: skip


# --- Robustness -------------------------------------------------------------------------------


def test_a_console_left_open_keeps_receiving_past_the_channel_layers_group_expiry(token, settings):
    layer = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "group_expiry": 2}}}
    dispatcher = _dispatcher()
    key = token(Role.DISPATCHER)

    async def scenario() -> list[dict[str, Any]]:
        async with stream("/ws/console/", token=key) as console:
            await console.next()
            await asyncio.sleep(3.5)  # a control-room day, shortened
            await db(_call)(dispatcher)
            return await console.rest()

    assert [m["type"] for m in run(scenario)] == ["incident.created", "call.created"]


def test_a_ping_gets_a_pong_and_garbage_from_the_client_does_not_break_the_stream(token):
    dispatcher = _dispatcher()
    key = token(Role.DISPATCHER)

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with stream("/ws/console/", token=key) as console:
            snapshot = await console.next()
            await console.communicator.send_to(text_data="this is not json")
            await console.communicator.send_to(bytes_data=b"\x00\x01")
            await console.communicator.send_json_to([1, 2, 3])
            await console.communicator.send_json_to({"type": "ping"})
            pong = await console.next()
            assert pong["seq"] == snapshot["seq"]
            await db(_call)(dispatcher)
            return pong, await console.rest()

    pong, live = run(scenario)
    assert pong["type"] == "pong"
    assert [m["type"] for m in live] == ["incident.created", "call.created"]


async def _deliver_batch(group: str, prev: int | None, *rows: Event) -> None:
    layer = get_channel_layer()
    assert layer is not None
    envelopes = [_as_sent(events.envelope(row)) for row in rows]
    await layer.group_send(group, {"type": "event.batch", "prev": prev, "events": envelopes})


def test_a_batch_whose_prev_the_console_has_seen_is_forwarded_without_reading_the_record(token):
    """`prev` is the stream's seq before the batch: when the relay has seen it, a jump in seq is other streams'
    events, not a gap. (The record holds a row the batch says is not in this stream: it is not fetched.)"""
    key = token(Role.DISPATCHER)

    async def scenario() -> tuple[int, list[Event], list[dict[str, Any]]]:
        async with stream("/ws/console/", token=key) as console:
            snapshot = await console.next()
            rows = await db(_unbroadcast)({"data": {"n": 1}}, {"data": {"n": 2}}, {"data": {"n": 3}})
            await _deliver_batch(events.CONSOLE_GROUP, snapshot["seq"], rows[1], rows[2])
            return snapshot["seq"], rows, await console.rest()

    _, rows, received = run(scenario)
    assert [m["data"]["n"] for m in received] == [2, 3]
    assert [m["seq"] for m in received] == [rows[1].id, rows[2].id]


def test_a_batch_whose_prev_the_crew_has_not_seen_makes_it_fill_the_gap_first(token):
    unit = UnitFactory()
    key = token(Role.CREW, unit=unit)

    async def scenario() -> tuple[list[Event], list[dict[str, Any]]]:
        async with stream("/ws/unit/", token=key) as phone:
            await phone.next()
            rows = await db(_unbroadcast)(
                {"data": {"n": 1}, "unit_id": unit.id},
                {"type": "alert", "data": {"n": 2}},
                {"data": {"n": 3}, "unit_id": unit.id},
                {"data": {"n": 4}, "unit_id": unit.id},
            )
            # The batch of 3 and 4 overtook the one with 1; then 1 comes late, and is not sent twice.
            await _deliver_batch(events.unit_group(unit.id), rows[0].id, rows[2], rows[3])
            await _deliver_batch(events.unit_group(unit.id), None, rows[0])
            return rows, await phone.rest()

    rows, received = run(scenario)
    assert [m["data"]["n"] for m in received] == [1, 3, 4]
    assert [m["seq"] for m in received] == [rows[0].id, rows[2].id, rows[3].id]
