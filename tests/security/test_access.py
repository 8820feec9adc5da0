"""Access control around the API and screens: login throttling, CSRF, production settings, secrets, an audit
record nobody can edit, and personal data kept out of the logs.

(The role x endpoint REST matrix and the WebSocket matrix live in tests/api/ and tests/dispatch/.)
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib import admin
from django.core.cache import cache
from django.core.management.utils import get_random_secret_key
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Role
from dispatch.models import Assignment, Event, StatusChange
from tests.factories import StationFactory, UnitFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
ENV_TEMPLATE = ROOT / "deploy" / "psc119.env.example"
PASSWORD = "pass-1234"
PHONE_TYPED = "0812-3456-7890"
PHONE_FORMS = ("0812-3456-7890", "081234567890", "6281234567890", "+6281234567890", "34567890")
CALLER_NAME = "Siti Rahayu Kusumawardani"


@pytest.fixture(autouse=True)
def _no_spent_throttles():
    cache.clear()
    yield
    cache.clear()


def _token_login(client: APIClient, username: str, password: str, ip: str = "10.0.0.1") -> Any:
    return client.post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json", REMOTE_ADDR=ip
    )


# --- Login throttling (django-axes) ---------------------------------------------------------------


@pytest.mark.django_db
def test_the_token_endpoint_locks_a_username_from_one_address_after_five_failures_with_the_error_shape():
    UserFactory(username="ct-lock", role=Role.CALL_TAKER)
    client = APIClient()
    for _ in range(4):
        assert _token_login(client, "ct-lock", "wrong-password").status_code == 401

    locked = _token_login(client, "ct-lock", "wrong-password")
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "locked_out"
    assert set(locked.json()["error"]) == {"code", "message", "fields"}
    assert int(locked["Retry-After"]) > 0
    # Even the right password is refused from there, during the cool-off.
    assert _token_login(client, "ct-lock", PASSWORD).status_code == 429
    # The lock is on the pair: the same user elsewhere, and another user here, still get in.
    assert _token_login(client, "ct-lock", PASSWORD, ip="10.0.0.2").status_code == 200
    UserFactory(username="ct-other", role=Role.CALL_TAKER)
    assert _token_login(client, "ct-other", PASSWORD).status_code == 200


@pytest.mark.django_db
def test_a_lock_ends_after_the_cool_off(settings):
    UserFactory(username="ct-cool", role=Role.CALL_TAKER)
    client = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _token_login(client, "ct-cool", "wrong-password")
    assert _token_login(client, "ct-cool", PASSWORD).status_code == 429

    past = timezone.now() - timedelta(hours=settings.AXES_COOLOFF_TIME) - timedelta(seconds=5)
    AccessAttempt.objects.filter(username="ct-cool").update(attempt_time=past)
    assert _token_login(client, "ct-cool", PASSWORD).status_code == 200


@pytest.mark.django_db
def test_the_login_screen_locks_out_too_and_logs_nobody_in():
    UserFactory(username="disp-lock", role=Role.DISPATCHER)
    client = Client(REMOTE_ADDR="10.0.0.3")
    for _ in range(5):
        answer = client.post("/login/", {"username": "disp-lock", "password": "wrong-password"})
    assert answer.status_code == 429
    answer = client.post("/login/", {"username": "disp-lock", "password": PASSWORD})
    assert answer.status_code == 429
    assert b"Retry" not in answer.content  # a page for people, not a header dump
    assert "_auth_user_id" not in client.session
    assert client.get("/api/v1/me/").status_code in (401, 403)


@pytest.mark.django_db
def test_a_success_before_the_limit_clears_the_count():
    UserFactory(username="ct-reset", role=Role.CALL_TAKER)
    client = APIClient()
    for _ in range(4):
        _token_login(client, "ct-reset", "wrong-password")
    assert _token_login(client, "ct-reset", PASSWORD).status_code == 200
    for _ in range(4):
        assert _token_login(client, "ct-reset", "wrong-password").status_code == 401


# --- CSRF on everything a browser session can POST to ------------------------------------------------


def _walk(patterns: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            found += _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            found.append((prefix + str(entry.pattern), entry.callback))
    return found


def _concrete(route: str) -> str:
    path = re.sub(r"<(?:\w+:)?\w+>", "1", route)
    return "/" + path.lstrip("^").rstrip("$").replace("\\", "")


def _view_class(callback: Any) -> Any:
    return getattr(callback, "view_class", None) or getattr(callback, "cls", None)


def _routes_accepting(method: str) -> list[tuple[str, Any]]:
    routes = []
    for route, callback in _walk(get_resolver().url_patterns):
        if route.startswith("admin/") or "(?P<" in route:
            continue
        cls = _view_class(callback)
        if cls is not None and hasattr(cls, method):
            routes.append((_concrete(route), cls))
    return routes


@pytest.mark.django_db
def test_every_post_made_with_a_session_and_without_a_csrf_token_is_refused():
    user = UserFactory(username="disp-csrf", role=Role.DISPATCHER)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    checked = []
    routes = [*_routes_accepting("post"), ("/i18n/setlang/", None)]  # set_language is a function view
    for path, cls in routes:
        if getattr(cls, "authentication_classes", None) == []:
            continue  # the token endpoint: no session is used or made, so no cross-site request can ride one
        answer = client.post(path, "{}", content_type="application/json")
        assert answer.status_code == 403, (path, answer.status_code, answer.content[:200])
        assert b"CSRF" in answer.content, (path, answer.content[:200])
        checked.append(path)
    assert "/api/v1/calls/" in checked
    assert "/logout/" in checked
    assert "/i18n/setlang/" in checked
    assert len(checked) >= 8, checked


@pytest.mark.django_db
def test_a_session_post_with_the_csrf_token_goes_through():
    user = UserFactory(username="ct-csrf", role=Role.CALL_TAKER)
    UnitFactory(station=StationFactory())
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/login/")  # the login page sets the csrftoken cookie, as it does for the screens
    token = client.cookies["csrftoken"].value
    body = {
        "caller_phone": PHONE_TYPED,
        "complaint": "sesak",
        "priority": 2,
        "location": {"lat": -7.98, "lon": 112.63},
    }
    answer = client.post(
        "/api/v1/calls/", json.dumps(body), content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert answer.status_code == 201, answer.content


@pytest.mark.django_db
def test_the_login_form_itself_needs_its_csrf_token():
    UserFactory(username="disp-form", role=Role.DISPATCHER)
    client = Client(enforce_csrf_checks=True)
    answer = client.post("/login/", {"username": "disp-form", "password": PASSWORD})
    assert answer.status_code == 403
    assert "_auth_user_id" not in client.session


# --- Production settings: secure cookies, HSTS, SSL redirect, hosts; secrets from the environment --------------


def _production_env(**extra: str) -> dict[str, str]:
    """The documented env template, with its placeholders filled as an operator would."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "LOG_LEVEL": "WARNING"}
    for line in ENV_TEMPLATE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    env["SECRET_KEY"] = get_random_secret_key()
    env["PSC_VAR_DIR"] = "/tmp/psc119-deploy-check"
    env.update(extra)
    return env


