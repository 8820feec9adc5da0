from django.contrib import admin

from fleet.models import Station, Unit


@admin.register(Station)
class StationAdmin(admin.ModelAdmin):
    list_display = ["name", "lat", "lon"]


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = ["call_sign", "kind", "owner", "status", "station"]
    list_filter = ["kind", "owner", "status"]
    readonly_fields = ["status", "status_reason", "status_at", "lat", "lon", "location_at"]
