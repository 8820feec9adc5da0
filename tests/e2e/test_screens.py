"""The control-room screens in real headless Chromium, on the real stack (uvicorn, Celery worker, PostgreSQL,
Redis): a call recorded by keyboard reaches the dispatcher's screen, a reassignment reaches the first crew,
a dropped live link comes back without losing an event, Indonesian by default, user text never runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from accounts.models import Role, User
from dispatch.models import Camera
from fleet.models import Unit
from geo.models import Facility, Region
from tests.factories import StationFactory, UnitFactory, UserFactory

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "screens"
MALANG = ROOT.parent / "shared" / "data" / "malang"
DESK = {"width": 1366, "height": 768}
WALL = {"width": 1920, "height": 1080}
ALUN_ALUN = (-7.98263, 112.63091)
# Posts across Kota Malang (public facts, as in the demo): (call sign, kind, post, lat, lon).
FLEET = [
    ("RSSA-01", "als", "RSUD Dr. Saiful Anwar", -7.972567, 112.631546),
    ("PSC-04", "als", "Puskesmas Dinoyo", -7.943266, 112.611298),
    ("PSC-05", "bls", "Puskesmas Janti", -8.000975, 112.620583),
    ("PSC-01", "als", "RSUD Kota Malang", -8.026348, 112.639397),
    ("PSC-03", "bls", "Puskesmas Kendalkerep", -7.961204, 112.650879),
    ("PKM-PLW", "bls", "Puskesmas Polowijen", -7.932147, 112.650291),
]


def shoot(page, name: str) -> Path:
    """A screenshot as a test artefact (tests/artifacts is gitignored); docs/screenshots holds copies."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def city(*, with_regions: bool) -> dict[str, Unit]:
    """The fleet at its posts, a landmark for the place search and, when the data is there, the outlines."""
    if with_regions and (MALANG / "malang_kelurahan_big2021.geojson").exists():
        from geo.imports import regions_import

        regions_import(path=MALANG / "malang_kecamatan_big.geojson", kind=Region.Kind.KECAMATAN)
        regions_import(path=MALANG / "malang_kelurahan_big2021.geojson", kind=Region.Kind.KELURAHAN)
    Facility.objects.create(
        kind=Facility.Kind.LANDMARK, name="Alun-alun Merdeka Malang", lat=ALUN_ALUN[0], lon=ALUN_ALUN[1]
    )
    units = {}
    for call_sign, kind, post, lat, lon in FLEET:
        units[call_sign] = UnitFactory(
            call_sign=call_sign, kind=kind, station=StationFactory(name=post, lat=lat, lon=lon)
        )
    return units


class Watched:
    """A page whose script errors and CSP violations are collected, so that a test can insist on none."""

    def __init__(self, page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                self.problems.append(f"console: {message.text}")
                if message.type == "error" and "favicon" not in message.text
                else None
            ),
        )


def open_screen(login_page, context, username: str, next_url: str = "/") -> Watched:
    page = login_page(context, username, next_url=next_url)
    watched = Watched(page)
    page.wait_for_selector('#link-state[data-state="online"]', timeout=10_000)
    return watched


