"""Background Sync on the crew's phone: taps made in a dead spot reach the control room when the network returns,
though the crew closed the app meanwhile (headless Chromium, the service worker woken through DevTools)."""

from __future__ import annotations

import time

import pytest

from accounts.models import Role
from dispatch.models import Assignment
from tests.e2e.test_crew_app import CALL, _crew, _outbox, _phone
from tests.e2e.test_crew_push import PushDelivery

pytestmark = [pytest.mark.e2e]


def test_taps_made_offline_are_sent_by_the_service_worker_after_the_app_was_closed(
    stack, browser, login_page, token_for
):
    _unit, user = _crew("PSC-BS1")
    calltaker = stack.client(token_for(Role.CALL_TAKER))
    context, page = _phone(browser, login_page, user.username)
    page.wait_for_function("navigator.serviceWorker.controller?.state === 'activated'", timeout=10_000)
    assert calltaker.post("/api/v1/calls/", json=CALL).status_code == 201
    page.wait_for_selector("#actions .btn-primary[data-action=acknowledged]", timeout=5_000)
    assignment_id = int(page.get_attribute("body", "data-assignment"))

    context.set_offline(True)
    page.wait_for_selector("#link[data-state=offline]")
    for count, action in enumerate(["acknowledged", "en_route"], start=1):
        page.tap(f"#actions button[data-action={action}]")
        page.wait_for_selector(f"#outbox-badge[data-count='{count}']")
        time.sleep(0.5)  # taps apart, so each keeps its own time
    taps = [item["body"] for item in _outbox(page) if item["kind"] == "assignment"]
    assert [t["status"] for t in taps] == ["acknowledged", "en_route"]
    assert Assignment.objects.get(pk=assignment_id).status == "assigned"

    # Back online with the app still open, but its own requests held up: the worker leaves the outbox to the app.
    page.route("**/api/v1/assignments/*/status/", lambda route: route.abort("connectionreset"))
    context.set_offline(False)
    worker = PushDelivery(context, stack)  # a tab outside the app's scope, holding the DevTools session

    def wake() -> None:
        # The browser wakes the worker when the network returns; DevTools does it now, as the browser would.
        worker.cdp.send(
            "ServiceWorker.dispatchSyncEvent",
            {"origin": worker.origin, "registrationId": worker.registration_id, "tag": f"outbox:{user.username}",
             "lastChance": False},
        )  # fmt: skip

    wake()
    worker.tab.wait_for_timeout(2_000)
    assert Assignment.objects.get(pk=assignment_id).status == "assigned"
    assert len(_outbox(worker.tab)) == 2

    page.close()  # the crew pockets the phone: the app is gone, only its service worker is left
    # The browser tries a failed sync again later (the closing window may still count as open for a moment);
    # DevTools stands in for those retries, every 2 s.
    deadline = time.monotonic() + 15
    woken = 0.0
    while (assignment := Assignment.objects.get(pk=assignment_id)).status != "en_route":
        assert time.monotonic() < deadline, (
            f"the waiting taps were never sent: {assignment.status}\n{stack.logs()}"
        )
        if time.monotonic() - woken > 2:
            wake()
            woken = time.monotonic()
        worker.tab.wait_for_timeout(200)
    # Applied with the times they were made, not when the network came back.
    assert assignment.acknowledged_at.isoformat(timespec="milliseconds") == taps[0]["at"].replace(
        "Z", "+00:00"
    )
    assert assignment.en_route_at.isoformat(timespec="milliseconds") == taps[1]["at"].replace("Z", "+00:00")
    assert _outbox(worker.tab) == []  # each removed once the server took it
    context.close()
