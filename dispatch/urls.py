from django.urls import path

from dispatch import screens

urlpatterns = [
    path("", screens.home, name="home"),
]