def test_a_call_recorded_by_keyboard_reaches_the_console_assigned_within_two_seconds_and_a_reassignment_reaches_the_first_crew(
    stack, browser, login_page, token_for, transactional_db
):
    units = city(with_regions=True)
    UserFactory(username="ct-keys", role=Role.CALL_TAKER)
    UserFactory(username="disp-console", role=Role.DISPATCHER)
    dispatcher_context = browser.new_context(viewport=DESK)
    calltaker_context = browser.new_context(viewport=DESK)
    console = open_screen(login_page, dispatcher_context, "disp-console")
    assert console.page.url.endswith("/console/"), "a dispatcher's home is the console"
    calltaker = open_screen(login_page, calltaker_context, "ct-keys")
    assert calltaker.page.url.endswith("/calltaker/"), "a call-taker's home is the call-taker screen"
    ct = calltaker.page

    # Keyboard only: the phone number has the focus when the screen opens.
    assert ct.evaluate("document.activeElement.id") == "caller-phone"
    started = time.perf_counter()
    ct.keyboard.type("0812-3456-7001")
    ct.keyboard.press("Tab")  # caller's name: left empty
    ct.keyboard.press("Tab")
    ct.keyboard.type("alun merdeka")
    ct.wait_for_selector(
        '#place-results li[aria-selected="true"]:has-text("Alun-alun Merdeka")', timeout=5_000
    )
    ct.keyboard.press("Enter")
    ct.wait_for_function("document.getElementById('coords').value.startsWith('-7.98263')")
    ct.keyboard.press("Tab")  # coordinates: filled by the search
    ct.keyboard.press("Tab")
    ct.keyboard.type("nyeri dada, keringat dingin")
    ct.keyboard.press("Tab")  # into the triage colours
    ct.keyboard.press("1")
    ct.keyboard.press("Tab")  # patients: 1
    ct.keyboard.press("Tab")
    ct.keyboard.type("pasien laki-laki 60 tahun")
    assert ct.locator('input[name="priority"][value="1"]').is_checked()
    shoot(ct, "calltaker")
    typed = time.perf_counter() - started
    ct.keyboard.press("Control+Enter")
    saved_at = time.perf_counter()

    # Within two seconds the console shows the incident and the unit the system sent.
    queued = console.page.locator("#queue .inc", has_text="nyeri dada, keringat dingin")
    queued.locator(".chip", has_text="RSSA-01").wait_for(timeout=2_000)
    on_console = time.perf_counter() - saved_at
    assert on_console < 2.0, f"the console showed the assignment after {on_console:.2f}s"
    print(f"\nkeyboard entry {typed:.1f}s; save → console shows the assignment in {on_console * 1000:.0f} ms")
    ct.wait_for_selector("#form-status.ok")
    assert "Tersimpan" in ct.locator("#form-status").inner_text()
    assert ct.evaluate("document.activeElement.id") == "caller-phone", "ready for the next call"
    assert ct.locator("#caller-phone").input_value() == ""

    # The dispatcher reassigns to another unit; the first unit's crew hears of it on its stream.
    first = units["RSSA-01"]
    with stack.websocket("/ws/unit/", token_for(Role.CREW, unit=first)) as crew:
        snapshot = crew.next()
        assert snapshot["type"] == "snapshot"
        assignment = snapshot["data"]["assignment"]
        assert assignment["status"] == "assigned"
        queued.click()
        replacement = units["PSC-03"]
        button = console.page.locator(
            f'#recommendations [data-action="reassign"][data-unit="{replacement.id}"]'
        )
        button.click(timeout=5_000)
        update = crew.wait_for(
            lambda m: m["type"] == "assignment.updated" and m["data"]["id"] == assignment["id"], timeout=5
        )
        assert update["data"]["status"] == "cancelled"
        assert update["data"]["ended_reason"] == "reassigned"
    detail = console.page.locator("#detail-body")
    detail.locator('.assignment[data-status="assigned"] .call-sign', has_text="PSC-03").wait_for(
        timeout=3_000
    )
    assert detail.locator('.assignment[data-status="cancelled"] .call-sign').inner_text() == "RSSA-01"
    queued.locator(".chip", has_text="PSC-03").wait_for(timeout=2_000)

    # The same caller rings again: the open incident shows before saving, and the call is attached to it
    # (a double Ctrl+Enter still records one call).
    ct.keyboard.type("081234567001")
    duplicate = ct.locator(".dup-card", has_text="nyeri dada, keringat dingin")
    duplicate.wait_for(timeout=5_000)
    duplicate.locator("[data-attach]").click()
    assert "akan digabungkan" in ct.locator("#attach-banner").inner_text()
    ct.locator("#complaint").fill("nyeri dada, keringat dingin; kini tidak sadar")
    ct.keyboard.press("Control+Enter")
    ct.keyboard.press("Control+Enter")
    ct.wait_for_selector("#form-status.ok")
    assert "digabungkan" in ct.locator("#form-status").inner_text()
    calls = detail.locator(".kv dd", has_text="+6281234567001")
    calls.locator("div").nth(1).wait_for(timeout=3_000)
    ct.wait_for_timeout(500)
    assert calls.locator("div").count() == 2, "one call attached, not two"
    assert console.page.locator("#queue .inc").count() == 1, "no second incident"
    shoot(console.page, "console")

    assert console.problems == []
    assert calltaker.problems == []
    dispatcher_context.close()
    calltaker_context.close()


