"""The crew's phone on the real stack: headless Chromium at 360x640, emulated GPS, the network off and on."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

import pytest

from accounts.models import Role
from dispatch.models import Assignment, StatusChange
from tests.factories import HospitalFactory, StationFactory, UnitFactory, UserFactory

pytestmark = [pytest.mark.e2e]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SCENE = {"lat": -7.9797, "lon": 112.6304}
POST = {"latitude": -7.9800, "longitude": 112.6300}
CALL = {
    "caller_phone": "0812-3456-7890",
    "complaint": "Bapak 60 th nyeri dada kiri, keringat dingin",
    "priority": 1,
    "location": SCENE,
    "address": "Jl. Kawi No. 24, depan apotek",
    "patient_count": 1,
}


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"crew-{name}.png"))


def _phone(browser, login_page, username: str, *, accuracy: float = 10.0, where=POST):
    """A phone: a 360x640 touch screen with GPS allowed, logged in to /crew/ and connected."""
    context = browser.new_context(
        viewport={"width": 360, "height": 640},
        is_mobile=True,
        has_touch=True,
        geolocation={**where, "accuracy": accuracy},
        permissions=["geolocation"],
        # The test reads the page with evaluated expressions, which the app's CSP (checked in
        # test_screens_xss) rightly forbids.
        bypass_csp=True,
    )
    page = login_page(context, username, next_url="/crew/")
    assert page.url.endswith("/crew/"), page.url
    page.wait_for_selector("#link[data-state=online]", timeout=10_000)
    return context, page


def _crew(call_sign: str, *, lat=-7.9800, lon=112.6300):
    unit = UnitFactory(call_sign=call_sign, station=StationFactory(lat=lat, lon=lon))
    user = UserFactory(username=f"crew-{call_sign.lower()}", role=Role.CREW, unit=unit)
    return unit, user


def _outbox(page) -> list[dict]:
    """What the phone keeps in IndexedDB, oldest first."""
    return page.evaluate(
        """() => new Promise((resolve, reject) => {
            const open = indexedDB.open("psc119-crew", 1);
            open.onerror = () => reject(open.error);
            open.onsuccess = () => {
                const read = open.result.transaction("outbox").objectStore("outbox").getAll();
                read.onsuccess = () => resolve(read.result);
            };
        })"""
    )


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_call_rings_the_crew_phone_within_two_seconds(stack, browser, login_page, token_for):
    unit, user = _crew("PSC-HP1")
    calltaker = stack.client(token_for(Role.CALL_TAKER))
    context, page = _phone(browser, login_page, user.username)
    assert page.locator("html").get_attribute("lang") == "id"
    assert page.text_content("#idle-status") == "Siaga"
    page.tap("#sound-prompt")  # the shift starts with one tap, so that the alarm may sound
    page.wait_for_selector("#sound-prompt", state="hidden")
    _shot(page, "idle")

    posted = time.monotonic()
    answer = calltaker.post("/api/v1/calls/", json=CALL)
    assert answer.status_code == 201, answer.text
    page.wait_for_selector("#job:not([hidden])", timeout=2_000)
    elapsed = time.monotonic() - posted
    print(f"\ncall → crew phone shows the job: {elapsed * 1000:.0f} ms")
    assert elapsed < 2.0

    assert page.text_content("#complaint") == CALL["complaint"]
    assert page.text_content("#address") == CALL["address"]
    assert page.get_attribute("#priority", "data-priority") == "1"
    assert page.get_attribute("body", "data-alarm") == "ringing"
    assert re.fullmatch(r"Terima dalam (1:00|0:[0-5]\d)", page.text_content("#countdown"))
    assert page.text_content("#actions .btn-primary .label") == "Terima"
    assert page.text_content("#actions .btn-secondary .label") == "Tolak"
    page.wait_for_selector('#call-link[href="tel:+6281234567890"]', timeout=5_000)
    _shot(page, "assignment")

    page.tap("button[data-action=acknowledged]")
    page.wait_for_selector("#actions .btn-primary[data-action=en_route]")
    assert page.get_attribute("body", "data-alarm") is None
    assert page.locator("button[data-action=declined]").count() == 0
    page.wait_for_function("document.getElementById('outbox-badge').dataset.count === '0'")
    assignment = Assignment.objects.get(unit=unit)
    assert assignment.status == "acknowledged"
    assert assignment.acknowledged_at is not None
    context.close()


def test_taps_made_offline_are_applied_after_reconnection_in_order_once_with_their_times(
    stack, browser, login_page, token_for
):
    _unit, user = _crew("PSC-HP2")
    HospitalFactory(name="RSU Dekat", lat=-7.9750, lon=112.6320)
    HospitalFactory(name="RSU Jauh", lat=-7.9400, lon=112.6100)
    HospitalFactory(name="RS Tutup", lat=-7.9790, lon=112.6300, ed_status="closed")
    calltaker = stack.client(token_for(Role.CALL_TAKER))
    dispatcher = stack.client(token_for(Role.DISPATCHER))
    context, page = _phone(browser, login_page, user.username)
    assert calltaker.post("/api/v1/calls/", json=CALL).status_code == 201
    page.wait_for_selector("#actions .btn-primary[data-action=acknowledged]", timeout=5_000)
    assignment_id = int(page.get_attribute("body", "data-assignment"))
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=10_000)

    context.set_offline(True)
    page.wait_for_selector("#link[data-state=offline]")
    for count, action in enumerate(["acknowledged", "en_route", "on_scene"], start=1):
        page.tap(f"#actions button[data-action={action}]")
        page.wait_for_selector(f"#outbox-badge[data-count='{count}']")
        time.sleep(0.7)  # taps far enough apart that each time is told from the next
    page.wait_for_selector("#actions .btn-primary[data-action=transporting]")
    assert "3 ketukan" in page.text_content("#banner-text")
    _shot(page, "offline")
    taps = [item["body"] for item in _outbox(page) if item["kind"] == "assignment"]
    assert [t["status"] for t in taps] == ["acknowledged", "en_route", "on_scene"]
    assert len({t["client_id"] for t in taps}) == 3
    server = dispatcher.get(f"/api/v1/assignments/{assignment_id}/").json()
    assert server["status"] == "assigned"  # nothing reached the server

    # The phone reloads the app in the dead spot: the service worker serves it, the taps are still waiting.
    reloaded = page.reload()
    assert reloaded.from_service_worker
    page.wait_for_selector("#outbox-badge[data-count='3']")
    page.wait_for_selector("#actions .btn-primary[data-action=transporting]")
    assert page.text_content("#complaint") == CALL["complaint"]

    # The first answer after the dead spot is lost on its way back: the phone must send that tap again.
    sent: list[str] = []

    def lose_first_answer(route):
        sent.append(route.request.post_data_json["client_id"])
        if len(sent) == 1:
            route.fetch()  # the server applies it...
            route.abort("connectionreset")  # ...but the phone never hears so
        else:
            route.continue_()

    page.route("**/api/v1/assignments/*/status/", lose_first_answer)
    time.sleep(1.0)
    back_online = datetime.now().astimezone()
    context.set_offline(False)
    page.wait_for_function("document.getElementById('outbox-badge').dataset.count === '0'", timeout=20_000)
    page.unroute("**/api/v1/assignments/*/status/")
    page.wait_for_selector("#link[data-state=online]", timeout=10_000)  # the stream is back, with ?since=

    assert sent[0] == sent[1] == taps[0]["client_id"], "the tap whose answer was lost is sent again"
    assignment = Assignment.objects.get(pk=assignment_id)
    assert assignment.status == "on_scene"
    assert assignment.acknowledged_at == _at(taps[0]["at"])
    assert assignment.en_route_at == _at(taps[1]["at"])
    assert assignment.on_scene_at == _at(taps[2]["at"])
    assert (
        assignment.assigned_at < assignment.acknowledged_at < assignment.en_route_at < assignment.on_scene_at
    )
    assert assignment.on_scene_at < back_online
    changes = list(StatusChange.objects.filter(assignment=assignment).values_list("to_status", "client_id"))
    assert [status for status, _ in changes] == ["assigned", "acknowledged", "en_route", "on_scene"]
    assert [str(c) for _, c in changes[1:]] == [t["client_id"] for t in taps]

    # On scene: the destination, nearest suitable open emergency department first.
    page.tap("#actions button[data-action=transporting]")
    page.wait_for_selector("#hospital-list .hospital")
    names = page.locator(".hospital-name").all_text_contents()
    assert names == ["RSU Dekat", "RSU Jauh"]
    _shot(page, "hospitals")
    page.tap("#hospital-list .hospital >> nth=0")
    page.wait_for_selector("#actions .btn-primary[data-action=at_hospital]")
    page.wait_for_function("document.getElementById('outbox-badge').dataset.count === '0'")
    assignment.refresh_from_db()
    assert assignment.status == "transporting"
    assert assignment.hospital.name == "RSU Dekat"
    assert "RSU Dekat" in page.text_content("#destination")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    _shot(page, "transporting")
    context.close()


def test_positions_reach_the_console_inaccurate_ones_never_and_offline_ones_later(
    stack, browser, login_page, token_for
):
    unit, user = _crew("PSC-HP3")
    with stack.websocket("/ws/console/", token_for(Role.DISPATCHER)) as console:
        assert console.next()["type"] == "snapshot"
        weak = {"latitude": -7.9500, "longitude": 112.6000}
        context, page = _phone(browser, login_page, user.username, accuracy=800.0, where=weak)
        posted: list[str] = []
        page.on(
            "request",
            lambda r: posted.append(r.url) if r.method == "POST" and "/positions/" in r.url else None,
        )
        page.wait_for_function("document.getElementById('gps').textContent.includes('terlalu lemah')")

        context.set_geolocation({"latitude": -7.9700, "longitude": 112.6350, "accuracy": 12})
        moved = console.wait_for(lambda m: m["type"] == "unit.moved" and m["data"]["id"] == unit.pk)
        assert moved["data"]["location"] == {"lat": -7.9700, "lon": 112.6350}
        assert moved["data"]["accuracy"] == 12
        # Online, the fixes went over the unit's open stream: no POST carried them.
        page.wait_for_timeout(200)  # Playwright hands the page's events over only while it is called
        assert posted == []

        context.set_offline(True)
        page.wait_for_selector("#link[data-state=offline]")
        context.set_geolocation({"latitude": -7.9650, "longitude": 112.6400, "accuracy": 8})
        deadline = time.monotonic() + 15
        while not any(
            p["lat"] == -7.9650
            for item in _outbox(page)
            if item["kind"] == "positions"
            for p in item["body"]["positions"]
        ):
            assert time.monotonic() < deadline, "the offline fix was never kept"
            time.sleep(0.3)
        page.wait_for_function("document.getElementById('banner-text').textContent.includes('posisi')")
        context.set_offline(False)
        later = console.wait_for(
            lambda m: m["type"] == "unit.moved" and m["data"]["location"]["lat"] == -7.9650, timeout=20
        )
        assert later["data"]["id"] == unit.pk

    places = [
        m["data"]["location"]
        for m in console.seen
        if m["type"] == "unit.moved" and m["data"]["id"] == unit.pk
    ]
    assert {"lat": -7.9500, "lon": 112.6000} not in places, "an 800 m fix must never be sent"
    context.close()


def test_a_crew_can_neither_see_nor_change_another_unit(stack, token_for):
    mine = UnitFactory(call_sign="PSC-MINE", station=StationFactory(lat=-8.0300, lon=112.6400))
    theirs = UnitFactory(call_sign="PSC-THEIRS", station=StationFactory(lat=-7.9800, lon=112.6300))
    crew_token = token_for(Role.CREW, unit=mine)
    crew = stack.client(crew_token)
    calltaker = stack.client(token_for(Role.CALL_TAKER))

    with (
        stack.websocket("/ws/console/", token_for(Role.DISPATCHER)) as console,
        stack.websocket("/ws/unit/", crew_token) as phone,
    ):
        console.next()
        assert phone.next()["data"]["unit"]["id"] == mine.pk
        time.sleep(
            6
        )  # a crew waiting quietly for work keeps its stream (it must outlive Redis' read timeout)
        their_incident = calltaker.post("/api/v1/calls/", json=CALL).json()["incident"]
        theirs_created = console.wait_for(lambda m: m["type"] == "assignment.created")
        assert theirs_created["data"]["unit"]["id"] == theirs.pk
        their_assignment = theirs_created["data"]["id"]

        # Over the API: 403 for everything of the other unit, and nothing changes.
        assert (
            crew.post(f"/api/v1/units/{theirs.pk}/status/", json={"status": "out_of_service"}).status_code
            == 403
        )
        positions = {
            "positions": [{"lat": -7.97, "lon": 112.63, "at": datetime.now().astimezone().isoformat()}]
        }
        assert crew.post(f"/api/v1/units/{theirs.pk}/positions/", json=positions).status_code == 403
        for status in ("acknowledged", "declined"):
            answer = crew.post(f"/api/v1/assignments/{their_assignment}/status/", json={"status": status})
            assert answer.status_code == 403
        assert crew.get(f"/api/v1/assignments/{their_assignment}/").status_code == 403
        assert crew.get(f"/api/v1/units/{theirs.pk}/").status_code == 403
        assert crew.get(f"/api/v1/incidents/{their_incident['id']}/").status_code == 403
        assert crew.get("/api/v1/crew/hospitals/", params={"assignment": their_assignment}).status_code == 403
        assert [u["id"] for u in crew.get("/api/v1/units/").json()] == [mine.pk]
        current = crew.get("/api/v1/crew/current/").json()
        assert current["unit"]["id"] == mine.pk
        assert current["assignment"] is None
        assert Assignment.objects.get(pk=their_assignment).status == "assigned"

        # Over the WebSocket: the crew's own next job arrives, and nothing of the other unit before it.
        calltaker.post(
            "/api/v1/calls/",
            json={**CALL, "caller_phone": "0813-1111-2222", "location": {"lat": -8.03, "lon": 112.64}},
        )
        own = phone.wait_for(lambda m: m["type"] == "assignment.created")
        assert own["data"]["unit"]["id"] == mine.pk

    assert phone.seen[0]["type"] == "snapshot"
    for message in phone.seen[1:]:
        assert "PSC-THEIRS" not in str(message)
        data = message["data"]
        unit_id = (
            data.get("unit", {}).get("id") if message["type"].startswith("assignment.") else data.get("id")
        )
        if message["type"].startswith(("assignment.", "unit.")):
            assert unit_id == mine.pk, message
        assert not (message["type"].startswith("assignment.") and data["id"] == their_assignment)
