"""Issue 7 on the screens, in real headless Chromium on the real stack: move-up recommendations applied from the
console, emergency departments' status live on the console, a pre-emption told to the console and to the crew,
and the posting-plan page. Indonesian by default."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accounts.models import Role
from fleet.models import Unit
from geo.models import Region
from tests.e2e.conftest import stack_running
from tests.e2e.stack import Stack
from tests.factories import HospitalFactory, StationFactory, UnitFactory, UserFactory

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
MALANG = ROOT.parent / "shared" / "data" / "malang"
ARTIFACTS = ROOT / "tests" / "artifacts" / "screens"
DESK = {"width": 1366, "height": 768}
PHONE = {"width": 360, "height": 640}
# Posts across Kota Malang (public facts, as in the demo): the centre, north, north-east, south-west, south.
SAIFUL_ANWAR = ("RSUD Dr. Saiful Anwar", -7.972567, 112.631546)
POLOWIJEN = ("Puskesmas Polowijen", -7.932147, 112.650291)
KENDALKEREP = ("Puskesmas Kendalkerep", -7.961204, 112.650879)
JANTI = ("Puskesmas Janti", -8.000975, 112.620583)
RSUD_KOTA = ("RSUD Kota Malang", -8.026348, 112.639397)
PREEMPT_SAVING_SECONDS = 60


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def watch(page) -> list[str]:
    """Script errors and CSP violations on the page, so that a test can insist on none."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" and "favicon" not in m.text else None,
    )
    return problems


def malang_regions() -> None:
    """The kecamatan and kelurahan of Kota Malang: the demand that coverage is computed on."""
    if not (MALANG / "malang_kelurahan_big2021.geojson").exists():
        pytest.skip(f"{MALANG} is missing (the Malang data set)")
    from geo.imports import regions_import

    regions_import(path=MALANG / "malang_kecamatan_big.geojson", kind=Region.Kind.KECAMATAN)
    regions_import(path=MALANG / "malang_kelurahan_big2021.geojson", kind=Region.Kind.KELURAHAN)


def post(name: str, lat: float, lon: float) -> Any:
    return StationFactory(name=name, lat=lat, lon=lon)


def unit_at_post(call_sign: str, station: Any, kind: str = "als") -> Unit:
    """A unit that has never reported a position: it stands at its post (and covers from there)."""
    return UnitFactory(call_sign=call_sign, kind=kind, station=station, lat=None, lon=None, location_at=None)


def open_console(login, context, username: str) -> tuple[Any, list[str]]:
    page = login(context, username, next_url="/console/")
    problems = watch(page)
    page.wait_for_selector('#link-state[data-state="online"]', timeout=10_000)
    return page, problems


