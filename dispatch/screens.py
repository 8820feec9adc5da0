"""The control-room web screens: call-taker, dispatcher console and the command-centre wall.

Each view only checks the role and renders a page shell; the screens load their data from the REST API
and /ws/console/ (static JS under dispatch/static/dispatch/). No inline script or style: a strict
Content-Security-Policy is sent with every screen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, User

# Who sees which screen, in the order of the navigation bar.
SCREENS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "calltaker": (_("Call-taker"), (Role.CALL_TAKER, Role.DISPATCHER)),
    "console": (_("Dispatch console"), (Role.DISPATCHER, Role.SUPERVISOR)),
    "wall": (_("Command centre"), (Role.SUPERVISOR, Role.VIEWER, Role.DISPATCHER)),
    "posting": (_("Posting plan"), (Role.DISPATCHER, Role.SUPERVISOR)),  # dispatch/posting_screen.py
}
HOME_FOR_ROLE = {
    Role.CALL_TAKER: "calltaker",
    Role.DISPATCHER: "console",
    Role.SUPERVISOR: "wall",
    Role.VIEWER: "wall",
}
ROLE_LABELS = {
    Role.CALL_TAKER: _("Call-taker"),
    Role.DISPATCHER: _("Dispatcher"),
    Role.CREW: _("Ambulance crew"),
    Role.SUPERVISOR: _("Supervisor"),
    Role.VIEWER: _("Viewer"),
}
# Where the map opens before the outlines load (Kota Malang, the Alun-alun).
MAP_CENTER = (-7.9826, 112.6308)


def _tile_origin() -> str:
    """The tile server's origin for the CSP; a "{s}" subdomain template becomes a wildcard."""
    parts = urlsplit(settings.MAP_TILE_URL)
    return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}" if parts.netloc else ""


def content_security_policy(request: HttpRequest) -> str:
    host = request.get_host()
    images = " ".join(filter(None, ["'self'", "data:", _tile_origin()]))
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            f"connect-src 'self' ws://{host} wss://{host}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _screen(name: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Login, the screen's roles, and the CSP header."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        def wrapped(request: HttpRequest) -> HttpResponse:
            user = cast(User, request.user)
            if not user.has_role(*SCREENS[name][1]):
                raise PermissionDenied
            response = view(request)
            response["Content-Security-Policy"] = content_security_policy(request)
            return response

        wrapped.__name__ = view.__name__
        wrapped.__doc__ = view.__doc__
        return wrapped

    return decorate


def screen_context(request: HttpRequest, name: str) -> dict[str, Any]:
    user = cast(User, request.user)
    config = {
        "screen": name,
        "user": user.get_username(),
        "role": user.role,
        "canDispatch": user.role == Role.DISPATCHER,
        "canRecord": user.role in (Role.CALL_TAKER, Role.DISPATCHER),
        "language": getattr(request, "LANGUAGE_CODE", settings.LANGUAGE_CODE),
        "map": {
            "tileUrl": settings.MAP_TILE_URL,
            "tileAttribution": settings.MAP_TILE_ATTRIBUTION,
            "center": MAP_CENTER,
            "zoom": 13,
        },
        "positionStaleSeconds": settings.DISPATCH["POSITION_STALE_SECONDS"],
        "ackTimeoutSeconds": settings.DISPATCH["ACK_TIMEOUT_SECONDS"],
        "timeZone": settings.TIME_ZONE,
    }
    return {
        "screen": name,
        "screen_title": SCREENS[name][0],
        "nav": [
            {"name": key, "title": title, "url": reverse(key), "current": key == name}
            for key, (title, roles) in SCREENS.items()
            if user.role in roles
        ],
        "role_label": ROLE_LABELS.get(cast(Role, user.role), user.role),
        "screen_config": config,
    }


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each role to its screen: call-takers record, dispatchers dispatch, the NCC watches, crews ride."""
    user = cast(User, request.user)
    if user.role == Role.CREW:
        return HttpResponseRedirect("/crew/")
    screen = HOME_FOR_ROLE.get(cast(Role, user.role))
    if screen is None:
        return render(
            request, "dispatch/home.html", {"role": ROLE_LABELS.get(cast(Role, user.role), user.role)}
        )
    return HttpResponseRedirect(reverse(screen))


@_screen("calltaker")
def calltaker(request: HttpRequest) -> HttpResponse:
    """Record a 119 call: keyboard first, the caller's history and possible duplicates before saving."""
    return render(request, "dispatch/calltaker.html", screen_context(request, "calltaker"))


@_screen("console")
def console(request: HttpRequest) -> HttpResponse:
    """Every open incident and every unit, live; assign, reassign, cancel; alerts until acknowledged."""
    return render(request, "dispatch/console.html", screen_context(request, "console"))


@_screen("wall")
def wall(request: HttpRequest) -> HttpResponse:
    """The command-centre wall: read-only, large type, the city picture and today's figures."""
    return render(request, "dispatch/wall.html", screen_context(request, "wall"))