def _run(code_or_args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *code_or_args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_env_template_holds_no_secret_and_asks_for_production():
    text = ENV_TEMPLATE.read_text()
    values = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
    )
    assert values["PSC_ENV"] == "production"
    assert values["SECRET_KEY"] == "CHANGE_ME"
    assert "CHANGE_ME" in values["DATABASE_URL"]
    assert "CHANGE_ME" in values["REDIS_URL"]


def test_check_deploy_is_clean_with_the_documented_production_env():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_of_a_web_push_contact_no_push_service_can_reach():
    env = {k: v for k, v in _production_env().items() if k != "WEBPUSH_SUBJECT"}
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode != 0
    assert "dispatch.W001" in result.stdout + result.stderr


def test_production_refuses_to_start_without_its_secrets_from_the_environment():
    env = _production_env()
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"):
        without = {k: v for k, v in env.items() if k != name}
        result = _run(["manage.py", "check"], without)
        assert result.returncode != 0, name
        assert "ImproperlyConfigured" in result.stderr, result.stderr[-500:]
        assert name in result.stderr, result.stderr[-500:]


PROBE = """
import django, json
django.setup()
from django.conf import settings
from django.test import Client
c = Client()
host = settings.ALLOWED_HOSTS[0]
plain = c.get("/login/", HTTP_HOST=host)
secure = c.get("/login/", HTTP_HOST=host, HTTP_X_FORWARDED_PROTO="https")
health = c.get("/healthz", HTTP_HOST="127.0.0.1:8001")
evil = c.get("/login/", HTTP_HOST="evil.example", HTTP_X_FORWARDED_PROTO="https")
cookie = secure.cookies.get("csrftoken")
print(json.dumps({
    "debug": settings.DEBUG,
    "plain": [plain.status_code, plain.get("Location", "")],
    "secure": secure.status_code,
    "hsts": secure.get("Strict-Transport-Security", ""),
    "csrf_cookie_secure": bool(cookie and cookie["secure"]),
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "session_cookie_httponly": settings.SESSION_COOKIE_HTTPONLY,
    "health": health.status_code,
    "evil_host": evil.status_code,
    "frame": secure.get("X-Frame-Options", ""),
    "nosniff": secure.get("X-Content-Type-Options", ""),
}))
"""