def wait_until(predicate: Any, timeout: float = 5.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not met within {timeout}s")


# --- Move-up ------------------------------------------------------------------------------------------


def test_the_console_recommends_a_move_up_when_a_kecamatan_is_uncovered_and_apply_changes_the_units_post(
    stack, browser, login_page, token_for, transactional_db
):
    malang_regions()
    centre = post(*SAIFUL_ANWAR)
    for site in (POLOWIJEN, KENDALKEREP, JANTI, RSUD_KOTA):
        post(*site)
    # Every unit waits at the post in the centre: Sukun and Blimbing are out of reach within the target.
    units = [unit_at_post(f"PSC-M{i}", centre) for i in (1, 2, 3)]
    UserFactory(username="disp-moveup", role=Role.DISPATCHER)
    api = stack.client(token_for(Role.SUPERVISOR))
    plan = api.get("/api/v1/moveup/").json()
    assert plan["moves"], f"the scenario needs a move-up: {plan}"
    assert {"Sukun", "Blimbing"} <= set(plan["uncovered"])

    context = browser.new_context(viewport=DESK)
    page, problems = open_console(login_page, context, "disp-moveup")
    panel = page.locator("#moveup")
    expect_heading = panel.locator("h2").inner_text()
    assert expect_heading.lower() == "rekomendasi pindah siaga", expect_heading
    rows = panel.locator("#moveup-list .move")
    rows.first.wait_for(timeout=10_000)
    assert rows.count() == len(plan["moves"])
    first = plan["moves"][0]
    row = panel.locator(
        f'.move[data-unit="{first["unit"]["id"]}"][data-station="{first["to_station"]["id"]}"]'
    )
    text = row.inner_text()
    assert first["unit"]["call_sign"] in text
    assert SAIFUL_ANWAR[0] in text and first["to_station"]["name"] in text, text
    assert re.search(r"\d+ mnt ke pos", text), text
    assert first["newly_covered"], "the first move brings a kecamatan within reach"
    assert "menjangkau " + ", ".join(first["newly_covered"]) in text, text
    assert re.search(r"cakupan \d+\s?% → \d+\s?%", text), text
    assert "belum terjangkau" in panel.locator("#moveup-summary").inner_text().lower()
    # Drawn on the map: one dashed line per recommended move.
    assert page.evaluate("window.pscConsole.moveUp.lineCount()") == len(plan["moves"])
    shoot(page, "console-moveup")

    requests_before = page.evaluate("window.pscConsole.moveUp.requests")
    apply = row.locator('[data-action="apply-move"]')
    assert apply.inner_text() == "Terapkan"
    apply.click()

    moved_id = first["unit"]["id"]
    station = wait_until(
        lambda: (
            (api.get(f"/api/v1/units/{moved_id}/").json()["station"] or {}).get("id")
            == first["to_station"]["id"]
        ),
        what="the unit's post changed",
    )
    assert station
    # The applied move leaves the panel, and the panel asks for the plan again (with the unit at its new post).
    page.locator(f'#moveup-list .move[data-unit="{moved_id}"]').wait_for(state="detached", timeout=5_000)
    page.wait_for_function(f"window.pscConsole.moveUp.requests > {requests_before}", timeout=5_000)
    after = api.get("/api/v1/moveup/").json()
    assert after["coverage"] > plan["coverage"]
    page.wait_for_function(
        f"document.querySelectorAll('#moveup-list .move').length === {len(after['moves'])}", timeout=5_000
    )
    assert page.locator("#moveup-error").is_hidden()
    # The unit board shows the new post too.
    page.locator(f'#units .unit[data-id="{moved_id}"] .post', has_text=first["to_station"]["name"]).wait_for(
        timeout=5_000
    )
    assert Unit.objects.get(pk=moved_id).station_id == first["to_station"]["id"]
    assert moved_id in {u.pk for u in units}
    assert problems == []
    context.close()


def test_a_move_that_can_no_longer_be_applied_shows_the_conflict_and_the_recommendations_refresh(
    stack, browser, login_page, token_for, transactional_db
):
    malang_regions()
    centre = post(*SAIFUL_ANWAR)
    post(*KENDALKEREP)
    post(*JANTI)
    unit_at_post("PSC-C1", centre)
    unit_at_post("PSC-C2", centre)
    UserFactory(username="disp-conflict", role=Role.DISPATCHER)
    context = browser.new_context(viewport=DESK)
    page, problems = open_console(login_page, context, "disp-conflict")
    row = page.locator("#moveup-list .move").first
    row.wait_for(timeout=10_000)
    unit_id = int(row.get_attribute("data-unit") or 0)
    # The console's next look at the plan fails, so the row stays on screen while, meanwhile, the unit goes
    # out of service (the crew's tap): the move is no longer possible, and the server says 409.
    page.route(
        "**/api/v1/moveup/",
        lambda route: route.continue_() if route.request.method == "POST" else route.fulfill(status=503),
    )
    answer = stack.client(token_for(Role.DISPATCHER)).post(
        f"/api/v1/units/{unit_id}/status/", json={"status": "out_of_service"}
    )
    assert answer.status_code == 200, answer.text
    row.locator('[data-action="apply-move"]').click()
    error = page.locator("#moveup-error")
    error.wait_for(state="visible", timeout=5_000)
    call_sign = Unit.objects.get(pk=unit_id).call_sign
    assert error.inner_text() == (f"Unit {call_sign} tidak lagi bebas: rekomendasi sedang diperbarui."), (
        error.inner_text()
    )
    assert Unit.objects.get(pk=unit_id).station.name == SAIFUL_ANWAR[0]
    page.unroute("**/api/v1/moveup/")
    page.evaluate("window.pscConsole.moveUp.refresh()")
    page.locator(f'#moveup-list .move[data-unit="{unit_id}"]').wait_for(state="detached", timeout=5_000)
    assert [p for p in problems if "503" not in p and "409" not in p] == []
    context.close()


# --- Emergency departments -------------------------------------------------------------------------------


def test_a_hospital_status_change_through_the_api_appears_on_the_console_without_a_reload(
    stack, browser, login_page, token_for, transactional_db
):
    saiful = HospitalFactory(name="RSUD Dr. Saiful Anwar", ed_status="open")
    lavalette = HospitalFactory(name="RS Lavalette", ed_status="open", lat=-7.9700, lon=112.6400)
    HospitalFactory(name="RS Tanpa IGD", has_emergency_department=False)
    unit_at_post("PSC-H1", post(*POLOWIJEN))
    UserFactory(username="disp-hospital", role=Role.DISPATCHER)
    context = browser.new_context(viewport=DESK)
    page, problems = open_console(login_page, context, "disp-hospital")
    board = page.locator("#hospitals")
    assert board.locator("h2").inner_text().lower() == "igd rumah sakit"
    row = board.locator(f'.hospital[data-hospital="{saiful.pk}"]')
    row.wait_for(timeout=5_000)
    assert row.get_attribute("data-status") == "open"
    assert board.locator(".hospital").count() == 2, "only hospitals with an emergency department"
    assert page.locator(".mk-hospital").count() == 0, "open departments are not marked on the map"
    page.evaluate("window.__notReloaded = true")

    answer = stack.client(token_for(Role.DISPATCHER)).post(
        f"/api/v1/hospitals/{saiful.pk}/status/", json={"ed_status": "diversion"}
    )
    assert answer.status_code == 200, answer.text

    board.locator(f'.hospital[data-hospital="{saiful.pk}"][data-status="diversion"]').wait_for(timeout=3_000)
    changed = board.locator(f'.hospital[data-hospital="{saiful.pk}"]')
    assert "is-changed" in (changed.get_attribute("class") or "")
    assert "Pengalihan" in changed.inner_text()
    assert "diubah" in changed.inner_text()
    assert board.locator(".hospital").first.get_attribute("data-hospital") == str(saiful.pk), (
        "a department on diversion is listed first"
    )
    assert "1 pengalihan" in board.locator("#hospitals-count").inner_text()
    page.locator(".mk-hospital.ed-diversion").wait_for(timeout=3_000)
    assert board.locator(f'.hospital[data-hospital="{lavalette.pk}"]').get_attribute("data-status") == "open"
    assert page.evaluate("window.__notReloaded") is True
    shoot(page, "console-hospitals")

    # The dispatcher opens it again from the console itself.
    board.locator(f'.hospital[data-hospital="{saiful.pk}"] select').select_option("open")
    board.locator(f'.hospital[data-hospital="{saiful.pk}"][data-status="open"]').wait_for(timeout=3_000)
    reader = stack.client(token_for(Role.SUPERVISOR))
    wait_until(
        lambda: (
            {h["id"]: h["ed_status"] for h in reader.get("/api/v1/hospitals/").json()}[saiful.pk] == "open"
        ),
        what="the hospital is open again",
    )
    # On a small phone the console's panels stack: nothing wider than the screen, the departments reachable.
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > 361)"
        ".slice(0, 8).map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"
    )
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"], wide
    board.scroll_into_view_if_needed()
    assert board.locator(f'.hospital[data-hospital="{saiful.pk}"]').is_visible()
    shoot(page, "console-phone")
    assert problems == []
    context.close()


