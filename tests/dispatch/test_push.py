"""Web Push to the crew's phones: the subscription API, what is sent (encrypted, signed) and when, and enqueueing.

The push service is the outside world: a real HTTP server on 127.0.0.1 stands in for it. The browser side is
real too: its own P-256 key pair and auth secret, and the message is decrypted with them as the phone would."""

import base64
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import http_ece
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import PushSubscription, Role, User
from dispatch import push, services, tasks
from dispatch.models import Assignment
from fleet.models import Unit
from geo.points import LatLon
from tests.api.contract import assert_error
from tests.factories import CENTRE, UnitFactory, UserFactory, kelurahan

pytestmark = pytest.mark.django_db

URL = "/api/v1/crew/push/"
WITHDRAW = "/api/v1/crew/push/withdraw/"
FCM = "https://fcm.googleapis.com/fcm/send/"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- The browser and the push service ---------------------------------------------------------------


@dataclass
class Browser:
    """A browser's side of a subscription: the key pair and the auth secret the message is encrypted for."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: secrets.token_bytes(16))

    def keys(self) -> dict[str, str]:
        point = self.key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"p256dh": b64url(point), "auth": b64url(self.auth)}

    def subscription(self, endpoint: str) -> dict[str, Any]:
        """What `PushSubscription.toJSON()` gives."""
        return {"endpoint": endpoint, "expirationTime": None, "keys": self.keys()}

    def read(self, body: bytes) -> str:
        return http_ece.decrypt(
            body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"
        ).decode()


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names in lower case: HTTP's are case-insensitive
    body: bytes


@dataclass
class PushService:
    """A push service (RFC 8030) on 127.0.0.1: records every POST, answers 201 unless told otherwise by path."""

    origin: str
    received: list[Received] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)

    def endpoint(self, token: str) -> str:
        return f"{self.origin}/push/{token}"


@pytest.fixture
def push_service(settings) -> Iterator[PushService]:
    """The stand-in push service, running, and allowed as a push host over plain http."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            service.received.append(Received(self.path, headers, body))
            self.send_response(service.answers.get(self.path, 201))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service = PushService(origin=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.WEBPUSH = {**settings.WEBPUSH, "PUSH_HOSTS": ["127.0.0.1"], "REQUIRE_HTTPS": False}
    yield service
    server.shutdown()
    server.server_close()
    thread.join()


def crew_member(unit: Unit, **fields: Any) -> User:
    return cast(User, UserFactory(role=Role.CREW, unit=unit, **fields))


def new_unit() -> Unit:
    return cast(Unit, UnitFactory())


def subscribe(user: User, endpoint: str, browser: Browser | None = None) -> PushSubscription:
    keys = (browser or Browser()).keys()
    return PushSubscription.objects.create(user=user, endpoint=endpoint, **keys)


def post(client: APIClient, body: Any) -> Any:
    return client.post(URL, body, format="json")


# --- Subscribing ----------------------------------------------------------------------------------


def test_a_crew_phone_subscribes_and_the_same_endpoint_again_replaces_its_keys(crew):
    endpoint = FCM + "abc123"
    first = post(crew, Browser().subscription(endpoint))
    renewed = Browser()
    again = post(crew, renewed.subscription(endpoint))

    assert (first.status_code, first.json()) == (201, {"endpoint": endpoint})
    assert (again.status_code, again.json()) == (200, {"endpoint": endpoint})
    stored = PushSubscription.objects.get()
    assert (stored.user, stored.endpoint) == (crew.user, endpoint)
    assert (stored.p256dh, stored.auth) == (renewed.keys()["p256dh"], renewed.keys()["auth"])
    assert stored.sent_at is None


def test_another_crew_user_giving_the_same_endpoint_takes_it_over(make_client, crew):
    endpoint = FCM + "shared-phone"
    post(crew, Browser().subscription(endpoint))
    other = make_client(Role.CREW, unit=new_unit())

    answer = post(other, Browser().subscription(endpoint))

    assert answer.status_code == 200
    assert list(PushSubscription.objects.values_list("endpoint", "user")) == [(endpoint, other.user.pk)]


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAAAB",
        "https://web.push.apple.com/QGuQyavXutnMH",
        "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAB",
    ],
)
def test_the_real_push_services_and_their_subdomains_are_taken(crew, endpoint):
    assert post(crew, Browser().subscription(endpoint)).status_code == 201
    assert PushSubscription.objects.get().endpoint == endpoint


