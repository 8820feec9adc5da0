"""The WebSocket streams on the real stack: ack timeouts, reassignment, reconnection with `since`, refusals.

Data is set up through the ORM; everything else happens as clients do it, over HTTP and WebSockets against
uvicorn, with a Celery worker process, PostgreSQL and Redis.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from accounts.models import Role
from tests.e2e.conftest import stack_running
from tests.e2e.stack import Stack, StreamReader
from tests.factories import StationFactory, UnitFactory

pytestmark = [pytest.mark.e2e]

NEAR = (-7.9800, 112.6300)
FAR = (-8.0300, 112.6400)
PLACE = {"lat": -7.9797, "lon": 112.6304}
ACK_TIMEOUT_SECONDS = 3


@pytest.fixture(scope="module")
def quick_ack_stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Stack]:
    """A second stack whose assignments expire after a few seconds without an acknowledgement."""
    with stack_running(
        django_db_blocker,
        tmp_path_factory,
        "e2e-quick-ack",
        {"DISPATCH_ACK_TIMEOUT_SECONDS": str(ACK_TIMEOUT_SECONDS)},
    ) as running:
        yield running


def _unit(call_sign: str, where: tuple[float, float]) -> Any:
    return UnitFactory(call_sign=call_sign, station=StationFactory(lat=where[0], lon=where[1]))


def _call(client: Any, **overrides: Any) -> dict[str, Any]:
    body = {"caller_phone": "0812-3456-7890", "complaint": "kejang", "priority": 1, "location": PLACE,
            "address": "Jl. Ijen", **overrides}  # fmt: skip
    answer = client.post("/api/v1/calls/", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["incident"]


def _drain(reader: StreamReader, quiet: float = 0.6) -> list[dict[str, Any]]:
    """What the server still sends until it stays quiet for `quiet` seconds."""
    received = []
    while True:
        try:
            received.append(reader.next(timeout=quiet))
        except TimeoutError:
            return received


def _is(kind: str, **data: Any) -> Any:
    return lambda m: m["type"] == kind and all(m["data"].get(k) == v for k, v in data.items())


def _only_about(unit_id: int, messages: list[dict[str, Any]]) -> None:
    """A crew stream carries its own unit's assignments and status, and nothing of any other unit."""
    for message in messages:
        kind, data = message["type"], message["data"]
        assert kind in {"snapshot", "assignment.created", "assignment.updated", "unit.updated", "unit.moved",
                        "incident.updated"}, kind  # fmt: skip
        if kind.startswith("assignment."):
            assert data["unit"]["id"] == unit_id, message
        elif kind.startswith("unit."):
            assert data["id"] == unit_id, message
        elif kind == "snapshot":
            assert data["unit"]["id"] == unit_id
            assert data["assignment"] is None or data["assignment"]["unit"]["id"] == unit_id


def test_an_unacknowledged_assignment_expires_the_next_unit_goes_and_consoles_get_an_alert(
    quick_ack_stack, token_for
):
    stack = quick_ack_stack
    first, second = _unit("ACK-NEAR", NEAR), _unit("ACK-FAR", FAR)
    calltaker = stack.client(token_for(Role.CALL_TAKER))
    second_token = token_for(Role.CREW, unit=second)
    with (
        stack.websocket("/ws/console/", token_for(Role.DISPATCHER)) as console,
        stack.websocket("/ws/unit/", second_token) as phone,
    ):
        console.next(), phone.next()
        incident = _call(calltaker)
        offered = console.wait_for(_is("assignment.created"))
        offered_at = time.perf_counter()
        assert offered["data"]["unit"]["id"] == first.pk

        alert = console.wait_for(_is("alert", code="ack_timeout"), timeout=ACK_TIMEOUT_SECONDS + 8)
        alerted_at = time.perf_counter()
        assert alert["data"]["unit"] == first.pk
        assert alert["data"]["incident"] == incident["id"]
        expired = [m for m in console.seen if _is("assignment.updated", status="expired")(m)]
        assert [m["data"]["id"] for m in expired] == [offered["data"]["id"]]
        assert expired[0]["seq"] < alert["seq"]

        created = phone.wait_for(_is("assignment.created"), timeout=10)
        next_at = time.perf_counter()
        assert created["data"]["incident"]["id"] == incident["id"]
        assert created["data"]["unit"]["id"] == second.pk
        # The second crew answers in time, so the chain stops here.
        answer = stack.client(second_token).post(
            f"/api/v1/assignments/{created['data']['id']}/status/", json={"status": "acknowledged"}
        )
        assert answer.status_code == 200, answer.text
        phone.wait_for(_is("assignment.updated", status="acknowledged"))
        seqs = [m["seq"] for m in console.seen]
        assert seqs == sorted(set(seqs))
    print(
        f"\nack timeout {ACK_TIMEOUT_SECONDS} s: assignment → alert {alerted_at - offered_at:.2f} s, "
        f"alert → next crew's assignment.created {(next_at - alerted_at) * 1000:.0f} ms"
    )
    assert alerted_at - offered_at >= ACK_TIMEOUT_SECONDS - 0.6

    dispatcher = stack.client(token_for(Role.DISPATCHER))
    units = {u["id"]: u for u in dispatcher.get("/api/v1/units/").json()}
    assert units[first.pk]["status"] == "out_of_service"
    assert units[first.pk]["active_assignment"] is None
    assert units[second.pk]["status"] == "assigned"
    final = dispatcher.get(f"/api/v1/incidents/{incident['id']}/").json()
    assert final["status"] == "dispatched"
    assert [(a["unit"]["id"], a["status"]) for a in final["assignments"]] == [
        (first.pk, "expired"), (second.pk, "acknowledged"),
    ]  # fmt: skip


