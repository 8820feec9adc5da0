from typing import Any

from django.contrib import admin

from accounts.admin import RecordAdmin
from dispatch.models import Assignment, Camera, Event, StatusChange


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "incident", "unit", "status", "assigned_at"]
    list_filter = ["status"]

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # state moves through the services only

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


admin.site.register([Event, StatusChange], RecordAdmin)


@admin.register(Camera)
class CameraAdmin(admin.ModelAdmin):
    """The city's CCTV registry: the consoles show the cameras nearest an incident."""

    list_display = ["name", "place", "lat", "lon", "active"]
    list_filter = ["active"]
    search_fields = ["name", "place"]