def test_a_phone_unsubscribes_its_own_endpoint_and_never_anyone_elses(make_client, crew):
    own, others = FCM + "own", FCM + "others"
    post(crew, Browser().subscription(own))
    other = make_client(Role.CREW, unit=new_unit())
    post(other, Browser().subscription(others))

    gone = crew.post(WITHDRAW, {"endpoint": own}, format="json")
    refused = crew.post(WITHDRAW, {"endpoint": others}, format="json")

    assert (gone.status_code, refused.status_code) == (204, 204)
    assert list(PushSubscription.objects.values_list("endpoint", "user")) == [(others, other.user.pk)]


@pytest.mark.parametrize("role", [Role.CALL_TAKER, Role.DISPATCHER, Role.SUPERVISOR, Role.VIEWER])
def test_only_crews_subscribe(make_client, role):
    client = make_client(role)
    assert_error(post(client, Browser().subscription(FCM + "x")), 403)
    assert_error(client.post(WITHDRAW, {"endpoint": FCM + "x"}, format="json"), 403)
    assert not PushSubscription.objects.exists()


def test_nobody_subscribes_without_logging_in(db):
    anonymous = APIClient()
    assert_error(post(anonymous, Browser().subscription(FCM + "x")), 401)
    assert_error(anonymous.post(WITHDRAW, {"endpoint": FCM + "x"}, format="json"), 401)
    assert not PushSubscription.objects.exists()


def test_without_a_vapid_key_a_subscription_is_refused_as_push_off(crew, settings):
    settings.WEBPUSH = {**settings.WEBPUSH, "VAPID_PRIVATE_KEY": "off"}
    assert_error(post(crew, Browser().subscription(FCM + "x")), 409, code="push_off")
    assert not PushSubscription.objects.exists()


def test_a_broken_vapid_key_turns_push_off_and_nothing_else_fails(crew, settings, tmp_path):
    broken = tmp_path / "vapid.pem"
    broken.write_text("-----BEGIN EC PRIVATE KEY-----\nnot a key\n-----END EC PRIVATE KEY-----\n")
    settings.WEBPUSH = {**settings.WEBPUSH, "VAPID_PRIVATE_KEY": str(broken)}

    assert push.public_key() == ""
    assert push.subscribed(unit_id=crew.user.unit_id) is False
    assert_error(post(crew, Browser().subscription(FCM + "x")), 409, code="push_off")
    assert not PushSubscription.objects.exists()


def _with(**keys: str) -> dict[str, Any]:
    body = Browser().subscription(FCM + "x")
    body["keys"].update(keys)
    return body


def _without(key: str) -> dict[str, Any]:
    body = Browser().subscription(FCM + "x")
    del body["keys"][key]
    return body


def bad(body: dict[str, Any], *field_path: str, id: str) -> Any:
    return pytest.param(body, list(field_path), id=id)


@pytest.mark.parametrize(
    ("body", "field_path"),
    [
        bad(Browser().subscription("https://evil.example/x"), "endpoint", id="unknown-host"),
        bad(
            Browser().subscription("https://fcm.googleapis.com.evil.example/x"),
            "endpoint",
            id="suffixed-host",
        ),
        bad(Browser().subscription("https://notfcm.googleapis.com/x"), "endpoint", id="lookalike-host"),
        bad(
            Browser().subscription("https://fcm.googleapis.com@evil.example/x"),
            "endpoint",
            id="userinfo-trick",
        ),
        bad(Browser().subscription("http://fcm.googleapis.com/fcm/send/x"), "endpoint", id="plain-http"),
        bad(Browser().subscription("ftp://fcm.googleapis.com/x"), "endpoint", id="ftp"),
        bad(Browser().subscription("not a url"), "endpoint", id="not-a-url"),
        bad(Browser().subscription(FCM + "x" * 2048), "endpoint", id="2kb-endpoint"),
        bad({"keys": Browser().keys()}, "endpoint", id="no-endpoint"),
        bad({"endpoint": FCM + "x"}, "keys", id="no-keys"),
        bad(_without("p256dh"), "keys", "p256dh", id="no-p256dh"),
        bad(_without("auth"), "keys", "auth", id="no-auth"),
        bad(_with(p256dh=b64url(b"\x04" + bytes(63))), "keys", "p256dh", id="p256dh-64-bytes"),
        bad(_with(p256dh=b64url(b"\x02" + bytes(32))), "keys", "p256dh", id="p256dh-compressed"),
        bad(_with(p256dh=b64url(b"\x05" + bytes(64))), "keys", "p256dh", id="p256dh-not-uncompressed-form"),
        bad(_with(p256dh=b64url(b"\x04" + bytes(64))), "keys", "p256dh", id="p256dh-not-on-the-curve"),
        bad(_with(p256dh="%" * 87), "keys", "p256dh", id="p256dh-not-base64"),
        bad(_with(p256dh=""), "keys", "p256dh", id="p256dh-empty"),
        bad(_with(auth=b64url(bytes(15))), "keys", "auth", id="auth-15-bytes"),
        bad(_with(auth=b64url(bytes(32))), "keys", "auth", id="auth-32-bytes"),
        bad(_with(auth="***not*base64***"), "keys", "auth", id="auth-not-base64"),
    ],
)
def test_a_bad_subscription_is_refused_naming_the_field_and_nothing_is_stored(crew, body, field_path):
    error = assert_error(post(crew, body), 400, code="invalid")
    fields = error["fields"]
    for name in field_path:
        assert name in fields, error
        fields = fields[name]
    assert isinstance(fields, str)
    assert fields
    assert not PushSubscription.objects.exists()


