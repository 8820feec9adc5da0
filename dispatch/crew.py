"""The crew's phone: the /crew/ web app (page, service worker, manifest, translations) and its own reads.

The crew acts through the contract's endpoints (assignment and unit status, positions) and /ws/unit/.
What the contract's crew view lacks (the caller's phone, a landmark near the scene, the hospitals to pick
from) comes from /api/v1/crew/..., for the crew of the unit only.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.utils import OpenApiParameter, extend_schema
from geopy.distance import geodesic
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import PermissionDenied as ApiPermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import PushSubscription, Role, User
from accounts.permissions import role_permission
from audit.models import What
from audit.views import read_record
from dispatch import push, selectors
from dispatch.hospitals import Case, case_for, hospitals_ranked_for
from dispatch.models import Assignment
from dispatch.screens import content_security_policy
from dispatch.serializers import AssignmentWithRouteSerializer, UnitSerializer
from geo.models import Facility
from geo.points import LatLon

# The app shell the service worker keeps for dead spots (static paths; the page itself is cached as visited).
SHELL_STATIC = (
    "crew/crew.css",
    "crew/app.js",
    "crew/outbox.js",
    "crew/stream.js",
    "crew/alarm.js",
    "crew/positions.js",
    "crew/push.js",
    "crew/map.js",
    "crew/icons/icon.svg",
    "crew/icons/icon-192.png",
    "leaflet/leaflet.js",
    "leaflet/leaflet.css",
)
LANDMARK_WITHIN_M = 500.0


def _static_bytes(name: str) -> bytes:
    found = finders.find(name)
    if not found:
        raise FileNotFoundError(name)
    with open(cast(str, found), "rb") as handle:
        return handle.read()


@functools.cache
def shell_version() -> str:
    """Changes whenever a shell file changes, so phones drop the old cache on the next visit."""
    digest = hashlib.sha256()
    for name in (*SHELL_STATIC, "crew/sw.js"):
        digest.update(_static_bytes(name))
    return digest.hexdigest()[:12]


def _crew_user(request: HttpRequest) -> User:
    user = cast(User, request.user)
    if user.role != Role.CREW:
        raise PermissionDenied("The crew app is for ambulance crews.")
    return user


@never_cache
@ensure_csrf_cookie
@login_required
def crew_app(request: HttpRequest) -> HttpResponse:
    """The one page of the crew app; everything after it happens in static JS over the API and /ws/unit/."""
    user = _crew_user(request)
    unit = user.unit
    crew = settings.CREW
    config = {
        "username": user.get_username(),
        "unit": unit.pk if unit else None,
        "api": "/api/v1/",
        "ws": "/ws/unit/",
        "sw": f"{reverse('crew-sw')}?v={shell_version()}",
        "push-key": push.public_key(),  # empty: Web Push is off
        "scope": reverse("crew"),
        "position-interval": crew["POSITION_INTERVAL_SECONDS"],
        "max-accuracy": crew["MAX_ACCURACY_M"],
        "retry-interval": crew["RETRY_SECONDS"],
        "ack-timeout": settings.DISPATCH["ACK_TIMEOUT_SECONDS"],
        # The screens' tile server, when one is set; without it the map shows the route on a plain ground.
        "tile-url": getattr(settings, "MAP_TILE_URL", ""),
        "tile-attribution": getattr(settings, "MAP_TILE_ATTRIBUTION", ""),
    }
    # As plain strings: the template would write 5.0 as "5,0" in Indonesian.
    data = {key: "" if value is None else str(value) for key, value in config.items()}
    response = render(request, "crew/app.html", {"unit": unit, "config": data})
    response["Content-Security-Policy"] = content_security_policy(request)
    return response


def service_worker(request: HttpRequest) -> HttpResponse:
    """/crew/sw.js: served here, not from /static/, so that its scope covers /crew/."""
    shell = {
        "version": shell_version(),
        "static": [static(name) for name in SHELL_STATIC],
        "static_prefix": settings.STATIC_URL,
        "pages": [reverse("crew"), reverse("crew-jsi18n")],
        # The map's ground when there are no tiles (served by the screens' API): kept for dead spots.
        "data": ["/api/v1/geo/regions.geojson", "/api/v1/geo/roads.geojson"],
    }
    body = f"self.CREW_SHELL = {json.dumps(shell)};\n".encode() + _static_bytes("crew/sw.js")
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


def manifest(request: HttpRequest) -> HttpResponse:
    """The web app manifest that makes /crew/ installable on the phone's home screen."""
    return render(request, "crew/manifest.webmanifest", content_type="application/manifest+json")