def test_a_dropped_console_link_reconnects_with_since_and_shows_every_event_it_missed(
    stack, browser, login_page, token_for, transactional_db
):
    only = UnitFactory(call_sign="PSC-ONLY", station=StationFactory(lat=-7.9800, lon=112.6300))
    UserFactory(username="disp-reconnect", role=Role.DISPATCHER)
    calltaker = stack.client(token_for(Role.CALL_TAKER))
    context = browser.new_context(viewport=DESK)
    console = open_screen(login_page, context, "disp-reconnect")
    page = console.page

    page.evaluate("window.pscConsole.stream.hold()")
    page.wait_for_selector("#offline-banner", state="visible")
    assert page.locator("#link-state").get_attribute("data-state") == "offline"

    # While the console is away: a call that gets the only unit, then one that finds none (an alert).
    with stack.websocket("/ws/console/", token_for(Role.DISPATCHER)) as watcher:
        watcher.next()
        first = calltaker.post(
            "/api/v1/calls/",
            json={"caller_phone": "081234560001", "complaint": "jatuh dari motor", "priority": 2,
                  "location": {"lat": -7.9790, "lon": 112.6310}},
        )  # fmt: skip
        assert first.status_code == 201, first.text
        watcher.wait_for(lambda m: m["type"] == "assignment.created")
        second = calltaker.post(
            "/api/v1/calls/",
            json={"caller_phone": "081234560002", "complaint": "sesak napas berat", "priority": 1,
                  "location": {"lat": -7.9600, "lon": 112.6200}},
        )  # fmt: skip
        assert second.status_code == 201, second.text
        watcher.wait_for(lambda m: m["type"] == "alert" and m["data"]["code"] == "no_unit_available")
    assert page.locator("#queue .inc").count() == 0, "nothing arrives while the link is down"

    page.evaluate("window.pscConsole.stream.resume()")
    page.wait_for_selector('#link-state[data-state="online"]')
    page.locator("#queue .inc", has_text="jatuh dari motor").locator(".chip", has_text="PSC-ONLY").wait_for(
        timeout=5_000
    )
    waiting = page.locator("#queue .inc.st-pending", has_text="sesak napas berat")
    waiting.wait_for(timeout=5_000)
    page.locator('#alert-list .alert[data-code="no_unit_available"]').wait_for(timeout=5_000)
    assert page.locator("#offline-banner").is_hidden()
    stats = page.evaluate("window.pscConsole.stream.stats")
    assert stats["snapshots"] == 1, "the missed events came as a replay after ?since=, not as a new snapshot"
    assert page.locator(f'.unit[data-id="{only.id}"] .unit-status').inner_text().startswith("Ditugaskan")
    assert page.evaluate("window.pscConsole.sound.alarms") == 1, (
        "a priority 1 missed for seconds still sounds"
    )

    # The alert stays until a dispatcher acknowledges it, and the acknowledgement is kept by the server.
    page.locator('#alert-list [data-acknowledge^="s:"]').first.click()
    page.wait_for_selector("#alerts", state="hidden")
    page.reload()
    page.wait_for_selector('#link-state[data-state="online"]')
    page.wait_for_timeout(300)
    assert page.locator('#alert-list .alert[data-code="no_unit_available"]').count() == 0
    assert console.problems == []
    context.close()