def test_the_local_push_host_over_http_is_refused_while_https_is_required(crew, push_service, settings):
    settings.WEBPUSH = {**settings.WEBPUSH, "REQUIRE_HTTPS": True}
    error = assert_error(
        post(crew, Browser().subscription(push_service.endpoint("x"))), 400, field="endpoint"
    )
    assert set(error["fields"]) == {"endpoint"}
    assert not PushSubscription.objects.exists()


def test_the_crew_page_gives_the_servers_public_key_and_an_empty_one_when_push_is_off(unit, settings):
    client = APIClient()
    client.force_login(crew_member(unit))

    key = push.public_key()
    on = client.get("/crew/").content.decode()
    settings.WEBPUSH = {**settings.WEBPUSH, "VAPID_PRIVATE_KEY": "off"}
    off = client.get("/crew/").content.decode()

    raw = unb64url(key)
    assert (len(raw), raw[0]) == (65, 4)
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)  # a point on the curve
    assert re.search(r"<body\b[^>]*\bdata-push-key=\"" + re.escape(key) + '"', on)
    assert re.search(r"<body\b[^>]*\bdata-push-key=\"\"", off)


# --- Sending ----------------------------------------------------------------------------------------

# What the caller told 119: none of it may leave in a push message, which the push services can see around.
PHONE, NAME, COMPLAINT, ADDRESS = (
    "+6281299887766",
    "Bu Sulastri Wahyuningsih",
    "nyeri dada kiri",
    "Jl. Kawi 12A",
)


@dataclass
class Job:
    unit: Unit
    crew: User
    dispatcher: User

    def assign(self, priority: int = 1) -> Assignment:
        """A 119 call and the dispatcher's choice of this unit, through the real services."""
        recorded = services.call_record(
            user=self.dispatcher, priority=priority, location=LatLon(*CENTRE),
            caller_phone=PHONE, caller_name=NAME, complaint=COMPLAINT, address=ADDRESS,
        )  # fmt: skip
        return services.assignment_create(
            incident_id=recorded.incident.pk, unit_id=self.unit.pk, by=self.dispatcher
        )


@pytest.fixture
def job(db) -> Job:
    kelurahan("Kauman", 0.0, kecamatan="Klojen")
    unit = new_unit()
    return Job(unit=unit, crew=crew_member(unit), dispatcher=cast(User, UserFactory(role=Role.DISPATCHER)))


def _vapid(authorization: str) -> tuple[str, str]:
    """RFC 8292's `vapid t=<jwt>, k=<key>`: the token and the key."""
    match = re.fullmatch(r"vapid t=([\w.-]+),\s*k=([\w-]+)", authorization)
    assert match, authorization
    return match[1], match[2]


def _claims_verified(token: str, key: str) -> dict[str, Any]:
    """The JWT's claims, once its ES256 signature is verified against `key`."""
    header, claims, signature = token.split(".")
    assert json.loads(unb64url(header))["alg"] == "ES256"
    raw = unb64url(signature)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
    public.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    return json.loads(unb64url(claims))


