"""Reads (and two small writes) that the control-room screens need beyond the v1 contract.

Interfaces only, as in views.py: parse, call a selector or service, render. Mounted under /api/v1/ by
dispatch/urls.py; none of these paths exists in docs/api.md, so the contract's paths are untouched.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from django.apps import apps
from django.conf import settings
from django.db.models import Count, Max
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from geopy.distance import geodesic
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from shapely.geometry import mapping, shape

from accounts.models import Role, User
from accounts.permissions import ALL_ROLES, CONSOLE_ROLES, role_permission
from audit.models import What
from audit.views import read_record
from calls.models import Call, Incident
from calls.phones import InvalidPhone, phone_to_e164
from calls.serializers import CallSerializer, IncidentSummarySerializer
from dispatch import alerts, events, reports, services
from dispatch.models import Camera
from dispatch.serializers import IncidentSerializer
from geo.models import Region
from geo.points import LatLon, LocationField, finite_coordinate

# A caller's earlier calls, and earlier incidents at the same place: how far back and how near.
HISTORY_LIMIT = 10
PLACE_HISTORY_DAYS = 90
PLACE_HISTORY_RADIUS_M = 150.0
# Alerts older than this no longer hold a console's attention (they stay in the record).
ALERT_WINDOW = timedelta(hours=24)
# Outlines and roads are drawn at city scale: ~3 m of simplification and 5 decimals (~1 m) are invisible.
SIMPLIFY_DEGREES = 0.00003
DECIMALS = 5


def _optional_point(params: Any) -> LatLon | None:
    if not params.get("lat") or not params.get("lon"):
        return None
    return LatLon(
        finite_coordinate(params.get("lat"), "lat", 90.0), finite_coordinate(params.get("lon"), "lon", 180.0)
    )


# --- A caller's history ------------------------------------------------------------------------


def calls_from_phone(*, phone: str, limit: int = HISTORY_LIMIT) -> list[Call]:
    """Earlier calls from this number, newest first."""
    return list(
        Call.objects.select_related("incident")
        .filter(caller_phone=phone)
        .order_by("-received_at", "-id")[:limit]
    )


def incidents_near(
    *, point: LatLon, days: int = PLACE_HISTORY_DAYS, limit: int = HISTORY_LIMIT
) -> list[Incident]:
    """Incidents within PLACE_HISTORY_RADIUS_M of `point` in the last `days`, newest first."""
    since = timezone.now() - timedelta(days=days)
    box = PLACE_HISTORY_RADIUS_M / 111_000 * 1.5
    boxed = Incident.objects.filter(
        received_at__gte=since,
        lat__range=(point.lat - box, point.lat + box),
        lon__range=(point.lon - box, point.lon + box),
    ).order_by("-received_at", "-id")[: limit * 5]
    near = [
        i for i in boxed if geodesic((i.lat, i.lon), (point.lat, point.lon)).meters <= PLACE_HISTORY_RADIUS_M
    ]
    return near[:limit]


class CallHistoryView(APIView):
    """GET ?phone=&lat=&lon= → earlier calls from the number, earlier incidents at the place, and the open
    incidents this call may duplicate (the same rule the call service applies after saving)."""

    permission_classes = [role_permission(Role.CALL_TAKER, Role.DISPATCHER, Role.SUPERVISOR)]

    @extend_schema(
        parameters=[
            OpenApiParameter("phone", str),
            OpenApiParameter("lat", float),
            OpenApiParameter("lon", float),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> Response:
        phone: str | None = None
        raw_phone = request.query_params.get("phone", "").strip()
        if raw_phone:
            try:
                phone = phone_to_e164(raw_phone)
            except InvalidPhone:
                phone = None
        point = _optional_point(request.query_params)
        by_phone = calls_from_phone(phone=phone) if phone else []
        near = incidents_near(point=point) if point else []
        duplicates = (
            services.incidents_possibly_duplicate(phone=phone or "", location=point) if phone or point else []
        )
        # That a search was made and what it found; the number searched for is nowhere in the record.
        found = [*(c.incident_id for c in by_phone), *(i.pk for i in near), *(i.pk for i in duplicates)]
        read_record(request, what=What.CALL_SEARCH, incident_ids=found)
        return Response(
            {
                "phone": phone,
                "by_phone": [
                    {"call": CallSerializer(c).data, "incident": IncidentSummarySerializer(c.incident).data}
                    for c in by_phone
                ],
                "near_place": IncidentSummarySerializer(near, many=True).data,
                "possible_duplicates": IncidentSerializer(duplicates, many=True).data,
            }
        )


# --- Map layers --------------------------------------------------------------------------------


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, DECIMALS)
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def _light(geometry: dict[str, Any]) -> dict[str, Any]:
    """The geometry simplified and rounded for drawing (never for deciding where a point lies)."""
    simple = mapping(shape(geometry).simplify(SIMPLIFY_DEGREES, preserve_topology=True))
    return {"type": simple["type"], "coordinates": _rounded(simple["coordinates"])}


class _Cache:
    """One drawn layer per process, rebuilt when its source changes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: Any = None
        self.value: dict[str, Any] | None = None

    def get(self, key: Any, build: Any) -> dict[str, Any]:
        with self.lock:
            if self.value is None or self.key != key:
                self.value, self.key = build(), key
            return self.value