def test_a_new_priority_one_incident_sounds_the_alarm_user_text_shows_as_text_and_a_camera_opens_in_one_click(
    stack, browser, login_page, token_for, transactional_db
):
    UnitFactory(call_sign="PSC-X", station=StationFactory(lat=-7.9800, lon=112.6300))
    camera = Camera.objects.create(
        name="CCTV Alun-alun <b>", lat=-7.9815, lon=112.6322, stream_url=f"{stack.base_url}/healthz?camera=1"
    )
    Camera.objects.create(name="CCTV Dinoyo", lat=-7.9430, lon=112.6110, stream_url="https://cctv.invalid/2")
    UserFactory(username="disp-xss", role=Role.DISPATCHER)
    context = browser.new_context(viewport=DESK)
    console = open_screen(login_page, context, "disp-xss")
    page = console.page
    response = page.goto(f"{stack.base_url}/console/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector('#link-state[data-state="online"]')

    hostile = '<img src=x onerror="window.__xss=1">'
    answer = stack.client(token_for(Role.CALL_TAKER)).post(
        "/api/v1/calls/",
        json={"caller_phone": "081234567777", "caller_name": "<b>Budi</b>", "complaint": hostile, "priority": 1,
              "notes": "<script>window.__xss=2</script>", "location": {"lat": -7.9810, "lon": 112.6320}},
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    row = page.locator("#queue .inc", has_text="<img src=x")
    row.wait_for(timeout=5_000)
    row.click()
    page.locator("#detail-body .detail-complaint", has_text=hostile).wait_for()
    assert page.locator("#detail-body").inner_text().count("<b>Budi</b>") == 1
    assert "<script>window.__xss=2</script>" in page.locator("#detail-body").inner_text()
    assert page.locator("#queue img, #detail-body img, #detail-body b, #detail-body script").count() == 0
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("window.pscConsole.sound.alarms") == 1, "a new priority-1 incident sounds the alarm"

    cameras = page.locator("#detail-body .camera-list li")
    cameras.first.wait_for(timeout=5_000)
    assert cameras.first.locator(".name").inner_text() == "CCTV Alun-alun <b>", "the nearest camera first"
    assert page.locator(".mk-camera").count() == 2, "every active camera is on the map"
    with context.expect_page() as opened:
        page.locator(f'#detail-body [data-camera="{camera.id}"]').click()
    view = opened.value
    view.wait_for_load_state()
    assert view.url == camera.stream_url
    view.close()
    assert console.problems == []
    context.close()


def test_the_screens_speak_indonesian_by_default_and_english_once_the_user_switches(
    stack, browser, login_page, token_for, transactional_db
):
    city(with_regions=True)
    calltaker = stack.client(token_for(Role.CALL_TAKER))
    for phone, complaint, priority, lat, lon in [
        ("081234561111", "kecelakaan motor", 1, -7.9520, 112.6150),
        ("081234562222", "ibu hamil kontraksi", 2, -8.0100, 112.6300),
        ("081234563333", "demam tinggi anak", 3, -7.9650, 112.6500),
    ]:
        posted = calltaker.post(
            "/api/v1/calls/",
            json={"caller_phone": phone, "complaint": complaint, "priority": priority,
                  "location": {"lat": lat, "lon": lon}},
        )  # fmt: skip
        assert posted.status_code == 201, posted.text
    viewer = UserFactory(username="ncc-wall", role=Role.VIEWER)
    context = browser.new_context(viewport=WALL)
    wall = open_screen(login_page, context, "ncc-wall")
    page = wall.page
    assert page.url.endswith("/wall/"), "a viewer's home is the wall"
    assert page.locator("html").get_attribute("lang") == "id"
    assert page.locator("#wall-incidents-heading").inner_text().lower() == "kejadian terbuka"
    page.locator("#wall-incidents li.p1").wait_for(timeout=5_000)
    assert "MERAH" in page.locator("#wall-incidents li.p1 .prio").inner_text().upper()
    assert page.locator("#link-state .link-text").inner_text() == "Terhubung"
    page.locator("#figures .figure").first.wait_for()
    page.wait_for_timeout(400)  # the outlines and markers settle
    shoot(page, "wall")
    # Read-only: nothing on the wall dispatches, and no caller or complaint is shown.
    assert page.locator("#wall-incidents button").count() == 0
    assert "kecelakaan motor" not in page.locator("body").inner_text()

    with page.expect_navigation():
        page.select_option("#language-select", "en")
    page.wait_for_selector('#link-state[data-state="online"]')
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#wall-incidents-heading").inner_text().lower() == "open incidents"
    assert page.locator("#link-state .link-text").inner_text() == "Live"
    viewer.refresh_from_db()
    assert viewer.language == "en", "the choice is kept on the user, for every screen and device"
    assert User.objects.get(pk=viewer.pk).language == "en"
    assert wall.problems == []
    context.close()


def test_the_login_page_and_each_roles_home_speak_indonesian(stack, browser, transactional_db):
    context = browser.new_context(viewport=DESK)
    page = context.new_page()
    page.goto(f"{stack.base_url}/login/")
    assert page.locator("html").get_attribute("lang") == "id"
    assert page.get_by_role("button", name="Masuk").is_visible()
    assert page.get_by_label("Nama pengguna").is_visible()
    shoot(page, "login")
    context.close()