def test_a_new_job_rings_the_crew_phone_encrypted_for_it_and_signed_by_the_server(
    job, push_service, settings
):
    settings.DISPATCH = {**settings.DISPATCH, "ACK_TIMEOUT_SECONDS": 45}
    assert settings.LANGUAGE_CODE == "id"
    browser = Browser()
    subscription = subscribe(job.crew, push_service.endpoint("phone-1"), browser)
    assignment = job.assign(priority=1)
    incident = assignment.incident
    before = timezone.now()

    assert push.assignment_push(assignment_id=assignment.pk) == 1

    [request] = push_service.received
    assert request.path == "/push/phone-1"
    assert request.headers["content-encoding"] == "aes128gcm"
    assert request.headers["ttl"] == "45"
    assert request.headers["urgency"] == "high"
    assert request.headers["topic"] == f"assignment-{assignment.pk}"

    token, key = _vapid(request.headers["authorization"])
    assert key == push.public_key()
    claims = _claims_verified(token, key)
    assert claims["aud"] == push_service.origin
    assert claims["sub"] == settings.WEBPUSH["SUBJECT"]
    assert claims["exp"] > time.time()

    text = browser.read(request.body)
    assert json.loads(text) == {
        "type": "assignment.created",
        "assignment": assignment.pk,
        "incident": {"id": incident.pk, "number": incident.number, "priority": 1},
        "title": "Tugas baru: prioritas 1",
        "body": f"{incident.number} · Kauman, Klojen",
    }
    for secret in (PHONE, "81299887766", NAME, "Sulastri", COMPLAINT, ADDRESS, "Kawi"):
        assert secret not in text
    subscription.refresh_from_db()
    assert subscription.sent_at is not None
    assert subscription.sent_at >= before


def test_the_message_is_someone_elses_to_read(job, push_service):
    subscribe(job.crew, push_service.endpoint("phone-1"))
    push.assignment_push(assignment_id=job.assign().pk)

    with pytest.raises(http_ece.ECEException):
        Browser().read(push_service.received[0].body)


def test_the_signature_is_checked_for_real(job, push_service):
    subscribe(job.crew, push_service.endpoint("phone-1"))
    push.assignment_push(assignment_id=job.assign().pk)

    token, _ = _vapid(push_service.received[0].headers["authorization"])
    stranger = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(InvalidSignature):
        _claims_verified(token, b64url(stranger.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)))


def test_an_english_speaking_crew_member_gets_the_title_in_english(job, push_service):
    job.crew.language = "en"
    job.crew.save(update_fields=["language"])
    browser = Browser()
    subscribe(job.crew, push_service.endpoint("phone-1"), browser)

    push.assignment_push(assignment_id=job.assign(priority=2).pk)

    assert json.loads(browser.read(push_service.received[0].body))["title"] == "New job: priority 2"


def test_every_phone_of_the_units_active_crew_rings_and_no_one_elses(job, push_service):
    partner = crew_member(job.unit)
    retired = crew_member(job.unit, is_active=False)
    elsewhere = crew_member(new_unit())
    for user, token in [
        (job.crew, "crew-phone"),
        (job.crew, "crew-tablet"),
        (partner, "partner"),
        (retired, "retired"),
        (elsewhere, "elsewhere"),
    ]:
        subscribe(user, push_service.endpoint(token))

    assert push.assignment_push(assignment_id=job.assign().pk) == 3

    assert sorted(r.path for r in push_service.received) == [
        "/push/crew-phone",
        "/push/crew-tablet",
        "/push/partner",
    ]
    rung = PushSubscription.objects.exclude(sent_at=None).values_list("endpoint", flat=True)
    assert sorted(rung) == sorted(push_service.endpoint(t) for t in ("crew-phone", "crew-tablet", "partner"))


def test_the_task_rings_the_phone_as_the_service_does(job, push_service):
    subscribe(job.crew, push_service.endpoint("phone-1"))
    assert tasks.push_assignment(job.assign().pk) == 1
    assert len(push_service.received) == 1


@pytest.mark.parametrize("gone", [404, 410])
def test_a_subscription_the_push_service_says_has_ended_is_forgotten(job, push_service, gone):
    ended = subscribe(job.crew, push_service.endpoint("ended"))
    push_service.answers["/push/ended"] = gone

    assert push.assignment_push(assignment_id=job.assign().pk) == 0

    assert len(push_service.received) == 1
    assert not PushSubscription.objects.filter(pk=ended.pk).exists()


def test_a_push_service_failing_keeps_the_subscription_and_raises_nothing(job, push_service):
    kept = subscribe(job.crew, push_service.endpoint("failing"))
    push_service.answers["/push/failing"] = 500

    assert push.assignment_push(assignment_id=job.assign().pk) == 0

    assert len(push_service.received) == 1
    kept.refresh_from_db()
    assert kept.sent_at is None


