from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from dispatch import screen_api, screens

urlpatterns = [
    path("", screens.home, name="home"),
    path("calltaker/", screens.calltaker, name="calltaker"),
    path("console/", screens.console, name="console"),
    path("wall/", screens.wall, name="wall"),
    # The screens' strings in the user's language (djangojs catalogues), as a static-looking script.
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("api/v1/", include(screen_api.urlpatterns)),
]