_regions_cache = _Cache()
_roads_cache = _Cache()


def regions_feature_collection() -> dict[str, Any]:
    """Kecamatan, kelurahan and the service area as one GeoJSON FeatureCollection for the maps."""

    def build() -> dict[str, Any]:
        features = []
        for region in Region.objects.select_related("parent").order_by("kind", "name"):
            features.append(
                {
                    "type": "Feature",
                    "properties": {
                        "kind": region.kind,
                        "name": region.name,
                        "kecamatan": region.parent.name if region.parent else "",
                    },
                    "geometry": _light(region.geometry),
                }
            )
        return {"type": "FeatureCollection", "features": features}

    version = tuple(Region.objects.aggregate(n=Count("id"), t=Max("updated_at")).values())
    return _regions_cache.get(version, build)


# Road classes of the BIG RBI map (field REMARK): footpaths are not drawn, the main roads are drawn wider.
MAJOR_ROADS = ("Jalan Tol", "Jalan Arteri", "Jalan Kolektor")
NOT_DRAWN = ("Jalan Setapak",)


def _road_class(properties: dict[str, Any]) -> str | None:
    remark = str(properties.get("REMARK") or properties.get("road_class") or properties.get("highway") or "")
    if any(remark.startswith(p) for p in NOT_DRAWN) or remark in ("footway", "path", "steps"):
        return None
    major = any(remark.startswith(p) for p in MAJOR_ROADS) or remark in ("primary", "secondary", "trunk")
    return "major" if major else "minor"


def roads_feature_collection() -> dict[str, Any]:
    """Road lines for the maps: from the MAP_ROADS_GEOJSON file when set, else the gazetteer's streets."""
    source = settings.MAP_ROADS_GEOJSON
    if source:
        file = Path(source)
        key: Any = ("file", str(file), file.stat().st_mtime if file.exists() else None)

        def build_from_file() -> dict[str, Any]:
            if not file.exists():
                return {"type": "FeatureCollection", "features": []}
            features = []
            for feature in json.loads(file.read_text()).get("features", []):
                kind = _road_class(feature.get("properties") or {})
                if kind is None or not feature.get("geometry"):
                    continue
                features.append(
                    {
                        "type": "Feature",
                        "properties": {"class": kind},
                        "geometry": _light(feature["geometry"]),
                    }
                )
            return {"type": "FeatureCollection", "features": features}

        return _roads_cache.get(key, build_from_file)
    try:
        street_model = apps.get_model("geo", "Street")
    except LookupError:
        return {"type": "FeatureCollection", "features": []}
    version = ("streets", *street_model.objects.aggregate(n=Count("id"), t=Max("updated_at")).values())

    def build_from_streets() -> dict[str, Any]:
        return {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"class": "minor", "name": s.name},
                    "geometry": _light(s.geometry),
                }
                for s in street_model.objects.all()
            ],
        }

    return _roads_cache.get(version, build_from_streets)


class RegionsGeoJSONView(APIView):
    """GET → the kecamatan/kelurahan outlines (GeoJSON), drawn when no tile server is configured."""

    permission_classes = [role_permission(*ALL_ROLES)]

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        answer = Response(regions_feature_collection())
        answer["Cache-Control"] = "private, max-age=300"
        return answer


class RoadsGeoJSONView(APIView):
    """GET → road lines (GeoJSON) under the outlines; an empty collection when there are none."""

    permission_classes = [role_permission(*ALL_ROLES)]

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        answer = Response(roads_feature_collection())
        answer["Cache-Control"] = "private, max-age=300"
        return answer


# --- Cameras -----------------------------------------------------------------------------------


class CameraSerializer(serializers.ModelSerializer):
    location = LocationField(source="*", read_only=True)
    distance_m = serializers.SerializerMethodField()

    class Meta:
        model = Camera
        fields = ["id", "name", "place", "location", "stream_url", "snapshot_url", "distance_m"]
        read_only_fields = fields

    def get_distance_m(self, obj: Camera) -> float | None:
        distance = getattr(obj, "distance_m", None)
        return None if distance is None else round(distance, 1)