def test_one_phone_failing_does_not_stop_the_others(job, push_service):
    subscribe(job.crew, push_service.endpoint("ended"))
    subscribe(job.crew, push_service.endpoint("failing"))
    fine = subscribe(job.crew, push_service.endpoint("fine"))
    push_service.answers.update({"/push/ended": 410, "/push/failing": 503})

    assert push.assignment_push(assignment_id=job.assign().pk) == 1

    assert len(push_service.received) == 3
    left = dict(PushSubscription.objects.values_list("endpoint", "sent_at"))
    assert set(left) == {push_service.endpoint("failing"), fine.endpoint}
    assert left[fine.endpoint] is not None
    assert left[push_service.endpoint("failing")] is None


def test_an_unreachable_push_service_keeps_the_subscription_and_raises_nothing(job, push_service):
    with socket.socket() as probe:  # a port nobody listens on once this closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kept = subscribe(job.crew, f"http://127.0.0.1:{port}/push/nobody")

    assert push.assignment_push(assignment_id=job.assign().pk) == 0

    kept.refresh_from_db()
    assert kept.sent_at is None


@pytest.mark.parametrize("status", ["acknowledged", "declined", "cancelled"])
def test_nothing_rings_once_the_crew_has_answered_or_the_job_was_taken_back(job, push_service, status):
    subscribe(job.crew, push_service.endpoint("phone-1"))
    assignment = job.assign()
    services.assignment_transition(assignment_id=assignment.pk, status=status, by=job.crew)

    assert push.assignment_push(assignment_id=assignment.pk) == 0

    assert push_service.received == []


def test_a_deactivated_crew_members_phone_does_not_ring(job, push_service):
    subscribe(job.crew, push_service.endpoint("phone-1"))
    job.crew.is_active = False
    job.crew.save(update_fields=["is_active"])

    assert push.assignment_push(assignment_id=job.assign().pk) == 0

    assert push_service.received == []
    assert PushSubscription.objects.get().sent_at is None


def test_nothing_rings_when_push_is_off(job, push_service, settings):
    subscribe(job.crew, push_service.endpoint("phone-1"))
    assignment = job.assign()
    settings.WEBPUSH = {**settings.WEBPUSH, "VAPID_PRIVATE_KEY": "off"}

    assert push.assignment_push(assignment_id=assignment.pk) == 0

    assert push_service.received == []


def test_an_assignment_that_does_not_exist_rings_nothing(job, push_service):
    subscribe(job.crew, push_service.endpoint("phone-1"))
    assert push.assignment_push(assignment_id=10**9) == 0
    assert push_service.received == []


# --- Enqueueing ---------------------------------------------------------------------------------------


def _pushes(sent: list[tuple[str, tuple, str | None]]) -> list[tuple]:
    return [args for name, args, _ in sent if name == "push_assignment"]


def test_a_job_for_a_subscribed_crew_sends_the_push_task_after_commit(
    job, push_service, sent_tasks, sent_events, django_capture_on_commit_callbacks
):
    subscribe(job.crew, push_service.endpoint("phone-1"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assignment = job.assign()
    assert _pushes(sent_tasks()) == []  # nothing before commit

    for callback in callbacks:
        callback()
    sent = sent_tasks()

    assert _pushes(sent) == [(assignment.pk,)]
    assert ("expire_assignment", (assignment.pk,)) in [(name, args) for name, args, _ in sent]
    assert push_service.received == []  # the task sends, not the request


@pytest.mark.parametrize("why", ["no subscription", "crew deactivated", "another unit's crew", "push off"])
def test_no_push_task_is_sent_when_nobody_would_ring(
    job, push_service, sent_tasks, sent_events, django_capture_on_commit_callbacks, settings, why
):
    if why == "crew deactivated":
        subscribe(job.crew, push_service.endpoint("phone-1"))
        job.crew.is_active = False
        job.crew.save(update_fields=["is_active"])
    elif why == "another unit's crew":
        subscribe(crew_member(new_unit()), push_service.endpoint("elsewhere"))
    elif why == "push off":
        subscribe(job.crew, push_service.endpoint("phone-1"))
        settings.WEBPUSH = {**settings.WEBPUSH, "VAPID_PRIVATE_KEY": "off"}

    with django_capture_on_commit_callbacks(execute=True):
        assignment = job.assign()
    sent = sent_tasks()

    assert _pushes(sent) == []
    assert ("expire_assignment", (assignment.pk,)) in [(name, args) for name, args, _ in sent]
