"""Web Push on the crew's phone, on the real stack in headless Chromium: a job pushed while the app is not in front
shows as a notification. Only the push service is stood in: the DevTools protocol hands the service worker a push
message as the browser's push service would, and a server on 127.0.0.1 takes what our worker sends it."""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from accounts.models import PushSubscription, Role
from dispatch.models import Assignment
from tests.e2e.conftest import stack_running
from tests.e2e.stack import Stack
from tests.e2e.test_crew_app import CALL, _crew, _phone

pytestmark = [pytest.mark.e2e]

SCOPE = "/crew/"
JOB = {
    "type": "assignment.created",
    "assignment": 4711,
    "incident": {"id": 12, "number": "119-0012", "priority": 1},
    "title": "Tugas baru: prioritas 1",
    "body": "119-0012 · Kauman, Klojen",
}
NOTIFICATIONS = """async (scope) => {
    const registration = await navigator.serviceWorker.getRegistration(scope);
    return (await registration.getNotifications()).map((n) => ({
        title: n.title, body: n.body, tag: n.tag, requireInteraction: n.requireInteraction,
    }));
}"""


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Stack]:
    """This module's stack (`login_page` logs in to it): the usual one, allowed to push to a service on 127.0.0.1."""
    env = {"WEBPUSH_PUSH_HOSTS": "127.0.0.1", "WEBPUSH_REQUIRE_HTTPS": "false"}
    with stack_running(django_db_blocker, tmp_path_factory, "e2e-push", env) as running:
        yield running


class PushDelivery:
    """The browser's push service, as the DevTools protocol offers it: a message delivered to the crew app's service
    worker as a push event. Its session lives in a tab of its own, which also reads the notifications shown."""

    def __init__(self, context: Any, stack: Stack) -> None:
        self.origin = stack.base_url
        self.tab = context.new_page()
        # Same origin, outside the app's scope: never one of the windows the service worker looks at.
        self.tab.goto(f"{stack.base_url}/healthz")
        self.cdp = context.new_cdp_session(self.tab)
        registrations: list[dict[str, Any]] = []
        self.cdp.on(
            "ServiceWorker.workerRegistrationUpdated",
            lambda event: registrations.extend(event["registrations"]),
        )
        self.cdp.send("ServiceWorker.enable")
        scope = f"{stack.base_url}{SCOPE}"
        deadline = time.monotonic() + 10
        while not (found := [r for r in registrations if r["scopeURL"] == scope and not r["isDeleted"]]):
            assert time.monotonic() < deadline, f"no service worker for {scope}: {registrations}"
            # Playwright hands the session's events over only while it is called.
            self.tab.wait_for_timeout(50)
        self.registration_id = found[-1]["registrationId"]

    def deliver(self, data: str) -> None:
        self.cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": self.origin, "registrationId": self.registration_id, "data": data},
        )

    def shown(self) -> list[dict[str, Any]]:
        return self.tab.evaluate(NOTIFICATIONS, SCOPE)

    def wait_shown(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while not (shown := self.shown()):
            assert time.monotonic() < deadline, f"no notification shown in {timeout}s"
            self.tab.wait_for_timeout(100)
        return shown

    def assert_none_shown_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.shown() == []
            self.tab.wait_for_timeout(100)


class PushServiceStandIn:
    """A push service on 127.0.0.1 that keeps what it is sent, and the browser's keys its messages are sealed for."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        received: queue.Queue[tuple[str, dict[str, str], bytes]] = queue.Queue()
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.put((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def subscription(self) -> dict[str, Any]:
        """What the browser's `PushSubscription.toJSON()` would give for a subscription with this service."""
        public = self.key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {
            "endpoint": f"{self.origin}/push/x",
            "expirationTime": None,
            "keys": {"p256dh": _b64url(public), "auth": _b64url(self.auth)},
        }

    def decrypt(self, body: bytes) -> str:
        return http_ece.decrypt(
            body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"
        ).decode()


@pytest.fixture
def push_service() -> Iterator[PushServiceStandIn]:
    service = PushServiceStandIn()
    yield service
    service.server.shutdown()
    service.server.server_close()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _vapid(headers: dict[str, str]) -> tuple[dict[str, Any], str]:
    """The claims of the sender's VAPID token, its signature checked, and the key it names (RFC 8292's
    `vapid t=…, k=…`, or draft 01's `WebPush …` with the key in Crypto-Key)."""
    if rfc := re.fullmatch(r"vapid t=([^,\s]+),\s*k=([\w-]+)", headers["authorization"]):
        token, key = rfc[1], rfc[2]
    else:
        token = re.fullmatch(r"WebPush (\S+)", headers["authorization"])[1]
        key = re.search(r"p256ecdsa=([\w-]+)", headers["crypto-key"])[1]
    head, claims, signature = token.split(".")
    raw = _unb64url(signature)
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64url(key))
    public.verify(
        encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:])),
        f"{head}.{claims}".encode(),
        ec.ECDSA(hashes.SHA256()),
    )  # raises InvalidSignature
    return json.loads(_unb64url(claims)), key


