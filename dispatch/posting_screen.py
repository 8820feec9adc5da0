"""The posting-plan screen: where N ambulances should stand by, against where they stand today.

The page is a shell, like the other screens (dispatch/screens.py): the login, the role, the CSP header; the
plan itself comes from `GET /api/v1/posting-plan/?units=N` (dispatch/posting.py) and is drawn by
dispatch/static/dispatch/js/posting.js. Dispatchers and supervisors see it; the navigation links it from
every screen they use (dispatch/templates/dispatch/base.html).
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.urls import path
from django.views.generic import TemplateView

from accounts.models import User
from dispatch import screens
from dispatch.posting import posting_current

ROLES = screens.SCREENS["posting"][1]
# The most units the form offers to plan for (a province's fleet fits; a typo does not).
MAX_UNITS = 500


class PostingPlanScreen(LoginRequiredMixin, TemplateView):
    """How many units (by default the fleet in service today, as the plan's API counts it), then the plan
    against today's posting: a table and a map."""

    template_name = "dispatch/posting.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated and not cast(User, request.user).has_role(*ROLES):
            raise PermissionDenied
        response = super().dispatch(request, *args, **kwargs)
        response["Content-Security-Policy"] = screens.content_security_policy(request)
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # The screens' page context (map tiles, language, user, navigation).
        context = {**super().get_context_data(**kwargs), **screens.screen_context(self.request, "posting")}
        fleet = sum(units for _, units in posting_current())
        context.update(
            screen_config={**context["screen_config"], "fleetSize": fleet, "maxUnits": MAX_UNITS},
            fleet_size=fleet,
            max_units=MAX_UNITS,
        )
        return context


urlpatterns = [path("posting/", PostingPlanScreen.as_view(), name="posting")]
