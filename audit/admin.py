from django.contrib import admin

from accounts.admin import RecordAdmin
from audit.models import PersonalDataRead


@admin.register(PersonalDataRead)
class PersonalDataReadAdmin(RecordAdmin):
    """Who read personal data."""

    list_display = ["at", "username", "role", "channel", "what", "incident_ids", "path", "closed_at"]
    list_filter = ["channel", "what", "role"]
    search_fields = ["username"]
    date_hierarchy = "at"
