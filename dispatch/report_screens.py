"""The response-time report: a page for supervisors and dispatchers, and its CSV export.

The page is a shell: its script reads `GET /api/v1/reports/response-times/` with the chosen filters and draws
the charts (own SVG) and the kecamatan map (Leaflet from our static files). No inline script or style, the
same Content-Security-Policy as the control-room screens.
"""

from __future__ import annotations

import csv
from typing import Any, cast

import shapely
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView
from shapely.geometry import mapping, shape

from accounts.models import Role, User
from accounts.permissions import role_permission
from calls.models import Incident, Priority
from dispatch import reports
from dispatch.screens import MAP_CENTER, content_security_policy
from dispatch.views import ReportInput
from geo.models import Region

REPORT_ROLES = (Role.SUPERVISOR, Role.DISPATCHER)
MAP_SIMPLIFY_DEG = 0.0002  # ~20 m: outlines small enough for the page, still the city's shape


def kecamatan_names() -> list[str]:
    """The kecamatan a report can filter on: those imported, and any an incident was placed in."""
    names = set(Region.objects.filter(kind=Region.Kind.KECAMATAN).values_list("name", flat=True))
    names |= set(Incident.objects.exclude(kecamatan="").values_list("kecamatan", flat=True).distinct())
    return sorted(names)


def kecamatan_outlines() -> dict[str, Any]:
    """The kecamatan as a GeoJSON FeatureCollection, simplified for drawing."""
    features = []
    for region in Region.objects.filter(kind=Region.Kind.KECAMATAN).order_by("name"):
        geometry = shape(region.geometry).simplify(MAP_SIMPLIFY_DEG, preserve_topology=True)
        geometry = shapely.set_precision(geometry, 1e-5)
        features.append(
            {"type": "Feature", "properties": {"name": region.name}, "geometry": mapping(geometry)}
        )
    return {"type": "FeatureCollection", "features": features}


@login_required
def response_times_page(request: HttpRequest) -> HttpResponse:
    """Response times against the targets, by priority and kecamatan, over the dates chosen; CSV export."""
    user = cast(User, request.user)
    if not user.has_role(*REPORT_ROLES):
        raise PermissionDenied
    today = timezone.localdate()
    config = {
        "api": reverse("response-times"),
        "csv": reverse("response-times-csv"),
        "defaultSince": (today.replace(day=1)).isoformat(),
        "defaultUntil": today.isoformat(),
        "targetsMinutes": list(reports.TARGET_MINUTES),
        "intervals": list(reports.INTERVALS),
        "map": {
            "tileUrl": settings.MAP_TILE_URL,
            "tileAttribution": settings.MAP_TILE_ATTRIBUTION,
            "center": MAP_CENTER,
            "zoom": 12,
        },
        # The priorities' names as the model gives them; the page's other words come from /jsi18n/.
        "priorities": {str(p.value): str(p.label) for p in Priority},
    }
    context = {
        "screen_title": _("Response times"),
        "config": config,
        "outlines": kecamatan_outlines(),
        "kecamatan": kecamatan_names(),
        "priorities": [(p.value, p.label) for p in Priority],
    }
    response = render(request, "reports/response_times.html", context)
    response["Content-Security-Policy"] = content_security_policy(request)
    return response


class ResponseTimesCsvView(APIView):
    """One line per incident with its intervals in seconds; the same filters as the JSON report."""

    permission_classes = [role_permission(*REPORT_ROLES)]

    @extend_schema(
        parameters=[ReportInput],
        responses={(200, "text/csv"): str},
    )
    def get(self, request: Request) -> HttpResponse:
        params = ReportInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = params.validated_data
        rows = reports.incident_figures(reports.incidents_for_report(**filters))
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="response-times-{stamp}.csv"'
        writer = csv.writer(response)
        for line in reports.csv_rows(rows):
            writer.writerow(line)
        return response


urlpatterns = [
    path("reports/", response_times_page, name="reports"),
    path("api/v1/reports/response-times.csv", ResponseTimesCsvView.as_view(), name="response-times-csv"),
]
