from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from geo.models import lat_lon_constraints


class Priority(models.IntegerChoices):
    RED = 1, _("Red (life-threatening)")
    YELLOW = 2, _("Yellow (urgent)")
    GREEN = 3, _("Green (not urgent)")


class IncidentStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for a unit")
    DISPATCHED = "dispatched", _("Unit assigned")
    ON_SCENE = "on_scene", _("Unit on scene")
    TRANSPORTING = "transporting", _("Transporting patient")
    CLOSED = "closed", _("Closed")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_STATUSES = (
    IncidentStatus.PENDING,
    IncidentStatus.DISPATCHED,
    IncidentStatus.ON_SCENE,
    IncidentStatus.TRANSPORTING,
)


class Incident(models.Model):
    class Geocoding(models.TextChoices):
        NOT_NEEDED = "not_needed", _("Not needed")
        PENDING = "pending", _("Searching")
        FOUND = "found", _("Found")
        NOT_FOUND = "not_found", _("Not found")

    number = models.CharField(max_length=32, unique=True, null=True, blank=True)
    status = models.CharField(max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.PENDING)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices)
    complaint = models.CharField(max_length=500)
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    address = models.CharField(max_length=500, blank=True)
    kecamatan = models.CharField(max_length=120, blank=True)
    kelurahan = models.CharField(max_length=120, blank=True)
    nearest_place = models.JSONField(null=True, blank=True, help_text='{"name", "kind", "distance_m"}')
    geocoding = models.CharField(max_length=16, choices=Geocoding.choices, default=Geocoding.NOT_NEEDED)
    outside_service_area = models.BooleanField(default=False)
    patient_count = models.PositiveSmallIntegerField(default=1)
    notes = models.TextField(blank=True)
    received_at = models.DateTimeField(help_text="when the first call came in")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            *lat_lon_constraints("incident", nullable=True),
            models.CheckConstraint(
                condition=models.Q(status__in=IncidentStatus.values), name="incident_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(priority__in=[1, 2, 3]), name="incident_priority_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(patient_count__gte=0, patient_count__lte=500),
                name="incident_patients_valid",
            ),
        ]
        indexes = [models.Index(fields=["status", "priority", "received_at"])]
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return self.number or f"incident {self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def has_place(self) -> bool:
        return self.lat is not None and self.lon is not None


class Call(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="calls")
    client_id = models.UUIDField(null=True, blank=True, unique=True)
    caller_phone = models.CharField(max_length=20, db_index=True, help_text="E.164")
    caller_name = models.CharField(max_length=120, blank=True)
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    address = models.CharField(max_length=500, blank=True)
    complaint = models.CharField(max_length=500)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices)
    patient_count = models.PositiveSmallIntegerField(default=1)
    notes = models.TextField(blank=True)
    received_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            *lat_lon_constraints("call", nullable=True),
            models.CheckConstraint(condition=models.Q(priority__in=[1, 2, 3]), name="call_priority_valid"),
        ]
        ordering = ["received_at", "id"]

    def __str__(self) -> str:
        return f"call {self.pk} for {self.incident}"