# --- Pre-emption ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def preempt_stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Stack]:
    """A stack whose policy lets a priority-1 call take a unit on its way to a priority-3 one."""
    with stack_running(
        django_db_blocker,
        tmp_path_factory,
        "e2e-preempt",
        {"DISPATCH_PREEMPT_SAVING_SECONDS": str(PREEMPT_SAVING_SECONDS)},
    ) as running:
        yield running


def login_to(stack: Stack, context, username: str, next_url: str):
    page = context.new_page()
    page.goto(f"{stack.base_url}/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", "pass-1234")
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def test_a_pre_emption_is_shown_on_the_console_with_both_incidents_and_on_the_crew_phone(
    stack, preempt_stack, browser, token_for, transactional_db
):
    unit = unit_at_post("PSC-P1", post(*POLOWIJEN))
    UserFactory(username="crew-psc-p1", role=Role.CREW, unit=unit)
    UserFactory(username="disp-preempt", role=Role.DISPATCHER)
    calltaker = preempt_stack.client(token_for(Role.CALL_TAKER))
    console_context = browser.new_context(viewport=DESK)
    console = login_to(preempt_stack, console_context, "disp-preempt", "/console/")
    problems = watch(console)
    console.wait_for_selector('#link-state[data-state="online"]', timeout=10_000)
    phone_context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    phone = login_to(preempt_stack, phone_context, "crew-psc-p1", "/crew/")
    phone.wait_for_selector("#link[data-state=online]", timeout=10_000)

    green = _call(calltaker, priority=3, complaint="keseleo di rumah", lat=-7.9400, lon=112.6450)
    phone.wait_for_selector("#job:not([hidden])", timeout=5_000)
    assert phone.get_attribute("#priority", "data-priority") == "3"
    assert phone.locator("#diverted-notice").is_hidden()

    red = _call(calltaker, priority=1, complaint="henti jantung", lat=-7.9500, lon=112.6350)

    notice = console.locator('#alert-list .alert[data-code="preempted"]')
    notice.wait_for(timeout=5_000)
    console.wait_for_timeout(500)  # both halves of the pre-emption have arrived
    assert notice.count() == 1, "one notice for one pre-emption"
    text = notice.locator(".alert-text").inner_text()
    assert text == (
        f"Unit PSC-P1 diambil dari kejadian prioritas 3 {green['number']} untuk kejadian prioritas 1 "
        f"{red['number']}; {green['number']} kembali ke antrean."
    ), text
    assert notice.locator(".alert-code").inner_text().lower() == "unit dialihkan"
    # The priority-3 incident waits in the queue again, marked as such.
    queued = console.locator("#queue .inc", has_text="keseleo di rumah")
    queued.locator(".chip.preempted").wait_for(timeout=5_000)
    assert queued.locator(".chip.preempted").inner_text() == "Unit dialihkan ke P1"
    console.locator("#queue .inc", has_text="henti jantung").locator(".chip", has_text="PSC-P1").wait_for(
        timeout=5_000
    )
    # The queue says why the priority-3 incident waits again; the console says there is nothing to move.
    console.locator("#moveup-summary", has_text="Tidak ada unit siaga").wait_for(timeout=5_000)
    notice.locator("[data-show]", has_text="P3").click()
    console.locator("#detail-body .assignment", has_text="dialihkan ke kejadian prioritas 1").wait_for(
        timeout=3_000
    )
    shoot(console, "console-preempted")

    # The crew's phone shows the red job, and says which job it was taken off.
    phone.wait_for_selector('#priority[data-priority="1"]', timeout=5_000)
    diverted = phone.locator("#diverted-notice")
    diverted.wait_for(state="visible", timeout=3_000)
    assert green["number"] in diverted.inner_text()
    assert "Dialihkan" in diverted.inner_text()
    assert phone.text_content("#complaint") == "henti jantung"
    shoot(phone, "crew-diverted")
    # A phone that opens afresh (nothing kept on it, a new snapshot) says it too.
    fresh_context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    fresh = login_to(preempt_stack, fresh_context, "crew-psc-p1", "/crew/")
    fresh.wait_for_selector('#priority[data-priority="1"]', timeout=10_000)
    fresh.locator("#diverted-notice").wait_for(state="visible", timeout=3_000)
    assert green["number"] in fresh.locator("#diverted-notice").inner_text()
    fresh_context.close()

    # Acknowledging the notice takes both halves off every console.
    notice.locator("[data-acknowledge]").click()
    notice.wait_for(state="detached", timeout=3_000)
    open_alerts = preempt_stack.client(token_for(Role.DISPATCHER)).get("/api/v1/alerts/").json()
    assert [a for a in open_alerts if a["data"]["code"] == "preempted"] == []
    assert problems == []
    console_context.close()
    phone_context.close()


