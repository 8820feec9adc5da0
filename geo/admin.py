from django.contrib import admin

from geo.models import Facility, PlaceAlias, Region, Street


class FacilityAliasInline(admin.TabularInline):
    model = PlaceAlias
    fk_name = "facility"
    fields = ["name"]
    extra = 1


class RegionAliasInline(FacilityAliasInline):
    fk_name = "region"


class StreetAliasInline(FacilityAliasInline):
    fk_name = "street"


@admin.register(Facility)
class FacilityAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "category", "ed_status"]
    list_filter = ["kind", "category", "ed_status"]
    search_fields = ["name", "aliases__name"]
    inlines = [FacilityAliasInline]


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "code", "parent"]
    list_filter = ["kind"]
    search_fields = ["name", "aliases__name"]
    inlines = [RegionAliasInline]


@admin.register(Street)
class StreetAdmin(admin.ModelAdmin):
    list_display = ["name", "source", "updated_at"]
    list_filter = ["source"]
    search_fields = ["name", "aliases__name"]
    readonly_fields = ["geometry"]
    inlines = [StreetAliasInline]


@admin.register(PlaceAlias)
class PlaceAliasAdmin(admin.ModelAdmin):
    list_display = ["name", "facility", "region", "street"]
    search_fields = ["name"]
    raw_id_fields = ["facility", "region", "street"]