def test_behind_the_proxy_production_redirects_to_https_sends_hsts_and_secure_cookies_and_checks_the_host():
    env = _production_env(ALLOWED_HOSTS="psc119.example.go.id,127.0.0.1")
    result = _run(["-c", PROBE], env)
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["debug"] is False
    assert seen["plain"][0] == 301
    assert seen["plain"][1].startswith("https://psc119.example.go.id/")
    assert seen["secure"] == 200
    assert "max-age=31536000" in seen["hsts"]
    assert "includeSubDomains" in seen["hsts"]
    assert seen["csrf_cookie_secure"] is True
    assert seen["session_cookie_secure"] is True
    assert seen["session_cookie_httponly"] is True
    assert seen["health"] == 200, "health checks on the loopback must not be redirected"
    assert seen["evil_host"] == 400
    assert seen["frame"] == "DENY"
    assert seen["nosniff"] == "nosniff"


def test_no_secret_is_written_in_the_settings_or_committed():
    for path in (ROOT / "config" / "settings").glob("*.py"):
        for match in re.finditer(r"^\s*SECRET_KEY\s*=\s*(.+)$", path.read_text(), re.M):
            value = match.group(1)
            assert value.startswith(("env(", '"test-only-key"', '"insecure-development-key"', "_key_file")), (
                path,
                value,
            )
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [f for f in tracked if f.endswith(".env") and "example" not in f]


# --- The audit record: who, when, what; never editable --------------------------------------------------------

MUTATING = ("put", "patch", "delete")


def test_no_endpoint_outside_the_admin_offers_put_patch_or_delete():
    from django.views.generic.edit import ProcessFormView

    offered = [
        (path, m)
        for m in MUTATING
        for path, cls in _routes_accepting(m)
        # Django's LoginView takes PUT as another form post (a login attempt); it edits nothing.
        if not (m == "put" and getattr(cls, "put", None) is ProcessFormView.put)
    ]
    assert not offered, offered


@pytest.mark.django_db
def test_put_patch_delete_on_every_api_path_change_nothing(make_client):
    dispatcher = make_client(Role.DISPATCHER)
    body = {
        "caller_phone": PHONE_TYPED,
        "complaint": "sesak",
        "priority": 2,
        "location": {"lat": -7.98, "lon": 112.63},
    }
    UnitFactory(station=StationFactory())
    assert dispatcher.post("/api/v1/calls/", body, format="json").status_code == 201
    before = (
        Event.objects.count(),
        StatusChange.objects.count(),
        list(Event.objects.values_list("id", "data")),
    )
    for route, _ in _walk(get_resolver().url_patterns):
        if not route.startswith("api/"):
            continue
        path = _concrete(route)
        for method in MUTATING:
            answer = getattr(dispatcher, method)(path, {"type": "x", "data": {}}, format="json")
            assert answer.status_code in (401, 403, 404, 405), (method, path, answer.status_code)
    after = (
        Event.objects.count(),
        StatusChange.objects.count(),
        list(Event.objects.values_list("id", "data")),
    )
    assert after == before


