from typing import Any

from django.contrib import admin

from audit.models import PersonalDataRead


@admin.register(PersonalDataRead)
class PersonalDataReadAdmin(admin.ModelAdmin):
    """The record of reads: shown, never added, changed or deleted by hand (retention deletes it)."""

    list_display = ["at", "username", "role", "channel", "what", "incident_ids", "path", "closed_at"]
    list_filter = ["channel", "what", "role"]
    search_fields = ["username"]
    date_hierarchy = "at"

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