def _push_phone(browser, login_page, username: str):
    """A crew phone on /crew/ whose crew allowed notifications, the app's service worker in control."""
    context, page = _phone(browser, login_page, username)
    context.grant_permissions(["notifications"])
    page.wait_for_function("navigator.serviceWorker.controller?.state === 'activated'", timeout=10_000)
    return context, page


def _subscribed_with(push_service: PushServiceStandIn, context, page) -> dict[str, Any]:
    """The phone subscribed with the stand-in, as the app hands it in each time it opens with notifications allowed.
    Headless Chromium has no push service to subscribe with: the subscription it would give is the stand-in's."""
    subscription = push_service.subscription()
    context.add_init_script(
        f"""(() => {{
            const subscription = {json.dumps(subscription)};
            const given = {{ endpoint: subscription.endpoint, toJSON: () => subscription, unsubscribe: async () => true }};
            PushManager.prototype.getSubscription = async () => given;
        }})();"""
    )
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/crew/push/") and r.request.method == "POST", timeout=10_000
    ) as handed_in:
        page.reload()
    assert handed_in.value.status == 201, handed_in.value.text()
    assert handed_in.value.request.post_data_json == subscription
    return subscription


def _to_background(page, front) -> None:
    """The app stays open behind another tab. Playwright tells every page that it has the focus; headless Chromium
    (no window to focus) otherwise never gives it, so without that the app is not in front."""
    front.bring_to_front()
    page.context.new_cdp_session(page).send("Emulation.setFocusEmulationEnabled", {"enabled": False})
    page.wait_for_function("!document.hasFocus()", timeout=5_000)


def test_a_job_pushed_while_the_app_is_behind_another_tab_shows_as_a_notification_tagged_with_the_job(
    stack, browser, login_page, transactional_db
):
    _unit, user = _crew("PSC-PU1")
    context, page = _push_phone(browser, login_page, user.username)
    push = PushDelivery(context, stack)
    _to_background(page, push.tab)

    push.deliver(json.dumps(JOB))
    [shown] = push.wait_shown()
    assert shown == {
        "title": JOB["title"],
        "body": JOB["body"],
        "tag": "assignment-4711",  # the app's own notification of this job is the same one
        "requireInteraction": True,  # stays on the screen until the crew takes it in
    }
    context.close()


def test_a_job_pushed_while_the_app_is_in_front_shows_no_notification_the_open_app_rings(
    stack, browser, login_page, transactional_db
):
    _unit, user = _crew("PSC-PU2")
    context, page = _push_phone(browser, login_page, user.username)
    push = PushDelivery(context, stack)
    page.bring_to_front()
    page.wait_for_function("document.hasFocus() && document.visibilityState === 'visible'", timeout=5_000)

    push.deliver(json.dumps(JOB))
    push.assert_none_shown_for(2.0)

    # The same phone, the app now closed: the next job shows, so the worker was there and passed the first. The
    # worker may still count the closing window among its clients for a moment: the push is sent again until then.
    page.close()
    shown: list[dict[str, Any]] = []
    for _attempt in range(5):
        push.deliver(json.dumps({**JOB, "assignment": 4712}))
        try:
            shown = push.wait_shown(timeout=2.0)
        except AssertionError:
            continue
        break
    assert [n["tag"] for n in shown] == ["assignment-4712"]
    context.close()


