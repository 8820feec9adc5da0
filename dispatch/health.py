"""/healthz (the process answers) and /readyz (everything a dispatch needs answers)."""

from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from geo.routing import engine_name, road_engine


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return f"database: {type(exc).__name__}"
    return None


def _check_redis() -> str | None:
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()
    except Exception as exc:
        return f"redis: {type(exc).__name__}"
    return None


def _check_worker() -> str | None:
    from config.celery import app

    try:
        replies = app.control.ping(timeout=1.0)
    except Exception as exc:
        return f"celery: {type(exc).__name__}"
    return None if replies else "celery: no worker answered"


def _check_routing() -> str | None:
    kind = settings.GEO["ROAD_ENGINE"]
    if not kind:
        return None  # geodesic by configuration
    if kind == "osrm":
        from pathlib import Path

        from geo.roadnet import network_current

        if network_current(Path(settings.GEO["OSRM_DATA"])) is None:
            return None  # no network built yet: the geodesic estimate answers, and says so
    engine = road_engine()
    if engine is None or not engine.ready():
        return "routing: road engine configured but not answering"
    return None


def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, Any] = {}
    failed = []
    for name, check in (("database", _check_database), ("redis", _check_redis), ("celery", _check_worker),
                        ("routing", _check_routing)):  # fmt: skip
        problem = check()
        checks[name] = "ok" if problem is None else "failed"
        if problem:
            failed.append(problem)
    body = {"status": "ok" if not failed else "unavailable", "checks": checks, "failed": failed,
            "routing_engine": engine_name()}  # fmt: skip
    return JsonResponse(body, status=200 if not failed else 503)
