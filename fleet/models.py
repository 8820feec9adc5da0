from django.db import models
from django.utils.translation import gettext_lazy as _

from geo.models import lat_lon_constraints


class Station(models.Model):
    """A post where units wait: the PSC base, a puskesmas, a hospital or a volunteer post."""

    name = models.CharField(max_length=200, unique=True)
    facility = models.ForeignKey("geo.Facility", null=True, blank=True, on_delete=models.SET_NULL)
    lat = models.FloatField()
    lon = models.FloatField()

    class Meta:
        constraints = lat_lon_constraints("station", nullable=False)
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UnitStatus(models.TextChoices):
    AVAILABLE = "available", _("Available")
    ASSIGNED = "assigned", _("Assigned")
    EN_ROUTE = "en_route", _("En route")
    ON_SCENE = "on_scene", _("On scene")
    TRANSPORTING = "transporting", _("Transporting patient")
    AT_HOSPITAL = "at_hospital", _("At hospital")
    RETURNING = "returning", _("Returning")
    OUT_OF_SERVICE = "out_of_service", _("Out of service")


# Statuses in which a unit may be given new work.
FREE_STATUSES = (UnitStatus.AVAILABLE, UnitStatus.RETURNING)
# What a crew or dispatcher may set by hand; the rest follow the unit's assignment.
MANUAL_STATUSES = (UnitStatus.AVAILABLE, UnitStatus.OUT_OF_SERVICE, UnitStatus.RETURNING)
MANUAL_TRANSITIONS: dict[str, frozenset[str]] = {
    UnitStatus.AVAILABLE: frozenset({UnitStatus.OUT_OF_SERVICE, UnitStatus.RETURNING}),
    UnitStatus.RETURNING: frozenset({UnitStatus.AVAILABLE, UnitStatus.OUT_OF_SERVICE}),
    UnitStatus.OUT_OF_SERVICE: frozenset({UnitStatus.AVAILABLE, UnitStatus.RETURNING}),
}


class Unit(models.Model):
    class Kind(models.TextChoices):
        ALS = "als", _("ALS (advanced life support)")
        BLS = "bls", _("BLS (basic life support)")
        TRANSPORT = "transport", _("Patient transport")

    class Owner(models.TextChoices):
        PSC = "psc", "PSC 119"
        PUSKESMAS = "puskesmas", _("Puskesmas")
        HOSPITAL = "hospital", _("Hospital")
        VOLUNTEER = "volunteer", _("Volunteer")

    call_sign = models.CharField(max_length=32, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    owner = models.CharField(max_length=16, choices=Owner.choices)
    status = models.CharField(max_length=16, choices=UnitStatus.choices, default=UnitStatus.AVAILABLE)
    status_reason = models.CharField(max_length=64, blank=True)
    status_at = models.DateTimeField(null=True, blank=True)
    station = models.ForeignKey(
        Station, null=True, blank=True, on_delete=models.SET_NULL, related_name="units"
    )
    capacity = models.PositiveSmallIntegerField(default=1, help_text="patients it can carry")
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    location_at = models.DateTimeField(null=True, blank=True)
    heading = models.FloatField(null=True, blank=True)
    speed = models.FloatField(null=True, blank=True)
    accuracy = models.FloatField(null=True, blank=True)
    moved_told_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="when consoles were last told of a move (unit.moved)"
    )

    class Meta:
        constraints = [
            *lat_lon_constraints("unit", nullable=True),
            models.CheckConstraint(
                condition=models.Q(status__in=UnitStatus.values), name="unit_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=["als", "bls", "transport"]), name="unit_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(owner__in=["psc", "puskesmas", "hospital", "volunteer"]),
                name="unit_owner_valid",
            ),
        ]
        ordering = ["call_sign"]

    def __str__(self) -> str:
        return self.call_sign

    @property
    def is_free(self) -> bool:
        return self.status in FREE_STATUSES

    def can_set_manually(self, status: str) -> bool:
        return status in MANUAL_TRANSITIONS.get(self.status, frozenset())


class UnitPosition(models.Model):
    """The track a unit reported, as the crew's phone recorded it (oldest first in each batch)."""

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="positions")
    lat = models.FloatField()
    lon = models.FloatField()
    at = models.DateTimeField()
    heading = models.FloatField(null=True, blank=True)
    speed = models.FloatField(null=True, blank=True)
    accuracy = models.FloatField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = lat_lon_constraints("unit_position", nullable=False)
        indexes = [models.Index(fields=["unit", "at"])]

    def __str__(self) -> str:
        return f"{self.unit_id} at {self.at:%H:%M:%S}"