def test_a_crew_reconnecting_with_since_gets_the_dispatchers_cancel_it_missed(stack, token_for):
    unit = _unit("SINCE-1", NEAR)
    crew_token = token_for(Role.CREW, unit=unit)
    dispatcher = stack.client(token_for(Role.DISPATCHER))
    with stack.websocket("/ws/unit/", crew_token) as phone:
        phone.next()
        incident = _call(stack.client(token_for(Role.CALL_TAKER)))
        created = phone.wait_for(_is("assignment.created"))
        phone.wait_for(_is("unit.updated", status="assigned"))
        answer = stack.client(crew_token).post(
            f"/api/v1/assignments/{created['data']['id']}/status/", json={"status": "en_route"}
        )
        assert answer.status_code == 200
        phone.wait_for(_is("unit.updated", status="en_route"))
        last_seen = max(m["seq"] for m in phone.seen)

    # While the phone is in a dead spot, the dispatcher calls the job off.
    answer = dispatcher.post(
        f"/api/v1/incidents/{incident['id']}/cancel/", json={"reason": "pasien dibawa keluarga"}
    )
    assert answer.status_code == 200, answer.text
    tap = stack.client(crew_token).post(
        f"/api/v1/assignments/{created['data']['id']}/status/", json={"status": "on_scene"}
    )
    assert tap.status_code == 409

    with stack.websocket("/ws/unit/", crew_token, since=last_seen) as phone:
        missed = _drain(phone)
    assert [m["type"] for m in missed] == ["assignment.updated", "unit.updated"]
    assert missed[0]["data"]["id"] == created["data"]["id"]
    assert missed[0]["data"]["status"] == "cancelled"
    assert missed[0]["data"]["ended_reason"] == "incident cancelled"
    assert missed[1]["data"]["status"] == "returning"
    assert [m["seq"] for m in missed] == sorted(m["seq"] for m in missed)
    assert missed[0]["seq"] > last_seen
    _only_about(unit.pk, missed)


def test_a_crew_phone_never_sees_another_units_assignment(stack, token_for):
    mine, theirs = _unit("MINE-1", NEAR), _unit("THEIRS-1", FAR)
    mine_token, theirs_token = token_for(Role.CREW, unit=mine), token_for(Role.CREW, unit=theirs)
    calltaker = stack.client(token_for(Role.CALL_TAKER))
    dispatcher = stack.client(token_for(Role.DISPATCHER))
    with (
        stack.websocket("/ws/unit/", mine_token) as my_phone,
        stack.websocket("/ws/unit/", theirs_token) as their_phone,
    ):
        start = my_phone.next()["seq"]
        their_phone.next()
        near = _call(calltaker, location={"lat": NEAR[0], "lon": NEAR[1]})
        mine_job = my_phone.wait_for(_is("assignment.created"))
        far = _call(calltaker, location={"lat": FAR[0], "lon": FAR[1]}, caller_phone="0812-1111-2222")
        their_job = their_phone.wait_for(_is("assignment.created"))
        assert mine_job["data"]["incident"]["id"] == near["id"]
        assert their_job["data"]["incident"]["id"] == far["id"]
        # The other crew works its job and the dispatcher reassigns a third call between them.
        for status in ("acknowledged", "en_route", "on_scene"):
            stack.client(theirs_token).post(
                f"/api/v1/assignments/{their_job['data']['id']}/status/", json={"status": status}
            )
        stack.client(theirs_token).post(
            f"/api/v1/units/{theirs.pk}/positions/",
            json={"positions": [{"lat": FAR[0], "lon": FAR[1], "at": "2030-01-01T00:00:00+07:00"}]},
        )
        dispatcher.post(f"/api/v1/incidents/{far['id']}/cancel/", json={"reason": "uji"})
        their_phone.wait_for(_is("assignment.updated", status="cancelled"))
        _drain(my_phone), _drain(their_phone)
        mine_seen, theirs_seen = my_phone.seen, their_phone.seen
    _only_about(mine.pk, mine_seen)
    _only_about(theirs.pk, theirs_seen)
    assert any(_is("unit.moved")(m) for m in theirs_seen)

    # A replay from the first snapshot holds the same: nothing of the other unit.
    with stack.websocket("/ws/unit/", mine_token, since=start) as my_phone:
        replayed = _drain(my_phone)
    _only_about(mine.pk, replayed)
    assert [m["seq"] for m in replayed] == [m["seq"] for m in mine_seen if m["type"] != "snapshot"]