@pytest.mark.django_db
def test_the_admin_shows_the_audit_record_but_cannot_add_change_or_delete_it():
    from django.test import RequestFactory

    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    request = RequestFactory().get("/admin/")
    request.user = root
    for model in (Event, StatusChange):
        model_admin = admin.site._registry[model]
        assert model_admin.has_view_permission(request)
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)
        assert "delete_selected" not in model_admin.get_actions(request)

    unit = UnitFactory(station=StationFactory())
    from dispatch import services

    services.unit_set_status(unit_id=unit.pk, status="out_of_service", by=root)
    event, change = Event.objects.latest("id"), StatusChange.objects.latest("id")
    client = Client()
    client.force_login(root)
    for model, obj in ((Event, event), (StatusChange, change)):
        base = f"/admin/dispatch/{model._meta.model_name}"
        assert client.get(f"{base}/{obj.pk}/change/").status_code == 200  # read-only view
        assert (
            client.post(f"{base}/{obj.pk}/change/", {"type": "forged", "to_status": "x"}).status_code == 403
        )
        assert client.post(f"{base}/{obj.pk}/delete/", {"post": "yes"}).status_code == 403
        assert client.post(f"{base}/add/", {}).status_code == 403
        client.post(f"{base}/", {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"})
    event.refresh_from_db()
    change.refresh_from_db()
    assert event.type == "unit.updated"
    assert change.to_status == "out_of_service"


@pytest.mark.django_db(transaction=True)
def test_every_state_change_of_a_call_flow_is_recorded_with_who_when_and_what(make_client):
    from dispatch import tasks

    unit = UnitFactory(station=StationFactory(lat=-7.98, lon=112.63))
    call_taker = make_client(Role.CALL_TAKER)
    crew = make_client(Role.CREW, unit=unit)
    dispatcher = make_client(Role.DISPATCHER)
    body = {
        "caller_phone": PHONE_TYPED,
        "complaint": "sesak",
        "priority": 1,
        "location": {"lat": -7.98, "lon": 112.63},
    }
    incident = call_taker.post("/api/v1/calls/", body, format="json").json()["incident"]
    tasks.dispatch_incident(incident["id"])  # the worker's part, run here
    assignment = Assignment.objects.get(incident_id=incident["id"])
    tapped = crew.post(f"/api/v1/assignments/{assignment.pk}/status/", {"status": "en_route"}, format="json")
    assert tapped.status_code == 200
    cancelled = dispatcher.post(
        f"/api/v1/incidents/{incident['id']}/cancel/", {"reason": "prank"}, format="json"
    )
    assert cancelled.status_code == 200

    created = Event.objects.get(type="incident.created", incident_id=incident["id"])
    assert created.actor == call_taker.user
    assert created.at is not None
    changes = list(StatusChange.objects.order_by("id"))
    by_what = {(c.subject, c.from_status, c.to_status): c for c in changes}
    assert by_what[("assignment", "", "assigned")].by is None  # the system's automatic choice
    assert by_what[("assignment", "assigned", "en_route")].by == crew.user
    assert by_what[("assignment", "en_route", "cancelled")].by == dispatcher.user
    assert by_what[("incident", "dispatched", "cancelled")].by == dispatcher.user
    assert by_what[("incident", "dispatched", "cancelled")].reason == "prank"
    assert by_what[("unit", "available", "assigned")].unit_id == unit.pk
    assert all(c.at and c.recorded_at for c in changes)
    # Each change was also told to the clients, in the same order, in the append-only record.
    types = list(Event.objects.filter(incident_id=incident["id"]).values_list("type", flat=True))
    assert types.count("assignment.updated") >= 2


# --- Personal data never in the logs ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_full_call_flow_logged_at_info_never_shows_the_callers_number_or_name(make_client, caplog):
    from dispatch import tasks

    caplog.set_level(logging.DEBUG if os.environ.get("PII_LOG_DEBUG") else logging.INFO)
    unit = UnitFactory(station=StationFactory(lat=-7.98, lon=112.63))
    call_taker = make_client(Role.CALL_TAKER)
    crew = make_client(Role.CREW, unit=unit)
    dispatcher = make_client(Role.DISPATCHER)
    body = {"caller_phone": PHONE_TYPED, "caller_name": CALLER_NAME, "complaint": "sesak", "priority": 1,
            "location": {"lat": -7.98, "lon": 112.63}, "address": "Jl. Kawi 12"}  # fmt: skip

    first = call_taker.post("/api/v1/calls/", body, format="json").json()
    again = call_taker.post("/api/v1/calls/", {**body, "incident": first["incident"]["id"]}, format="json")
    assert again.status_code == 201
    bad = call_taker.post("/api/v1/calls/", {**body, "priority": 9}, format="json")
    assert bad.status_code == 400
    refused = crew.post("/api/v1/calls/", body, format="json")
    assert refused.status_code == 403
    call_taker.get("/api/v1/calls/history/", {"phone": PHONE_TYPED})
    tasks.dispatch_incident(first["incident"]["id"])
    dispatcher.get(f"/api/v1/incidents/{first['incident']['id']}/")
    assignment = Assignment.objects.get(incident_id=first["incident"]["id"])
    for status in ("acknowledged", "en_route", "on_scene"):
        crew.post(f"/api/v1/assignments/{assignment.pk}/status/", {"status": status}, format="json")
    _token_login(APIClient(), "nobody", "wrong")  # a failed login is logged too (by axes)
    tasks.sweep()

    assert caplog.records, "nothing was logged: the capture does not work"
    text = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    for form in (*PHONE_FORMS, CALLER_NAME, "Jl. Kawi 12"):
        assert form not in text, f"{form!r} appears in the log"
