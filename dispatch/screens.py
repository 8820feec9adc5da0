"""The web screens. The full control-room screens come with their own issue; this is the landing page."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "dispatch/home.html", {"role": getattr(request.user, "role", "")})