def test_a_dispatcher_reassigning_tells_the_first_crew_it_is_off_and_the_second_it_is_on(stack, token_for):
    first, second = _unit("RE-NEAR", NEAR), _unit("RE-FAR", FAR)
    first_token, second_token = token_for(Role.CREW, unit=first), token_for(Role.CREW, unit=second)
    dispatcher = stack.client(token_for(Role.DISPATCHER))
    with (
        stack.websocket("/ws/console/", token_for(Role.DISPATCHER)) as console,
        stack.websocket("/ws/unit/", first_token) as first_phone,
        stack.websocket("/ws/unit/", second_token) as second_phone,
    ):
        console.next(), first_phone.next(), second_phone.next()
        incident = _call(stack.client(token_for(Role.CALL_TAKER)))
        offered = first_phone.wait_for(_is("assignment.created"))
        assert offered["data"]["unit"]["id"] == first.pk

        posted = time.perf_counter()
        answer = dispatcher.post(
            f"/api/v1/incidents/{incident['id']}/assignments/",
            json={"unit": second.pk, "replace": offered["data"]["id"]},
        )
        assert answer.status_code == 201, answer.text
        created = second_phone.wait_for(_is("assignment.created"))
        on_at = time.perf_counter()
        cancelled = first_phone.wait_for(_is("assignment.updated", status="cancelled"))
        off_at = time.perf_counter()
        first_phone.wait_for(_is("unit.updated", status="available"))
        console.wait_for(_is("assignment.created", id=answer.json()["id"]))

        assert created["data"]["id"] == answer.json()["id"]
        assert created["data"]["incident"]["id"] == incident["id"]
        assert created["data"]["incident"]["complaint"] == "kejang"
        assert cancelled["data"]["id"] == offered["data"]["id"]
        assert cancelled["data"]["ended_reason"] == "reassigned"
        console_cancel = [m for m in console.seen if _is("assignment.updated", status="cancelled")(m)]
        assert [m["data"]["id"] for m in console_cancel] == [offered["data"]["id"]]
        assert console_cancel[0]["seq"] < created["seq"]
        _drain(first_phone), _drain(second_phone)
        _only_about(first.pk, first_phone.seen)
        _only_about(second.pk, second_phone.seen)
    print(
        f"\nreassign POST → second crew assignment.created {(on_at - posted) * 1000:.0f} ms, "
        f"→ first crew cancelled {(off_at - posted) * 1000:.0f} ms (read after)"
    )


def test_refused_stream_connections_carry_their_close_code_to_real_clients(stack, token_for):
    crew_token = token_for(Role.CREW, unit=_unit("REF-1", NEAR))
    cases = [("/ws/console/", {}, 4401), ("/ws/unit/", {"Authorization": "Token " + "0" * 40}, 4401),
             ("/ws/console/", {"Authorization": f"Token {crew_token}"}, 4403),
             ("/ws/unit/", {"Authorization": f"Token {token_for(Role.DISPATCHER)}"}, 4403)]  # fmt: skip
    for path, headers, code in cases:
        with (
            connect(f"{stack.ws_url}{path}", additional_headers=headers, open_timeout=10) as ws,
            pytest.raises(ConnectionClosed) as closed,
        ):
            ws.recv(timeout=5)
        assert closed.value.rcvd is not None, (path, closed.value)
        assert closed.value.rcvd.code == code, (path, closed.value)
    # A browser page from another site never gets as far as the handshake.
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{stack.ws_url}/ws/console/", origin="http://evil.example",  # type: ignore[arg-type]
                additional_headers={"Authorization": f"Token {token_for(Role.DISPATCHER)}"}, open_timeout=10)  # fmt: skip
    assert refused.value.response.status_code == 403