# --- The crew's reads --------------------------------------------------------------------------


def _own_unit_id(request: Request) -> int:
    unit_id = cast(User, request.user).unit_id
    if unit_id is None:
        raise ApiPermissionDenied("This crew account is not linked to a unit.")
    return unit_id


def _landmark_near(point: LatLon) -> dict[str, Any] | None:
    """The nearest named place within LANDMARK_WITHIN_M, which a crew can find from the road."""
    box = 0.006  # ~650 m of latitude, a little more than the radius
    nearby = Facility.objects.filter(
        lat__range=(point.lat - box, point.lat + box), lon__range=(point.lon - box, point.lon + box)
    )
    best = min(
        ((geodesic((f.lat, f.lon), (point.lat, point.lon)).meters, f) for f in nearby),
        key=lambda pair: pair[0],
        default=None,
    )
    if best is None or best[0] > LANDMARK_WITHIN_M:
        return None
    return {"name": best[1].name, "kind": best[1].kind, "distance_m": round(best[0])}


def _details(assignment: Assignment) -> dict[str, Any]:
    incident = assignment.incident
    callers: list[dict[str, str]] = []
    for call in incident.calls.order_by("received_at", "id"):
        if call.caller_phone and all(c["caller_phone"] != call.caller_phone for c in callers):
            callers.append({"caller_phone": call.caller_phone, "caller_name": call.caller_name})
    landmark = None
    if incident.lat is not None and incident.lon is not None:
        landmark = _landmark_near(LatLon(incident.lat, incident.lon))
    return {
        "assignment": assignment.pk,
        "callers": callers,
        "landmark": landmark,
        "notes": incident.notes,
        "case": case_for(complaint=incident.complaint, notes=incident.notes).value,
    }


class CrewCurrentView(APIView):
    """GET /api/v1/crew/current/: the unit, its active assignment with the route, and what the crew needs
    to find and reach the caller (phone, landmark), with the server's clock for the ack countdown."""

    permission_classes = [role_permission(Role.CREW)]

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        unit_id = _own_unit_id(request)
        unit = selectors.units_with_assignment().get(pk=unit_id)
        assignment = selectors.assignment_active_for_unit(unit_id=unit_id)
        if assignment:
            read_record(request, what=What.CREW_CURRENT, incident_ids=[assignment.incident_id])
        return Response(
            {
                "unit": UnitSerializer(unit).data,
                "assignment": AssignmentWithRouteSerializer(assignment).data if assignment else None,
                "details": _details(assignment) if assignment else None,
                "ack_timeout_seconds": settings.DISPATCH["ACK_TIMEOUT_SECONDS"],
                "server_time": timezone.now().isoformat(),
            }
        )


class HospitalsInput(serializers.Serializer):
    assignment = serializers.IntegerField(min_value=1, max_value=2**62)
    case = serializers.ChoiceField(
        choices=[c.value for c in Case], required=False, allow_null=True, default=None
    )


def _origin(assignment: Assignment) -> LatLon | None:
    """Where the patient leaves from: the unit's fresh position, else the scene, else the unit's last one."""
    unit, incident = assignment.unit, assignment.incident
    stale_before = timezone.now() - timedelta(seconds=settings.DISPATCH["POSITION_STALE_SECONDS"])
    if (
        unit.lat is not None
        and unit.lon is not None
        and unit.location_at
        and unit.location_at >= stale_before
    ):
        return LatLon(unit.lat, unit.lon)
    if incident.lat is not None and incident.lon is not None:
        return LatLon(incident.lat, incident.lon)
    if unit.lat is not None and unit.lon is not None:
        return LatLon(unit.lat, unit.lon)
    return None


