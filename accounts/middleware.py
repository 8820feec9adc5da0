from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation


class PreferredLanguageMiddleware:
    """Bahasa Indonesia unless the user chose otherwise (the language cookie, set by this device's switch, then
    the profile's choice, which follows the user to a new device).

    The browser's Accept-Language is not consulted: a control room's screens must not change language
    because of how a PC was installed.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.supported = {code for code, _ in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        if chosen not in self.supported:
            user = getattr(request, "user", None)
            chosen = getattr(user, "language", "") if user is not None and user.is_authenticated else ""
        if chosen not in self.supported:
            chosen = settings.LANGUAGE_CODE
        translation.activate(chosen)
        request.LANGUAGE_CODE = chosen
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", chosen)
        return response
