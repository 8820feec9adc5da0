"""A 119 call over HTTP becomes an assignment on every screen, on the real stack."""

import statistics
import time

import pytest

from accounts.models import Role
from tests.factories import StationFactory, UnitFactory

pytestmark = [pytest.mark.e2e]

STATUSES = ["acknowledged", "en_route", "on_scene", "transporting", "at_hospital", "cleared"]


def _call(client, **overrides):
    body = {
        "caller_phone": "0812-3456-7890",
        "complaint": "nyeri dada, sesak",
        "priority": 1,
        "location": {"lat": -7.9797, "lon": 112.6304},
        "address": "Jl. Kawi, Klojen",
        **overrides,
    }
    answer = client.post("/api/v1/calls/", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_call_reaches_the_console_and_the_nearest_crew_then_the_crew_taps_through(stack, token_for):
    near = UnitFactory(call_sign="PSC-NEAR", station=StationFactory(lat=-7.9800, lon=112.6300))
    UnitFactory(call_sign="PSC-FAR", station=StationFactory(lat=-8.0300, lon=112.6400))
    calltaker = stack.client(token_for(Role.CALL_TAKER))
    crew_token = token_for(Role.CREW, unit=near)
    crew = stack.client(crew_token)

    with (
        stack.websocket("/ws/console/", token_for(Role.DISPATCHER)) as console,
        stack.websocket("/ws/unit/", crew_token) as phone,
    ):
        assert console.next()["type"] == "snapshot"
        snapshot = phone.next()
        assert snapshot["type"] == "snapshot"
        assert snapshot["data"]["unit"]["call_sign"] == "PSC-NEAR"
        assert snapshot["data"]["assignment"] is None

        posted = time.perf_counter()
        incident = _call(calltaker)["incident"]
        created = phone.wait_for(lambda m: m["type"] == "assignment.created")
        latency_ms = (time.perf_counter() - posted) * 1000
        print(f"\ncall-to-crew assignment.created latency: {latency_ms:.1f} ms")

        assert created["data"]["incident"]["id"] == incident["id"]
        assert created["data"]["incident"]["complaint"] == "nyeri dada, sesak"
        assert created["data"]["unit"]["call_sign"] == "PSC-NEAR"
        assert created["data"]["eta_seconds"] > 0
        seen_by_console = console.wait_for(lambda m: m["type"] == "assignment.created")
        assert seen_by_console["data"]["id"] == created["data"]["id"]

        assignment_id = created["data"]["id"]
        for status in STATUSES:
            answer = crew.post(f"/api/v1/assignments/{assignment_id}/status/", json={"status": status})
            assert answer.status_code == 200, answer.text
            update = phone.wait_for(
                lambda m, s=status: m["type"] == "assignment.updated" and m["data"]["status"] == s
            )
            assert update["data"][f"{status}_at"] is not None

    final = stack.client(token_for(Role.DISPATCHER)).get(f"/api/v1/incidents/{incident['id']}/").json()
    assert final["status"] == "closed"
    assert [a["status"] for a in final["assignments"]] == ["cleared"]


def test_a_console_that_reconnects_with_since_receives_exactly_what_it_missed(stack, token_for):
    UnitFactory(call_sign="PSC-A", station=StationFactory(lat=-7.97, lon=112.63))
    dispatcher_token = token_for(Role.DISPATCHER)
    calltaker = stack.client(token_for(Role.CALL_TAKER))
    with stack.websocket("/ws/console/", dispatcher_token) as console:
        last_seen = console.next()["seq"]

    missed = _call(calltaker, priority=2)["incident"]
    time.sleep(1.0)  # the worker assigns while the console is away

    with stack.websocket("/ws/console/", dispatcher_token, since=last_seen) as console:
        replayed = console.wait_for(lambda m: m["type"] == "assignment.created")
        seqs = [m["seq"] for m in console.seen]
        assert seqs == sorted(seqs)
        assert seqs[0] > last_seen
        assert all(m["type"] != "snapshot" for m in console.seen)
        assert replayed["data"]["incident"]["id"] == missed["id"]
        types = [m["type"] for m in console.seen]
        assert types[:2] == ["incident.created", "call.created"]


def test_call_to_crew_latency_over_several_calls(stack, token_for):
    """Prints the median and worst call → crew event latency over ten calls (a measure, not a timed test)."""
    units = [
        UnitFactory(call_sign=f"LAT-{i}", station=StationFactory(lat=-7.95 - i * 0.005, lon=112.63))
        for i in range(10)
    ]
    calltaker = stack.client(token_for(Role.CALL_TAKER))
    dispatcher_token = token_for(Role.DISPATCHER)
    latencies = []
    with stack.websocket("/ws/console/", dispatcher_token) as console:
        console.next()
        for i in range(10):
            posted = time.perf_counter()
            incident = _call(
                calltaker,
                location={"lat": -7.95 - i * 0.005, "lon": 112.631},
                caller_phone=f"08123000{i:04d}",
            )
            console.wait_for(
                lambda m, iid=incident["incident"]["id"]: (
                    m["type"] == "assignment.created" and m["data"]["incident"]["id"] == iid
                )
            )
            latencies.append((time.perf_counter() - posted) * 1000)
    print(
        f"\ncall → assignment.created on the console, 10 calls: median {statistics.median(latencies):.1f} ms, "
        f"max {max(latencies):.1f} ms"
    )
    assert len({u.pk for u in units}) == 10
    assert len(latencies) == 10