class CrewHospitalsView(APIView):
    """GET /api/v1/crew/hospitals/?assignment=ID[&case=general|maternity]: the destinations to offer."""

    permission_classes = [role_permission(Role.CREW, Role.DISPATCHER, Role.SUPERVISOR)]

    @extend_schema(
        parameters=[
            OpenApiParameter("assignment", int, required=True),
            OpenApiParameter("case", str, enum=[c.value for c in Case]),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> Response:
        params = HospitalsInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        assignment = (
            selectors.assignments_with_detail().filter(pk=params.validated_data["assignment"]).first()
        )
        if assignment is None:
            raise NotFound("No such assignment.")
        if cast(User, request.user).role == Role.CREW and assignment.unit_id != _own_unit_id(request):
            raise ApiPermissionDenied("A crew acts for its own unit only.")
        incident = assignment.incident
        case = Case(
            params.validated_data["case"] or case_for(complaint=incident.complaint, notes=incident.notes)
        )
        origin = _origin(assignment)
        ranked = hospitals_ranked_for(origin=origin, case=case) if origin else []
        # The case (maternity or not) is read from the complaint, and the origin may be the scene.
        read_record(request, what=What.CREW_HOSPITALS, incident_ids=[assignment.incident_id])
        return Response(
            {
                "assignment": assignment.pk,
                "case": case.value,
                "origin": origin.as_dict() if origin else None,
                "hospitals": [
                    {
                        "id": r.hospital.pk,
                        "name": r.hospital.name,
                        "category": r.hospital.category,
                        "address": r.hospital.address,
                        "location": {"lat": r.hospital.lat, "lon": r.hospital.lon},
                        "ed_status": r.hospital.ed_status,
                        "eta_seconds": round(r.leg.duration_s, 1),
                        "distance_m": round(r.leg.distance_m, 1),
                        "source": r.leg.source,
                        "preferred": r.preferred,
                    }
                    for r in ranked
                ],
            }
        )


# --- Web Push: the phone's subscription (dispatch/push.py sends) ---------------------------


class KeysInput(serializers.Serializer):
    p256dh = serializers.CharField(max_length=200)
    auth = serializers.CharField(max_length=100)

    def validate_p256dh(self, value: str) -> str:
        if not push.p256dh_valid(value):
            raise serializers.ValidationError("Not a P-256 public key (base64url, uncompressed).")
        return value

    def validate_auth(self, value: str) -> str:
        if not push.auth_valid(value):
            raise serializers.ValidationError("Not a 16-byte authentication secret (base64url).")
        return value


class SubscriptionInput(serializers.Serializer):
    """What the browser's `PushSubscription.toJSON()` gives (`expirationTime` is ignored)."""

    endpoint = serializers.URLField(max_length=1000)
    keys = KeysInput()

    def validate_endpoint(self, value: str) -> str:
        if not push.endpoint_allowed(value):
            raise serializers.ValidationError("Not a known push service.")
        return value


class EndpointInput(serializers.Serializer):
    endpoint = serializers.URLField(max_length=1000)


class PushSubscriptionView(APIView):
    """This phone's subscription; the same endpoint again replaces it (a phone changes hands with its owner)."""

    permission_classes = [role_permission(Role.CREW)]

    @extend_schema(request=SubscriptionInput, responses={201: dict, 200: dict})
    def post(self, request: Request) -> Response:
        if not push.enabled():
            return Response(
                {"error": {"code": "push_off", "message": "Web Push is not configured.", "fields": {}}},
                status=status.HTTP_409_CONFLICT,
            )
        body = SubscriptionInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        fields = {
            "user": cast(User, request.user),
            "p256dh": data["keys"]["p256dh"],
            "auth": data["keys"]["auth"],
        }
        try:
            with transaction.atomic():
                _, created = PushSubscription.objects.update_or_create(
                    endpoint=data["endpoint"], defaults=fields
                )
        except IntegrityError:  # the same phone twice at once: the other one wrote it
            created = False
        return Response(
            {"endpoint": data["endpoint"]}, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class PushWithdrawView(APIView):
    """Forget this phone's subscription (logout); only the caller's own. A POST, like every change here: no
    endpoint of the API deletes by DELETE (tests/security)."""

    permission_classes = [role_permission(Role.CREW)]

    @extend_schema(request=EndpointInput, responses={204: None})
    def post(self, request: Request) -> Response:
        body = EndpointInput(data=request.data)
        body.is_valid(raise_exception=True)
        PushSubscription.objects.filter(
            endpoint=body.validated_data["endpoint"], user=cast(User, request.user)
        ).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("crew/", crew_app, name="crew"),
    path("crew/sw.js", service_worker, name="crew-sw"),
    path("crew/manifest.webmanifest", manifest, name="crew-manifest"),
    path("crew/jsi18n/", JavaScriptCatalog.as_view(packages=["dispatch"]), name="crew-jsi18n"),
    path("api/v1/crew/current/", CrewCurrentView.as_view(), name="crew-current"),
    path("api/v1/crew/hospitals/", CrewHospitalsView.as_view(), name="crew-hospitals"),
    path("api/v1/crew/push/", PushSubscriptionView.as_view(), name="crew-push"),
    path("api/v1/crew/push/withdraw/", PushWithdrawView.as_view(), name="crew-push-withdraw"),
]
