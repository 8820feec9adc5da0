from typing import Any

from django.contrib import admin

from calls.models import Incident


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["number", "status", "priority", "kecamatan", "received_at"]
    list_filter = ["status", "priority"]

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False
