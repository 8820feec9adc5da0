from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView

from accounts.views import TokenView
from dispatch import health
from dispatch import views as dv
from geo import views as gv

api = [
    path("auth/token/", TokenView.as_view(), name="token"),
    path("me/", dv.MeView.as_view(), name="me"),
    path("calls/", dv.CallsView.as_view(), name="calls"),
    path("incidents/", dv.IncidentListView.as_view(), name="incidents"),
    path("incidents/<int:pk>/", dv.IncidentDetailView.as_view(), name="incident"),
    path("incidents/<int:pk>/recommendations/", dv.RecommendationsView.as_view(), name="recommendations"),
    path(
        "incidents/<int:pk>/assignments/", dv.IncidentAssignmentsView.as_view(), name="incident-assignments"
    ),
    path("incidents/<int:pk>/cancel/", dv.IncidentCancelView.as_view(), name="incident-cancel"),
    path("units/", dv.UnitListView.as_view(), name="units"),
    path("units/<int:pk>/", dv.UnitDetailView.as_view(), name="unit"),
    path("units/<int:pk>/positions/", dv.UnitPositionsView.as_view(), name="unit-positions"),
    path("units/<int:pk>/status/", dv.UnitStatusView.as_view(), name="unit-status"),
    path("assignments/<int:pk>/", dv.AssignmentDetailView.as_view(), name="assignment"),
    path("assignments/<int:pk>/status/", dv.AssignmentStatusView.as_view(), name="assignment-status"),
    path("geo/search/", gv.GeoSearchView.as_view(), name="geo-search"),
    path("geo/reverse/", gv.GeoReverseView.as_view(), name="geo-reverse"),
    path("hospitals/", gv.HospitalListView.as_view(), name="hospitals"),
    path("reports/response-times/", dv.ResponseTimesView.as_view(), name="response-times"),
]

urlpatterns = [
    path("api/v1/", include(api)),
    path("api/v1/", include("dispatch.hospital_api")),  # POST hospitals/{id}/status/ (issue 7)
    path("api/v1/", include("dispatch.moveup")),  # GET, POST moveup/ (issue 7)
    path("api/v1/", include("dispatch.posting")),  # GET posting-plan/ (issue 7)
    path("api/v1/", include("audit.urls")),  # GET audit/reads/: who read personal data (supervisors)
    # JSON like the rest of the API unless YAML is asked for (Accept or ?format=yaml).
    path(
        "api/schema/",
        SpectacularAPIView.as_view(
            renderer_classes=[
                OpenApiJsonRenderer,
                OpenApiJsonRenderer2,
                OpenApiYamlRenderer,
                OpenApiYamlRenderer2,
            ]
        ),
        name="schema",
    ),
    path("healthz", health.healthz),
    path("healthz/", health.healthz),
    path("readyz", health.readyz),
    path("readyz/", health.readyz),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("", include("dispatch.crew")),  # the crew's phone: /crew/ and /api/v1/crew/
    path("", include("dispatch.report_screens")),
    path("", include("dispatch.posting_screen")),  # /posting/: the posting plan (issue 7)
    path("", include("dispatch.urls")),
]

handler400 = "accounts.errors.bad_request"
handler403 = "accounts.errors.permission_denied"
handler404 = "accounts.errors.not_found"
handler500 = "accounts.errors.server_error"
