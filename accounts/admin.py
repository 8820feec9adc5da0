from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import PushSubscription, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "role", "unit", "is_active"]
    list_filter = ["role", "is_active"]
    fieldsets = (*BaseUserAdmin.fieldsets, ("PSC 119", {"fields": ("role", "unit")}))  # type: ignore[misc]


class RecordAdmin(admin.ModelAdmin):
    """An append-only record (events, status history, reads of personal data): shown, never added, changed or
    deleted by hand; only retention deletes."""

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin):
    """The phones that ring by Web Push: seen, and removed for a lost phone; made only by the phones themselves."""

    list_display = ["user", "created_at", "sent_at"]
    list_select_related = ["user"]
    search_fields = ["user__username"]
    readonly_fields = ["user", "endpoint", "p256dh", "auth", "created_at", "sent_at"]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False