def _call(client: httpx.Client, *, priority: int, complaint: str, lat: float, lon: float) -> dict[str, Any]:
    body = {"caller_phone": "0812-3456-7000", "complaint": complaint, "priority": priority,
            "location": {"lat": lat, "lon": lon}, "address": "Jl. Contoh"}  # fmt: skip
    answer = client.post("/api/v1/calls/", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["incident"]


# --- Posting plan -------------------------------------------------------------------------------------------


def test_the_posting_page_shows_the_plan_against_today_as_a_table_and_on_the_map_in_indonesian(
    stack, browser, login_page, token_for, transactional_db
):
    malang_regions()
    north = post(*POLOWIJEN)
    post(*RSUD_KOTA)
    post(*JANTI)
    for i in (1, 2, 3, 4):
        unit_at_post(f"PSC-R{i}", north)
    resting = UnitFactory(call_sign="PSC-R5", station=north, status="out_of_service")
    UserFactory(username="disp-posting", role=Role.DISPATCHER)
    context = browser.new_context(viewport=DESK)
    console, problems = open_console(login_page, context, "disp-posting")
    console.locator(".screens-nav a", has_text="Rencana penempatan").click()
    console.wait_for_url("**/posting/**")
    page = console
    assert page.locator("html").get_attribute("lang") == "id"
    assert page.locator("#units-input").input_value() == "4", "the units in service by default"
    rows = page.locator("#posts-body tr.site")
    rows.first.wait_for(timeout=30_000)

    expected = stack.client(token_for(Role.SUPERVISOR)).get("/api/v1/posting-plan/?units=4").json()
    sites = {
        (p["site"]["kind"], p["site"]["id"]) for side in ("plan", "current") for p in expected[side]["posts"]
    }
    assert rows.count() == len(sites)
    assert page.locator(".mk-post").count() == len(sites)
    planned = sum(int(rows.nth(i).locator("td.plan").inner_text()) for i in range(rows.count()))
    today = sum(int(rows.nth(i).locator("td.current").inner_text()) for i in range(rows.count()))
    assert (planned, today) == (4, 4)
    north_row = page.locator("#posts-body tr", has_text=POLOWIJEN[0])
    assert north_row.locator("td.current").inner_text() == "4"
    headers = page.locator("#posts-table thead th").all_inner_texts()
    assert [h.strip().lower() for h in headers] == ["pos", "rencana", "hari ini", "selisih"]
    figures = page.locator("#posting-figures").inner_text()
    assert "Cakupan yang diharapkan" in figures
    assert page.locator("#kecamatan-body tr").count() == len(expected["kecamatan"])
    page.locator("#kecamatan-body tr", has_text="Kedungkandang").wait_for()
    assert page.locator("#posting-status").inner_text() == "Rencana untuk 4 unit."
    shoot(page, "posting")

    page.fill("#units-input", "2")
    page.click("#posting-submit")
    page.wait_for_selector("#posting-status:has-text('Rencana untuk 2 unit.')", timeout=30_000)
    planned = sum(int(rows.nth(i).locator("td.plan").inner_text()) for i in range(rows.count()))
    assert planned == 2
    assert page.url.endswith("/posting/?units=2")

    # A unit back in service changes today's posting: the page says so, live.
    answer = stack.client(token_for(Role.DISPATCHER)).post(
        f"/api/v1/units/{resting.pk}/status/", json={"status": "available"}
    )
    assert answer.status_code == 200, answer.text
    page.wait_for_selector("#posting-status:has-text('Penempatan hari ini berubah')", timeout=5_000)

    page.fill("#units-input", "0")
    page.click("#posting-submit")
    assert "1 sampai" in page.locator("#posting-status").inner_text()
    assert page.locator("#units-input").get_attribute("aria-invalid") == "true"

    # On a small phone the page is one column: nothing wider than the screen, the table still there.
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
    assert page.locator("#posts-table").is_visible()
    shoot(page, "posting-phone")
    assert problems == []
    context.close()


def test_the_posting_page_is_for_dispatchers_and_supervisors_only(stack, token_for, transactional_db):
    UserFactory(username="ct-posting", role=Role.CALL_TAKER)
    UserFactory(username="sv-posting", role=Role.SUPERVISOR)
    for username, expected in (("ct-posting", 403), ("sv-posting", 200)):
        with httpx.Client(base_url=stack.base_url, follow_redirects=True) as client:
            login = client.get("/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
            assert token
            client.post(
                "/login/",
                data={"username": username, "password": "pass-1234", "csrfmiddlewaretoken": token.group(1)},
                headers={"Referer": f"{stack.base_url}/login/"},
            )
            answer = client.get("/posting/")
            assert answer.status_code == expected, (username, answer.status_code)
            if expected == 200:
                csp = answer.headers["Content-Security-Policy"]
                assert "script-src 'self'" in csp
                assert "<script>" not in answer.text
    with httpx.Client(base_url=stack.base_url) as anonymous:
        assert anonymous.get("/posting/").status_code == 302