def test_a_push_that_is_not_json_still_shows_a_generic_notification_with_the_app_closed(
    stack, browser, login_page, transactional_db
):
    _unit, user = _crew("PSC-PU3")
    context, page = _push_phone(browser, login_page, user.username)
    push = PushDelivery(context, stack)
    page.close()  # the crew swiped the app away: only its service worker is woken

    push.deliver("<html>not a job</html>")
    # Always one of ours, so the browser never puts its "updated in the background" in its place.
    [shown] = push.wait_shown()
    assert shown == {"title": "PSC 119", "body": "", "tag": "psc119-job", "requireInteraction": True}
    context.close()


def test_a_call_sends_the_crew_phone_a_sealed_push_without_the_callers_details_and_the_phone_shows_it(
    stack, browser, login_page, token_for, push_service, transactional_db
):
    _unit, user = _crew("PSC-PU4")
    context, page = _push_phone(browser, login_page, user.username)
    _subscribed_with(push_service, context, page)
    page.wait_for_selector("#link[data-state=online]", timeout=10_000)

    calltaker = stack.client(token_for(Role.CALL_TAKER))
    assert calltaker.post("/api/v1/calls/", json=CALL).status_code == 201
    page.wait_for_selector("#job:not([hidden])", timeout=5_000)
    assignment_id = int(page.get_attribute("body", "data-assignment"))

    try:
        path, headers, body = push_service.received.get(timeout=15)
    except queue.Empty:
        pytest.fail(f"the worker pushed nothing in 15 s\n{stack.logs()}")
    assert path == "/push/x"
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["urgency"] == "high"
    assert headers["topic"] == f"assignment-{assignment_id}"
    assert int(headers["ttl"]) > 0
    claims, signed_with = _vapid(headers)
    assert signed_with == page.get_attribute("body", "data-push-key")  # the key the phone subscribed with
    assert claims["aud"] == push_service.origin
    plain = push_service.decrypt(body)
    # The push service and the lock screen see the job's number, priority and place, never the caller.
    for secret in (CALL["caller_phone"], "081234567890", "6281234567890", CALL["complaint"], CALL["address"]):
        assert secret not in plain, f"the push carries the caller's details: {plain}"
    message = json.loads(plain)
    assert set(message) == {"type", "assignment", "incident", "title", "body"}
    incident = Assignment.objects.select_related("incident").get(pk=assignment_id).incident
    assert message["type"] == "assignment.created"
    assert message["assignment"] == assignment_id
    assert message["incident"] == {"id": incident.pk, "number": incident.number, "priority": 1}
    assert message["body"].startswith(incident.number)

    push = PushDelivery(context, stack)
    _to_background(page, push.tab)
    push.deliver(plain)
    [shown] = push.wait_shown()
    assert shown == {
        "title": message["title"],
        "body": message["body"],
        "tag": f"assignment-{assignment_id}",
        "requireInteraction": True,
    }
    context.close()


def test_logging_out_withdraws_the_phones_subscription_before_the_session_ends(
    stack, browser, login_page, push_service, transactional_db
):
    _unit, user = _crew("PSC-PU5")
    context, page = _push_phone(browser, login_page, user.username)
    subscription = _subscribed_with(push_service, context, page)
    assert PushSubscription.objects.filter(user=user).exists()

    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/crew/push/withdraw/"), timeout=10_000
    ) as withdrawn:
        page.evaluate("document.getElementById('logout-form').requestSubmit()")
    assert withdrawn.value.status == 204
    assert withdrawn.value.request.post_data_json == {"endpoint": subscription["endpoint"]}
    page.wait_for_url("**/logout/", timeout=10_000)
    assert not PushSubscription.objects.filter(user=user).exists()
    context.close()
