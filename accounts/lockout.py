"""Login throttling with django-axes: what a locked-out login sees, and the backend that checks the lock.

Too many failed logins for one username from one address lock that pair out for the cool-off (settings:
LOGIN_FAILURE_LIMIT, LOGIN_COOLOFF_MINUTES). The API answers 429 in the contract's error shape; the login screen
answers 429 with a page that says when to try again.
"""

from math import ceil
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from accounts.errors import json_error


class LockoutBackend(AxesStandaloneBackend):
    """Axes' lock check before the password check. A login without a request (the test client, a management
    command) has no address to lock, so it is not checked here; the ModelBackend after it decides."""

    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    cool_off = get_cool_off(request)
    minutes = max(1, ceil(cool_off.total_seconds() / 60)) if cool_off else 0
    message = _("Too many failed logins. Try again in %(minutes)d minutes.") % {"minutes": minutes}
    if request.path.startswith("/api/"):
        response: HttpResponse = json_error(429, "locked_out", message)
    else:
        response = render(request, "registration/locked_out.html", {"message": message}, status=429)
    if cool_off:
        response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
