from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


def lat_lon_constraints(prefix: str, *, nullable: bool) -> list[models.BaseConstraint]:
    """WGS84 ranges for a model's `lat`/`lon` pair; a half-set pair is refused too."""
    lat, lon = "lat", "lon"
    in_range = models.Q(**{f"{lat}__gte": -90, f"{lat}__lte": 90, f"{lon}__gte": -180, f"{lon}__lte": 180})
    both_null = models.Q(**{f"{lat}__isnull": True, f"{lon}__isnull": True})
    return [
        models.CheckConstraint(
            condition=(in_range | both_null) if nullable else in_range, name=f"{prefix}_location_valid"
        )
    ]


class Region(models.Model):
    class Kind(models.TextChoices):
        KECAMATAN = "kecamatan", _("Kecamatan")
        KELURAHAN = "kelurahan", _("Kelurahan")
        SERVICE_AREA = "service_area", _("Service area")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=120)
    code = models.CharField(max_length=40, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    geometry = models.JSONField(help_text="GeoJSON Polygon or MultiPolygon, WGS84")
    population = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="region_kind_name_unique"),
            models.CheckConstraint(
                condition=models.Q(kind__in=["kecamatan", "kelurahan", "service_area"]),
                name="region_kind_valid",
            ),
        ]
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.name}"


class Facility(models.Model):
    """A place people name or ambulances go to: hospitals, puskesmas, posts, landmarks."""

    class Kind(models.TextChoices):
        HOSPITAL = "hospital", _("Hospital")
        PUSKESMAS = "puskesmas", _("Puskesmas")
        LANDMARK = "landmark", _("Landmark")

    class EdStatus(models.TextChoices):
        # A context of their own: "Closed" alone is an incident's (Selesai), an emergency department is Tutup.
        OPEN = "open", pgettext_lazy("emergency department", "Open")
        DIVERSION = "diversion", pgettext_lazy("emergency department", "On diversion")
        CLOSED = "closed", pgettext_lazy("emergency department", "Closed")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    category = models.CharField(max_length=32, blank=True, help_text="RSU, RSIA, RSK, ...")
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=300, blank=True)
    lat = models.FloatField()
    lon = models.FloatField()
    has_emergency_department = models.BooleanField(default=False)
    ed_status = models.CharField(max_length=16, choices=EdStatus.choices, default=EdStatus.OPEN)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "facilities"
        constraints = [
            *lat_lon_constraints("facility", nullable=False),
            models.UniqueConstraint(fields=["kind", "name"], name="facility_kind_name_unique"),
            models.CheckConstraint(
                condition=models.Q(ed_status__in=["open", "diversion", "closed"]),
                name="facility_ed_status_valid",
            ),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Street(models.Model):
    """A named street: every imported line of that name, merged; the gazetteer splits far-apart parts."""

    name = models.CharField(max_length=200, unique=True)
    geometry = models.JSONField(help_text="GeoJSON LineString or MultiLineString, WGS84")
    source = models.CharField(max_length=120, blank=True, help_text="the file it was imported from")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PlaceAlias(models.Model):
    """Another name callers use for a facility, landmark, region or street ("Matos", "RSSA", "Gereja Ijen")."""

    name = models.CharField(max_length=200)
    facility = models.ForeignKey(
        Facility, null=True, blank=True, on_delete=models.CASCADE, related_name="aliases"
    )
    region = models.ForeignKey(
        Region, null=True, blank=True, on_delete=models.CASCADE, related_name="aliases"
    )
    street = models.ForeignKey(
        Street, null=True, blank=True, on_delete=models.CASCADE, related_name="aliases"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "place aliases"
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(facility__isnull=False, region__isnull=True, street__isnull=True)
                    | models.Q(facility__isnull=True, region__isnull=False, street__isnull=True)
                    | models.Q(facility__isnull=True, region__isnull=True, street__isnull=False)
                ),
                name="place_alias_one_target",
            ),
            models.UniqueConstraint(
                fields=["facility", "name"],
                condition=models.Q(facility__isnull=False),
                name="alias_facility_unique",
            ),
            models.UniqueConstraint(
                fields=["region", "name"],
                condition=models.Q(region__isnull=False),
                name="alias_region_unique",
            ),
            models.UniqueConstraint(
                fields=["street", "name"],
                condition=models.Q(street__isnull=False),
                name="alias_street_unique",
            ),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