def cameras_nearest(*, point: LatLon, limit: int) -> list[Camera]:
    """Active cameras, nearest `point` first (a city has hundreds at most: measured in Python)."""
    cameras = list(Camera.objects.filter(active=True))
    for camera in cameras:
        camera.distance_m = geodesic((camera.lat, camera.lon), (point.lat, point.lon)).meters  # type: ignore[attr-defined]
    cameras.sort(key=lambda c: c.distance_m)  # type: ignore[attr-defined]
    return cameras[:limit]


class CamerasView(APIView):
    """GET → every active camera; with ?lat=&lon= the `limit` (default 3) nearest, with their distance."""

    permission_classes = [role_permission(*CONSOLE_ROLES)]

    @extend_schema(
        parameters=[
            OpenApiParameter("lat", float),
            OpenApiParameter("lon", float),
            OpenApiParameter("limit", int),
        ],
        responses=CameraSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        point = _optional_point(request.query_params)
        if point is None:
            return Response(CameraSerializer(Camera.objects.filter(active=True), many=True).data)
        try:
            limit = max(1, min(int(request.query_params.get("limit", 3)), 50))
        except ValueError:
            limit = 3
        return Response(CameraSerializer(cameras_nearest(point=point, limit=limit), many=True).data)


# --- Alerts ------------------------------------------------------------------------------------


class AlertsView(APIView):
    """GET → the alerts of the last 24 hours that nobody has acknowledged, as the stream sent them."""

    permission_classes = [role_permission(Role.DISPATCHER, Role.SUPERVISOR)]

    @extend_schema(responses={200: {"type": "array", "items": {"type": "object"}}})
    def get(self, request: Request) -> Response:
        open_alerts = alerts.alerts_open(since=timezone.now() - ALERT_WINDOW)
        return Response([events.envelope(e) for e in open_alerts])


class AlertAcknowledgeView(APIView):
    """POST → the dispatcher has taken charge of alert `seq`; it leaves every console (idempotent)."""

    permission_classes = [role_permission(Role.DISPATCHER)]

    @extend_schema(request=None, responses={200: dict})
    def post(self, request: Request, seq: int) -> Response:
        try:
            ack = alerts.alert_acknowledge(seq=seq, by=request.user)
        except alerts.NotAnAlert:
            raise NotFound("No such alert.") from None
        return Response(
            {
                "seq": seq,
                "acknowledged_at": ack.at.isoformat(),
                "by": ack.by.get_username() if ack.by else None,
            }
        )


# --- Language, today's figures -----------------------------------------------------------------


def user_language_set(*, user: User, language: str) -> None:
    """Keep the user's chosen screen language (read by accounts.middleware on every request)."""
    User.objects.filter(pk=user.pk).update(language=language)


class LanguageInput(serializers.Serializer):
    language = serializers.ChoiceField(choices=[code for code, _ in settings.LANGUAGES])


class LanguageView(APIView):
    """POST {"language": "id"|"en"} → saved on the user and in the language cookie."""

    permission_classes = [role_permission(*ALL_ROLES)]

    @extend_schema(request=LanguageInput, responses={200: dict})
    def post(self, request: Request) -> Response:
        body = LanguageInput(data=request.data)
        body.is_valid(raise_exception=True)
        language = body.validated_data["language"]
        user_language_set(user=cast(User, request.user), language=language)
        answer = Response({"language": language})
        answer.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=365 * 24 * 3600,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
        )
        return answer


def _today_start() -> datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


class TodayFiguresView(APIView):
    """GET → today's response-time figures (local midnight until now) for the wall, viewers included.

    The same report as /api/v1/reports/response-times/; it holds no personal data.
    """

    permission_classes = [role_permission(Role.SUPERVISOR, Role.DISPATCHER, Role.VIEWER)]

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response(reports.response_time_report(since=_today_start(), until=None))


urlpatterns = [
    path("calls/history/", CallHistoryView.as_view(), name="call-history"),
    path("geo/regions.geojson", RegionsGeoJSONView.as_view(), name="geo-regions"),
    path("geo/roads.geojson", RoadsGeoJSONView.as_view(), name="geo-roads"),
    path("cameras/", CamerasView.as_view(), name="cameras"),
    path("alerts/", AlertsView.as_view(), name="alerts"),
    path("alerts/<int:seq>/acknowledge/", AlertAcknowledgeView.as_view(), name="alert-acknowledge"),
    path("me/language/", LanguageView.as_view(), name="me-language"),
    path("reports/today/", TodayFiguresView.as_view(), name="reports-today"),
]
